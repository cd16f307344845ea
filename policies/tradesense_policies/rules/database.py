"""Database hygiene: pooled through RDS Proxy, bounded statements, slow queries logged, logs exported."""

from __future__ import annotations

from tradesense_policies import types as t
from tradesense_policies.model import as_list, as_number, get_path, is_unknown, refers_to, refers_to_any
from tradesense_policies.registry import FSBP, PCI, SOC2, Unknown, resource_rule, stack_rule
from tradesense_policies.rules.transit import parameters, require_postgres

MAX_STATEMENT_TIMEOUT_MS = 30_000
REQUIRED_LOG_EXPORTS = ("postgresql",)


@stack_rule(
    name="rds-reached-through-proxy",
    description="Every RDS instance is the target of an RDS Proxy (pooled, IAM/TLS-fronted connections).",
    resource_types=(t.RDS_INSTANCE,),
    severity="high",
    remediation="Put the instance behind the component's RDS Proxy (aws.rds.ProxyTarget with db_instance_identifier).",
    url="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.html",
    compliance=((SOC2, "A1.1"), (SOC2, "CC6.1"), (PCI, "7.2.1")),
    evidence=("identifier",),
)
def rds_reached_through_proxy(stack):
    targets = stack.of_type(t.RDS_PROXY_TARGET)
    for instance in stack.of_type(t.RDS_INSTANCE):
        ident = instance.props.get("identifier")
        if any(refers_to(target, "dbInstanceIdentifier", target.props.get("dbInstanceIdentifier"),
                         instance, "identifier", "id") for target in targets):
            continue
        if is_unknown(ident) or any(is_unknown(tg.props.get("dbInstanceIdentifier")) for tg in targets):
            raise Unknown(f"{instance.name}.identifier")
        yield instance.urn, f"instance {ident or instance.name} is the target of no RDS Proxy"


@stack_rule(
    name="rds-custom-parameter-group",
    description="Every RDS instance uses a parameter group of this stack (the default group has no force_ssl or timeouts).",
    resource_types=(t.RDS_INSTANCE,),
    severity="high",
    remediation="Set parameter_group_name to the component's aws.rds.ParameterGroup.",
    url="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_WorkingWithParamGroups.html",
    compliance=((PCI, "2.2.1"), (SOC2, "CC8.1")),
    evidence=("parameterGroupName",),
)
def rds_custom_parameter_group(stack):
    groups = stack.of_type(t.RDS_PARAMETER_GROUP)
    for instance in stack.of_type(t.RDS_INSTANCE):
        if not refers_to_any(instance, "parameterGroupName", groups, "name", "id"):
            name = instance.props.get("parameterGroupName")
            yield instance.urn, f"parameterGroupName = {name}: not a parameter group of this stack"


@resource_rule(
    name="rds-statement-timeout",
    description=f"PostgreSQL statement_timeout is set and at most {MAX_STATEMENT_TIMEOUT_MS // 1000} s.",
    resource_types=(t.RDS_PARAMETER_GROUP,),
    severity="medium",
    remediation="Set statement_timeout (milliseconds, tradesense:services.<svc>.database.statementTimeoutMs) "
                "between 1 and 30000 in the parameter group.",
    url="https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-STATEMENT-TIMEOUT",
    compliance=((SOC2, "A1.1"), (SOC2, "CC7.2")),
    evidence=("family", "parameters.name", "parameters.value"),
)
def rds_statement_timeout(props, resource):
    require_postgres(props)
    raw = parameters(props).get("statement_timeout")
    value = as_number(raw)
    if value is None or not 0 < value <= MAX_STATEMENT_TIMEOUT_MS:
        return f"statement_timeout = {raw}: must be between 1 and {MAX_STATEMENT_TIMEOUT_MS} ms"
    return None


@resource_rule(
    name="rds-slow-query-logging",
    description="PostgreSQL logs slow statements (log_min_duration_statement set, not -1).",
    resource_types=(t.RDS_PARAMETER_GROUP,),
    severity="medium",
    remediation="Set log_min_duration_statement (tradesense:services.<svc>.database.slowQueryMs) in the parameter group.",
    url="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_LogAccess.Concepts.PostgreSQL.html",
    compliance=((PCI, "10.2.1"), (SOC2, "CC7.2")),
    evidence=("family", "parameters.name", "parameters.value"),
)
def rds_slow_query_logging(props, resource):
    require_postgres(props)
    raw = parameters(props).get("log_min_duration_statement")
    value = as_number(raw)
    if value is None or value < 0:
        return f"log_min_duration_statement = {raw}: slow queries are not logged"
    return None


@resource_rule(
    name="rds-log-exports",
    description="RDS instances export their PostgreSQL logs to CloudWatch Logs.",
    resource_types=(t.RDS_INSTANCE,),
    severity="medium",
    remediation='Set enabled_cloudwatch_logs_exports=["postgresql", "upgrade"].',
    url="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_LogAccess.Procedural.UploadtoCloudWatch.html",
    compliance=((PCI, "10.2.1"), (SOC2, "CC7.2"), (FSBP, "RDS.9")),
    evidence=("enabledCloudwatchLogsExports",),
)
def rds_log_exports(props, resource):
    exported = [str(x) for x in as_list(get_path(props, "enabledCloudwatchLogsExports"))]
    missing = [log for log in REQUIRED_LOG_EXPORTS if log not in exported]
    return f"enabledCloudwatchLogsExports lacks {', '.join(missing)}" if missing else None
