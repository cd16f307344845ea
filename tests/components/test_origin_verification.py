"""OriginVerification: a generated value, kept secret everywhere it travels, readable by the gateway only."""

import json

import pytest

from components.origin_verification import ORIGIN_VERIFY_HEADER, OriginVerification, OriginVerificationArgs

try:  # scripts/ as one package per subsystem (main after the restructure), or the flat layout
    from scripts.documents.secrets import is_secret, unwrap_secrets
except ImportError:  # pragma: no cover
    from scripts.documents.secrets import is_secret, unwrap_secrets

KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def build(tags, **overrides):
    def program():
        OriginVerification(
            "origin-verify",
            OriginVerificationArgs(**{"stack": "test", "secrets_kms_key_arn": KEY, "tags": tags, **overrides}),
        )

    return program


def test_value_is_generated_and_stored_encrypted_under_the_secrets_key(run_pulumi, tags):
    cap = run_pulumi(build(tags))
    password = cap.one("random:index/randomPassword:RandomPassword").inputs
    assert password["length"] == 64 and password["special"] is False
    secret = cap.one("aws:secretsmanager/secret:Secret").inputs
    assert secret["name"] == "tradesense/test/gateway/origin-verify"
    assert secret["kmsKeyId"] == KEY and secret["tags"]["Service"] == "gateway"
    version = cap.one("aws:secretsmanager/secretVersion:SecretVersion").inputs
    assert is_secret(version["secretString"])
    stored = json.loads(unwrap_secrets(version["secretString"]))
    assert stored["header"] == ORIGIN_VERIFY_HEADER and len(stored["value"]) == 64


def test_the_prod_distribution_gets_the_stored_value_as_a_secret(prod_capture):
    distribution = prod_capture.one("aws:cloudfront/distribution:Distribution")
    (header,) = distribution.inputs["origins"][0]["customHeaders"]
    assert header["name"] == ORIGIN_VERIFY_HEADER and is_secret(header["value"])
    version = prod_capture.one("aws:secretsmanager/secretVersion:SecretVersion", "origin-verify-secret-value")
    assert json.loads(unwrap_secrets(version.inputs["secretString"]))["value"] == unwrap_secrets(header["value"])
    # The gateway, and only the gateway, may read it.
    secret_arn = prod_capture.one("aws:secretsmanager/secret:Secret", "origin-verify-secret").outputs["arn"]
    readers = [
        p.name for p in prod_capture.of_type("aws:iam/rolePolicy:RolePolicy") if secret_arn in json.dumps(p.inputs)
    ]
    assert readers and all(name.startswith("gateway-") for name in readers), readers
    assert prod_capture.outputs["edge"]["originVerifySecretArn"] == secret_arn


@pytest.mark.parametrize(
    "override, message",
    [
        ({"service": "Gateway!"}, "service = 'Gateway!'"),
        ({"rotation_keeper": " "}, "rotation_keeper"),
    ],
)
def test_bad_arguments_are_refused(tags, override, message):
    with pytest.raises(ValueError, match=message.replace("!", "\\!")):
        OriginVerificationArgs(**{"stack": "test", "secrets_kms_key_arn": KEY, "tags": tags, **override})
