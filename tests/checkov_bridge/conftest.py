"""checkov runs at most twice per session (it takes seconds): once on a small deliberately insecure
stack, once on prod. Tests share those results through session fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pulumi_aws as aws
import pytest

from components.tagging import base_tags
from scripts.checkov_bridge import scan as checkov_scan
from scripts.engine.offline import run_program
from scripts.engine.preview import preview_document, run_stack

REPO = Path(__file__).resolve().parents[2]


def _checkov_available() -> None:
    if not os.environ.get("CHECKOV_BIN") and not (REPO / ".venv-checkov" / "bin" / "checkov").exists():
        raise RuntimeError("tests/checkov_bridge need .venv-checkov (make .venv-checkov/.installed) or CHECKOV_BIN")


def insecure_program() -> None:
    """Three deliberate holes: an unencrypted database, a public bucket, a web ACL with no logging."""
    tags = base_tags(
        project="tradesense",
        stack="test",
        environment="production",
        owner="platform-engineering",
        data_classification="restricted",
        compliance=("pci",),
    )
    aws.rds.Instance(
        "open-db",
        engine="postgres",
        instance_class="db.t4g.micro",
        allocated_storage=20,
        username="app",
        manage_master_user_password=True,
        storage_encrypted=False,
        publicly_accessible=True,
        skip_final_snapshot=True,
        tags=tags,
    )
    bucket = aws.s3.Bucket("public-bucket", tags=tags)
    aws.s3.BucketPublicAccessBlock(
        "public-bucket-pab",
        bucket=bucket.id,
        block_public_acls=False,
        block_public_policy=False,
        ignore_public_acls=False,
        restrict_public_buckets=False,
    )
    aws.wafv2.WebAcl(
        "unlogged-acl",
        scope="REGIONAL",
        default_action={"allow": {}},
        visibility_config={"cloudwatch_metrics_enabled": True, "metric_name": "acl", "sampled_requests_enabled": True},
        tags=tags,
    )


@pytest.fixture(scope="session")
def insecure_preview() -> dict:
    capture = run_program(insecure_program, project="tradesense", stack="test", config={"aws:region": "us-east-1"})
    return preview_document(capture)


@pytest.fixture(scope="session")
def insecure_scan(insecure_preview) -> checkov_scan.ScanResult:
    _checkov_available()
    return checkov_scan.scan_document(insecure_preview)


@pytest.fixture(scope="session")
def prod_preview() -> dict:
    return preview_document(run_stack("prod"))


@pytest.fixture(scope="session")
def prod_scan(prod_preview, tmp_path_factory) -> checkov_scan.ScanResult:
    _checkov_available()
    path = tmp_path_factory.mktemp("prod") / "preview.json"
    import json

    path.write_text(json.dumps(prod_preview))
    return checkov_scan.scan(path, waivers=True)
