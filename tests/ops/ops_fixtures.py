"""A compliant TradeSense deployment built in the moto server, matching what the Pulumi program
creates (names may differ; tags, settings and relationships match the contract), and the small
local servers the ops tests need."""

from __future__ import annotations

import copy
import datetime as dt
import http.server
import socket
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from stacks.settings import Settings

ACCOUNT = "123456789012"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tags(settings: Settings, service: str, purpose: str | None = None) -> list[dict[str, str]]:
    values = {
        "Project": settings.project,
        "Stack": settings.stack,
        "Service": service,
        "Environment": settings.environment,
        "Owner": settings.owner,
        "DataClassification": settings.data_classification,
        # AWS tag values may not contain commas (S3 refuses them), so the frameworks are space-separated.
        "Compliance": " ".join(settings.compliance),
    }
    if purpose:
        values["Purpose"] = purpose
    return [{"Key": k, "Value": v} for k, v in values.items()]


def db_name(service: str) -> str:
    return service.replace("-", "_")


@dataclass
class Deployment:
    settings: Settings
    endpoint: str
    keys: dict[str, str] = field(default_factory=dict)
    instances: dict[str, str] = field(default_factory=dict)
    bucket: str = ""
    web_acl: dict[str, str] = field(default_factory=dict)

    def client(self, service: str, region: str | None = None) -> Any:
        return boto3.client(service, region_name=region or self.settings.region, endpoint_url=self.endpoint)


def build_deployment(settings: Settings, endpoint: str, db_overrides: dict[str, dict] | None = None) -> Deployment:
    """`db_overrides` maps a service to create_db_instance arguments that replace the compliant ones."""
    d = Deployment(settings=settings, endpoint=endpoint)
    region = settings.region
    ec2, rds, kms = d.client("ec2"), d.client("rds"), d.client("kms")

    for purpose in ("data", "backups", "secrets", "logs"):
        key = kms.create_key(
            Description=f"tradesense {purpose}",
            Tags=[{"TagKey": t["Key"], "TagValue": t["Value"]} for t in tags(settings, "platform", purpose)],
        )["KeyMetadata"]
        d.keys[purpose] = key["Arn"]
    if settings.dr_region:
        dr_key = d.client("kms", settings.dr_region).create_key(
            Description="tradesense backups (DR)",
            Tags=[{"TagKey": t["Key"], "TagValue": t["Value"]} for t in tags(settings, "platform", "backups-dr")],
        )["KeyMetadata"]
        d.keys["dr-backups"] = dr_key["Arn"]

    vpc = ec2.create_vpc(CidrBlock=settings.network.cidr)["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{i}.0/24", AvailabilityZone=f"{region}{'ab'[i]}")["Subnet"][
            "SubnetId"
        ]
        for i in range(2)
    ]
    cw = d.client("cloudwatch")
    sm = d.client("secretsmanager")
    for service in settings.database_services:
        svc, db = service.name, service.database
        group = f"tradesense-{settings.stack}-{svc}-pg16"
        rds.create_db_parameter_group(
            DBParameterGroupName=group,
            DBParameterGroupFamily="postgres16",
            Description=f"{svc}",
            Tags=tags(settings, svc),
        )
        rds.modify_db_parameter_group(
            DBParameterGroupName=group,
            Parameters=[
                {"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "pending-reboot"},
                {
                    "ParameterName": "statement_timeout",
                    "ParameterValue": str(db.statement_timeout_ms),
                    "ApplyMethod": "immediate",
                },
                {
                    "ParameterName": "log_min_duration_statement",
                    "ParameterValue": str(db.slow_query_ms),
                    "ApplyMethod": "immediate",
                },
            ],
        )
        ident = f"tradesense-{settings.stack}-{svc}"
        instance_args = dict(
            DBInstanceIdentifier=ident,
            DBInstanceClass=db.instance_class,
            Engine="postgres",
            EngineVersion=db.engine_version,
            AllocatedStorage=db.allocated_storage_gb,
            MaxAllocatedStorage=db.max_allocated_storage_gb,
            DBName=db_name(svc),
            MasterUsername="tradesense",
            ManageMasterUserPassword=True,
            MasterUserSecretKmsKeyId=d.keys["secrets"],
            StorageEncrypted=True,
            KmsKeyId=d.keys["data"],
            PubliclyAccessible=False,
            BackupRetentionPeriod=settings.backup_retention_days,
            DeletionProtection=True,
            DBParameterGroupName=group,
            CopyTagsToSnapshot=True,
            Tags=tags(settings, svc),
        )
        instance_args.update((db_overrides or {}).get(svc, {}))
        rds.create_db_instance(**{k: v for k, v in instance_args.items() if v is not None})
        d.instances[svc] = ident
        rds.create_db_proxy(
            DBProxyName=f"tradesense-{settings.stack}-{svc}",
            EngineFamily="POSTGRESQL",
            Auth=[
                {
                    "AuthScheme": "SECRETS",
                    "SecretArn": f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{svc}",
                    "IAMAuth": "REQUIRED",
                }
            ],
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/tradesense-{svc}-proxy",
            VpcSubnetIds=subnets,
            RequireTLS=True,
            Tags=tags(settings, svc),
        )
        cw.put_metric_alarm(
            AlarmName=f"tradesense-{settings.stack}-{svc}-cpu",
            MetricName="CPUUtilization",
            Namespace="AWS/RDS",
            Dimensions=[{"Name": "DBInstanceIdentifier", "Value": ident}],
            Statistic="Average",
            Period=300,
            EvaluationPeriods=2,
            Threshold=80,
            ComparisonOperator="GreaterThanThreshold",
            Tags=tags(settings, svc),
        )
        sm.create_secret(
            Name=f"tradesense/{settings.stack}/{svc}/app",
            SecretString="not-a-real-secret",
            KmsKeyId=d.keys["secrets"],
            Tags=tags(settings, svc),
        )

    d.client("elasticache").create_replication_group(
        ReplicationGroupId=f"tradesense-{settings.stack}-cache",
        ReplicationGroupDescription="shared cache",
        Engine="redis",
        CacheNodeType=settings.redis.node_type,
        NumNodeGroups=1,
        ReplicasPerNodeGroup=settings.redis.replicas_per_shard,
        AtRestEncryptionEnabled=True,
        TransitEncryptionEnabled=True,
        KmsKeyId=d.keys["data"],
        UserGroupIds=[f"tradesense-{settings.stack}-users"],
        Tags=tags(settings, "platform", "cache"),
    )

    s3 = d.client("s3")
    d.bucket = f"tradesense-{settings.stack}-db-backups-{ACCOUNT}"
    s3.create_bucket(Bucket=d.bucket, ObjectLockEnabledForBucket=True)
    s3.put_bucket_tagging(Bucket=d.bucket, Tagging={"TagSet": tags(settings, "platform", "database-backups")})
    s3.put_bucket_encryption(
        Bucket=d.bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": d.keys["backups"],
                    },
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    s3.put_public_access_block(
        Bucket=d.bucket,
        PublicAccessBlockConfiguration={
            f: True for f in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
        },
    )
    s3.put_bucket_versioning(Bucket=d.bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(
        Bucket=d.bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": settings.backup_retention_days}},
        },
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=d.bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "expire-old-dumps",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
                    "Expiration": {"Days": 400},
                }
            ]
        },
    )
    audit = f"tradesense-{settings.stack}-audit-{ACCOUNT}"
    s3.create_bucket(Bucket=audit)
    s3.put_bucket_tagging(Bucket=audit, Tagging={"TagSet": tags(settings, "platform", "audit-logs")})

    waf = d.client("wafv2", "us-east-1")

    def visibility(metric: str) -> dict:
        return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": metric}

    edge = settings.edge

    def starts_with(path: str) -> dict:
        # As components/edge.py declares them (build/prod/preview.json): lower-cased before matching.
        return {
            "ByteMatchStatement": {
                "SearchString": path.encode(),
                "FieldToMatch": {"UriPath": {}},
                "TextTransformations": [{"Priority": 0, "Type": "LOWERCASE"}],
                "PositionalConstraint": "STARTS_WITH",
            }
        }

    login_matches = [starts_with(path) for path in edge.login_paths]
    block_429 = {"Block": {"CustomResponse": {"ResponseCode": 429}}}
    rules = [
        {
            "Name": "login-rate-limit",
            "Priority": 0,
            "Action": block_429,
            "VisibilityConfig": visibility("login"),
            "Statement": {
                "RateBasedStatement": {
                    "Limit": edge.login_rate_limit.limit,
                    "EvaluationWindowSec": edge.login_rate_limit.window_seconds,
                    "AggregateKeyType": "IP",
                    "ScopeDownStatement": {"OrStatement": {"Statements": login_matches}}
                    if len(login_matches) > 1
                    else login_matches[0],
                }
            },
        },
        {
            "Name": "api-rate-limit",
            "Priority": 1,
            "Action": block_429,
            "VisibilityConfig": visibility("api"),
            "Statement": {
                "RateBasedStatement": {
                    "Limit": edge.api_rate_limit.limit,
                    "EvaluationWindowSec": edge.api_rate_limit.window_seconds,
                    "AggregateKeyType": "IP",
                    "ScopeDownStatement": starts_with("/api/"),
                }
            },
        },
    ]
    for i, group in enumerate(
        ("AWSManagedRulesSQLiRuleSet", "AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")
    ):
        rules.append(
            {
                "Name": group,
                "Priority": 10 + i,
                "OverrideAction": {"None": {}},
                "VisibilityConfig": visibility(group),
                "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": group}},
            }
        )
    acl = waf.create_web_acl(
        Name=f"tradesense-{settings.stack}-edge",
        Scope="CLOUDFRONT",
        DefaultAction={"Allow": {}},
        VisibilityConfig=visibility("edge"),
        Rules=rules,
        Tags=tags(settings, "gateway", "edge-firewall"),
    )["Summary"]
    d.web_acl = {"Name": acl["Name"], "Id": acl["Id"], "ARN": acl["ARN"]}
    log_group = f"aws-waf-logs-tradesense-{settings.stack}"
    d.client("logs", "us-east-1").create_log_group(logGroupName=log_group, kmsKeyId=d.keys["logs"])
    waf.put_logging_configuration(
        LoggingConfiguration={
            "ResourceArn": acl["ARN"],
            "LogDestinationConfigs": [f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{log_group}"],
            "RedactedFields": [{"SingleHeader": {"Name": "authorization"}}, {"SingleHeader": {"Name": "cookie"}}],
        }
    )

    ct = d.client("cloudtrail")
    ct.create_trail(
        Name=f"tradesense-{settings.stack}",
        S3BucketName=audit,
        IsMultiRegionTrail=True,
        EnableLogFileValidation=True,
        KmsKeyId=d.keys["logs"],
        TagsList=tags(settings, "platform", "audit"),
    )
    ct.start_logging(Name=f"tradesense-{settings.stack}")
    return d


def _put_rules(d: Deployment, rules: list[dict], visibility: dict) -> None:
    """UpdateWebACL with these rules (moto echoes blobs back as text; they go back as bytes)."""
    waf = d.client("wafv2", "us-east-1")
    token = waf.get_web_acl(Name=d.web_acl["Name"], Scope="CLOUDFRONT", Id=d.web_acl["Id"])["LockToken"]
    for rule in rules:
        _fix_blobs(rule)
    waf.update_web_acl(
        Name=d.web_acl["Name"],
        Scope="CLOUDFRONT",
        Id=d.web_acl["Id"],
        DefaultAction={"Allow": {}},
        Rules=rules,
        VisibilityConfig=visibility,
        LockToken=token,
    )


def _live_acl(d: Deployment) -> dict:
    waf = d.client("wafv2", "us-east-1")
    return copy.deepcopy(waf.get_web_acl(Name=d.web_acl["Name"], Scope="CLOUDFRONT", Id=d.web_acl["Id"])["WebACL"])


def remove_waf_rule(d: Deployment, rule_name: str) -> None:
    acl = _live_acl(d)
    _put_rules(d, [r for r in acl["Rules"] if r["Name"] != rule_name], acl["VisibilityConfig"])


def restore_web_acl(d: Deployment, saved: dict) -> None:
    _put_rules(d, copy.deepcopy(saved["Rules"]), saved["VisibilityConfig"])


def edit_web_acl_rules(d: Deployment, change: Callable[[list[dict]], list[dict]]) -> Callable[[], None]:
    """Replace the live ACL's rules with `change(rules)`, as a console edit would; returns the undo."""
    saved = _live_acl(d)
    rules = copy.deepcopy(saved["Rules"])
    for rule in rules:
        _fix_blobs(rule)
    _put_rules(d, change(rules), saved["VisibilityConfig"])
    return lambda: restore_web_acl(d, saved)


def _fix_blobs(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "SearchString" and isinstance(value, str):
                node[key] = value[2:-1].encode() if value.startswith("b'") else value.encode()
            else:
                _fix_blobs(value)
    elif isinstance(node, list):
        for item in node:
            _fix_blobs(item)


class _QuietHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass


def serve(handler_cls: type, *, threaded: bool = True) -> tuple[http.server.HTTPServer, str]:
    """Start an HTTP server on a free 127.0.0.1 port in a daemon thread; returns it and its URL."""
    server_cls = http.server.ThreadingHTTPServer if threaded else http.server.HTTPServer
    server = server_cls(("127.0.0.1", 0), handler_cls)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def faulty_proxy(
    upstream: str, should_fail: Callable[[str, str, dict], int | None]
) -> tuple[http.server.HTTPServer, str, list]:
    """A proxy to the moto server that answers some calls with an error status instead.

    `should_fail(method, path, headers)` returns a status (500, 503) to fail that call, or None.
    Every call is recorded as (method, target, status) so tests can prove what was and was not done.
    """
    calls: list = []

    class Handler(_QuietHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            target = self.headers.get("X-Amz-Target", "")
            if not target and body[:7] == b"Action=":
                target = body.split(b"&", 1)[0][7:].decode()
            status = should_fail(self.command, self.path, {"target": target, "body": body})
            calls.append((self.command, target or self.path, status or "forwarded"))
            if status:
                payload = b'<?xml version="1.0"?><ErrorResponse><Error><Code>ServiceUnavailable</Code><Message>injected</Message></Error></ErrorResponse>'
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            request = urllib.request.Request(
                upstream + self.path, data=body if self.command not in ("GET", "HEAD") else None, method=self.command
            )
            for name, value in self.headers.items():
                if name.lower() not in ("host", "content-length", "connection"):
                    request.add_header(name, value)
            try:
                response = urllib.request.urlopen(request, timeout=30)
                code, headers, data = response.status, response.getheaders(), response.read()
            except urllib.error.HTTPError as exc:
                code, headers, data = exc.code, exc.headers.items(), exc.read()
            self.send_response(code)
            for name, value in headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    server, url = serve(Handler)
    return server, url, calls


# -- PostgreSQL: the connection arguments, a clock for restore targets, seeded source databases --
SEED = """
CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL, balance numeric(18,4), opened timestamptz,
                       prefs jsonb, avatar bytea, score float8);
INSERT INTO accounts
SELECT g, 'user' || g || '@example.com', g * 1.2345, timestamptz '2026-01-01 00:00+00' + g * interval '1 minute',
       jsonb_build_object('n', g, 'tags', jsonb_build_array('a', 'ü')), decode(md5(g::text), 'hex'),
       CASE WHEN g % 7 = 0 THEN NULL ELSE g / 3.0 END
FROM generate_series(1, 1500) g;
CREATE SCHEMA ledger;
CREATE TABLE ledger.entries (id bigserial PRIMARY KEY, account int REFERENCES accounts, memo text);
INSERT INTO ledger.entries (account, memo) SELECT (g % 1500) + 1, E'line\\nwith ''quotes'' and \\t tab ' || g FROM generate_series(1, 3000) g;
"""
SOURCE_DBS = {
    "auth": "auth",
    "trading": "trading",
    "analytics": "analytics",
    "billing": "billing",
    "market-data": "market_data",
}


def pg_args(pg) -> list[str]:
    return [
        "--db-host",
        pg.host,
        "--db-port",
        str(pg.port),
        "--db-user",
        pg.user,
        "--sslmode",
        "disable",
        "--poll-interval",
        "0.01",
    ]


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed(pg, name: str) -> None:
    """(Re)create a source database as a copy of the seeded template (seeding once is the slow part)."""
    if pg.sql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'seed_template'") == "0":
        pg.sql("postgres", "CREATE DATABASE seed_template")
        pg.sql("seed_template", SEED)
    pg.sql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    pg.sql("postgres", f"CREATE DATABASE {name} TEMPLATE seed_template")
