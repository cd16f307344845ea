"""The converter: every pulumi-aws type prod uses maps to its Terraform type, names and references."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pytest

from scripts.checkov_bridge import tfplan
from scripts.documents.secrets import SECRET_SIG, SECRET_VALUE
from scripts.engine.offline import run_program
from scripts.engine.preview import preview_document

# pulumi type -> (Terraform type, an attribute path its converted values must have in prod)
PROD_TYPES = {
    "aws:kms/key:Key": ("aws_kms_key", "enable_key_rotation"),
    "aws:kms/alias:Alias": ("aws_kms_alias", "target_key_id"),
    "aws:ec2/vpc:Vpc": ("aws_vpc", "cidr_block"),
    "aws:ec2/subnet:Subnet": ("aws_subnet", "vpc_id"),
    "aws:ec2/routeTable:RouteTable": ("aws_route_table", "vpc_id"),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ("aws_route_table_association", "route_table_id"),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": ("aws_default_security_group", "vpc_id"),
    "aws:ec2/securityGroup:SecurityGroup": ("aws_security_group", "vpc_id"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": (
        "aws_vpc_security_group_ingress_rule",
        "security_group_id",
    ),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": (
        "aws_vpc_security_group_egress_rule",
        "security_group_id",
    ),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("aws_vpc_endpoint", "service_name"),
    "aws:ec2/flowLog:FlowLog": ("aws_flow_log", "traffic_type"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("aws_launch_template", "image_id"),
    "aws:iam/instanceProfile:InstanceProfile": ("aws_iam_instance_profile", "role"),
    "aws:cloudwatch/logGroup:LogGroup": ("aws_cloudwatch_log_group", "retention_in_days"),
    "aws:iam/role:Role": ("aws_iam_role", "assume_role_policy"),
    "aws:iam/rolePolicy:RolePolicy": ("aws_iam_role_policy", "policy"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ("aws_iam_role_policy_attachment", "policy_arn"),
    "aws:rds/subnetGroup:SubnetGroup": ("aws_db_subnet_group", "subnet_ids"),
    "aws:rds/parameterGroup:ParameterGroup": ("aws_db_parameter_group", "parameter.0.name"),
    "aws:rds/instance:Instance": ("aws_db_instance", "storage_encrypted"),
    "aws:rds/proxy:Proxy": ("aws_db_proxy", "auth.0.iam_auth"),
    "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup": (
        "aws_db_proxy_default_target_group",
        "connection_pool_config.0.max_connections_percent",
    ),
    "aws:rds/proxyTarget:ProxyTarget": ("aws_db_proxy_target", "db_proxy_name"),
    "aws:elasticache/subnetGroup:SubnetGroup": ("aws_elasticache_subnet_group", "subnet_ids"),
    "aws:elasticache/user:User": ("aws_elasticache_user", "user_id"),
    "aws:elasticache/userGroup:UserGroup": ("aws_elasticache_user_group", "user_group_id"),
    "aws:elasticache/replicationGroup:ReplicationGroup": (
        "aws_elasticache_replication_group",
        "log_delivery_configuration.0.destination",
    ),
    "aws:secretsmanager/secret:Secret": ("aws_secretsmanager_secret", "kms_key_id"),
    "aws:secretsmanager/secretVersion:SecretVersion": ("aws_secretsmanager_secret_version", "secret_id"),
    "aws:s3/bucket:Bucket": ("aws_s3_bucket", "bucket_prefix"),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": (
        "aws_s3_bucket_ownership_controls",
        "rule.0.object_ownership",
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": (
        "aws_s3_bucket_public_access_block",
        "block_public_acls",
    ),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "aws_s3_bucket_server_side_encryption_configuration",
        "rule.0.apply_server_side_encryption_by_default.0.sse_algorithm",
    ),
    "aws:s3/bucketVersioning:BucketVersioning": ("aws_s3_bucket_versioning", "versioning_configuration.0.status"),
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": (
        "aws_s3_bucket_object_lock_configuration",
        "rule.0.default_retention.0.mode",
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": (
        "aws_s3_bucket_lifecycle_configuration",
        "rule.0.expiration.0.days",
    ),
    "aws:s3/bucketLogging:BucketLogging": ("aws_s3_bucket_logging", "target_bucket"),
    "aws:s3/bucketPolicy:BucketPolicy": ("aws_s3_bucket_policy", "policy"),
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig": (
        "aws_s3_bucket_replication_configuration",
        "rule.0.destination.0.encryption_configuration.0.replica_kms_key_id",
    ),
    "aws:backup/vault:Vault": ("aws_backup_vault", "kms_key_arn"),
    "aws:backup/vaultLockConfiguration:VaultLockConfiguration": (
        "aws_backup_vault_lock_configuration",
        "min_retention_days",
    ),
    "aws:backup/vaultPolicy:VaultPolicy": ("aws_backup_vault_policy", "policy"),
    "aws:backup/plan:Plan": ("aws_backup_plan", "rule.0.copy_action.0.destination_vault_arn"),
    "aws:backup/selection:Selection": ("aws_backup_selection", "resources"),
    "aws:cloudtrail/trail:Trail": ("aws_cloudtrail", "event_selector.0.data_resource.0.type"),
    "aws:cloudwatch/logMetricFilter:LogMetricFilter": (
        "aws_cloudwatch_log_metric_filter",
        "metric_transformation.0.name",
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("aws_cloudwatch_metric_alarm", "alarm_name"),
    "aws:cloudwatch/dashboard:Dashboard": ("aws_cloudwatch_dashboard", "dashboard_body"),
    "aws:sns/topic:Topic": ("aws_sns_topic", "kms_master_key_id"),
    "aws:sns/topicSubscription:TopicSubscription": ("aws_sns_topic_subscription", "protocol"),
    "aws:sns/topicPolicy:TopicPolicy": ("aws_sns_topic_policy", "policy"),
    "aws:budgets/budget:Budget": ("aws_budgets_budget", "notification.0.threshold"),
    "aws:wafv2/webAcl:WebAcl": ("aws_wafv2_web_acl", "rule.0.statement.0.rate_based_statement.0.limit"),
    "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration": (
        "aws_wafv2_web_acl_logging_configuration",
        "log_destination_configs",
    ),
    "aws:cloudfront/distribution:Distribution": (
        "aws_cloudfront_distribution",
        "origin.0.custom_origin_config.0.origin_protocol_policy",
    ),
    "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy": (
        "aws_cloudfront_response_headers_policy",
        "security_headers_config.0.strict_transport_security.0.access_control_max_age_sec",
    ),
    "aws:acm/certificate:Certificate": ("aws_acm_certificate", "validation_method"),
    "aws:acm/certificateValidation:CertificateValidation": ("aws_acm_certificate_validation", "certificate_arn"),
    "aws:route53/record:Record": ("aws_route53_record", "alias.0.name"),
    "aws:ssm/parameter:Parameter": ("aws_ssm_parameter", "type"),
}


def _get(values, path):
    for part in path.split("."):
        values = values[int(part)] if isinstance(values, list) else values[part]
    return values


@pytest.fixture(scope="module")
def prod_conversion(prod_preview):
    return tfplan.convert(prod_preview)


def test_prod_uses_only_mapped_types(prod_conversion, prod_preview):
    assert prod_conversion.unknown == []
    used = {s["newState"]["type"] for s in prod_preview["steps"]}
    aws_used = {t for t in used if t.startswith("aws:")}
    assert aws_used <= set(PROD_TYPES), f"prod uses types this test does not cover: {aws_used - set(PROD_TYPES)}"
    assert {e["type"] for e in prod_conversion.not_applicable} == {
        "random:index/randomPassword:RandomPassword",
        "random:index/randomBytes:RandomBytes",
    }


@pytest.mark.parametrize("pulumi_type", sorted(PROD_TYPES))
def test_type_converts(prod_conversion, pulumi_type):
    tf_type, path = PROD_TYPES[pulumi_type]
    assert tfplan.TERRAFORM_TYPES[pulumi_type] == tf_type
    converted = [
        r
        for r in prod_conversion.resources
        if prod_conversion.urn_to_type[prod_conversion.address_to_urn[r["address"]]] == pulumi_type
    ]
    if pulumi_type == "aws:route53/record:Record":
        converted = [r for r in converted if "alias" in r["values"]]
    assert converted, f"prod has no {pulumi_type}"
    assert all(r["type"] == tf_type for r in converted)
    assert any(_get(r["values"], path) not in (None, "", []) for r in converted), (pulumi_type, path)


def test_names_are_snake_case_and_blocks_singular(prod_conversion):
    for r in prod_conversion.resources:
        text = json.dumps({k: v for k, v in r["values"].items() if k != "tags"})
        keys = set(__import__("re").findall(r'"([A-Za-z_0-9]+)":', text))
        camel = {k for k in keys if k != k.lower() and not k[0].isupper()}
        assert not camel, f"{r['address']} still has camelCase keys {camel}"
    acl = next(r for r in prod_conversion.resources if r["type"] == "aws_wafv2_web_acl")
    assert "rule" in acl["values"] and "rules" not in acl["values"]


def test_references_join_bucket_and_its_configuration(prod_conversion):
    plan = prod_conversion.plan
    sse = next(
        r
        for r in plan["configuration"]["root_module"]["resources"]
        if r["type"] == "aws_s3_bucket_server_side_encryption_configuration"
    )
    bucket_ref = sse["expressions"]["bucket"]["references"]
    assert bucket_ref[0].startswith("aws_s3_bucket.") and bucket_ref[0].endswith(".id")
    values = next(r for r in prod_conversion.resources if r["address"] == sse["address"])["values"]
    assert values["bucket"] == bucket_ref[0]  # unknown at plan time in Terraform: the reference stands in
    kms = values["rule"][0]["apply_server_side_encryption_by_default"][0].get("kms_master_key_id", "")
    assert kms.startswith("aws_kms_key.") or kms == "", kms


def _capture(program):
    return preview_document(
        run_program(program, project="tradesense", stack="test", config={"aws:region": "us-east-1"})
    )


def test_unknown_type_is_listed_not_dropped():
    doc = _capture(lambda: aws.sqs.Queue("q"))
    conversion = tfplan.convert(doc)
    assert [e["type"] for e in conversion.unknown] == ["aws:sqs/queue:Queue"]
    assert conversion.resources == []


def test_real_preview_unknowns_become_references():
    def program():
        key = aws.kms.Key("k")
        aws.rds.Instance(
            "db",
            engine="postgres",
            instance_class="db.t4g.micro",
            allocated_storage=20,
            storage_encrypted=True,
            kms_key_id=key.arn,
        )

    doc = _capture(program)
    for step in doc["steps"]:  # what a real `pulumi preview --json` prints for values known only at deploy
        state = step["newState"]
        if state["type"] == "aws:rds/instance:Instance":
            state["inputs"]["kmsKeyId"] = tfplan.UNKNOWN
        state["outputs"] = {}
    db = next(r for r in tfplan.convert(doc).resources if r["type"] == "aws_db_instance")
    assert db["values"]["kms_key_id"] == "aws_kms_key.k.id"
    assert db["values"]["storage_encrypted"] is True


def test_stack_export_and_secrets():
    doc = _capture(
        lambda: aws.rds.Instance(
            "db",
            engine="postgres",
            instance_class="db.t4g.micro",
            allocated_storage=20,
            password=pulumi.Output.secret("hunter2"),
            username="app",
        )
    )
    export = {
        "version": 3,
        "deployment": {
            "resources": [
                {
                    **s["newState"],
                    "inputs": {
                        **s["newState"]["inputs"],
                        **(
                            {"password": {SECRET_SIG: SECRET_VALUE, "ciphertext": "xx"}}
                            if s["newState"]["type"] == "aws:rds/instance:Instance"
                            else {}
                        ),
                    },
                }
                for s in doc["steps"]
            ]
        },
    }
    db = next(r for r in tfplan.convert(export).resources if r["type"] == "aws_db_instance")
    assert db["values"]["password"] == "[secret]"
    assert db["values"]["allocated_storage"] == 20 and isinstance(db["values"]["allocated_storage"], int)
    assert "hunter2" not in json.dumps(tfplan.convert(doc).plan)


def test_cli_writes_plan(tmp_path, insecure_preview):
    src = tmp_path / "preview.json"
    src.write_text(json.dumps(insecure_preview))
    assert tfplan.main([str(src), "--out", str(tmp_path / "plan.json")]) == 0
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert {r["type"] for r in plan["planned_values"]["root_module"]["resources"]} == {
        "aws_db_instance",
        "aws_s3_bucket",
        "aws_s3_bucket_public_access_block",
        "aws_wafv2_web_acl",
    }


@pytest.mark.parametrize("content, message", [(None, "no such file"), ("{not json", "not JSON")])
def test_unusable_input_is_one_line_and_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "in.json"
    if content is not None:
        path.write_text(content)
    assert tfplan.main([str(path), "--out", str(tmp_path / "plan.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tfplan: {path}: {message}") and err.count("\n") == 1
    assert not (tmp_path / "plan.json").exists()
