"""Database hygiene: pooled through RDS Proxy, bounded statements, slow queries logged, logs exported."""

from __future__ import annotations

from collections.abc import Iterator

from tradesense_policies import types as t
from tradesense_policies.floors import FLOORS
from tradesense_policies.model import (
    Props,
    Resource,
    Stack,
    as_bool,
    as_list,
    as_number,
    get_path,
    is_unknown,
    refers_to,
    refers_to_any,
)
from tradesense_policies.registry import FSBP, GDPR, PCI, SOC2, Finding, Unknown, Violations, resource_rule, stack_rule
from tradesense_policies.rules.transit import parameters, require_postgres

# The pack's ceiling as shipped (a stack's policy config may only lower it): for the docs' wording.
MAX_STATEMENT_TIMEOUT_MS = FLOORS["maxStatementTimeoutMs"].default
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
def rds_reached_through_proxy(stack: Stack) -> Iterator[Finding]:
    proxies = stack.of_type(t.RDS_PROXY)
    # A target counts only if the proxy it names is a proxy of this stack.
    targets = [
        tg for tg in stack.of_type(t.RDS_PROXY_TARGET) if refers_to_any(tg, "dbProxyName", proxies, "name", "id")
    ]
    for instance in stack.of_type(t.RDS_INSTANCE):
        ident = instance.props.get("identifier")
        if any(
            refers_to(
                target, "dbInstanceIdentifier", target.props.get("dbInstanceIdentifier"), instance, "identifier", "id"
            )
            for target in targets
        ):
            continue
        if is_unknown(ident) or any(is_unknown(tg.props.get("dbInstanceIdentifier")) for tg in targets):
            raise Unknown(f"{instance.name}.identifier")
        yield instance.urn, f"instance {ident or instance.name} is the target of no RDS Proxy of this stack"


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
def rds_custom_parameter_group(stack: Stack) -> Iterator[Finding]:
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
    f"between 1 and {MAX_STATEMENT_TIMEOUT_MS} in the parameter group.",
    url="https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-STATEMENT-TIMEOUT",
    compliance=((SOC2, "A1.1"), (SOC2, "CC7.2")),
    evidence=("family", "parameters.name", "parameters.value"),
    config=("maxStatementTimeoutMs",),
)
def rds_statement_timeout(props: Props, resource: Resource) -> Violations:
    require_postgres(props)
    ceiling = resource.setting("maxStatementTimeoutMs")
    raw = parameters(props).get("statement_timeout")
    value = as_number(raw)
    if value is None or not 0 < value <= ceiling:
        return f"statement_timeout = {raw}: must be between 1 and {ceiling:g} ms (pack config)"
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
def rds_slow_query_logging(props: Props, resource: Resource) -> Violations:
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
def rds_log_exports(props: Props, resource: Resource) -> Violations:
    exported = [str(x) for x in as_list(get_path(props, "enabledCloudwatchLogsExports"))]
    missing = [log for log in REQUIRED_LOG_EXPORTS if log not in exported]
    return f"enabledCloudwatchLogsExports lacks {', '.join(missing)}" if missing else None


@resource_rule(
    name="rds-multi-az",
    description="Every RDS instance is Multi-AZ (a standby in another zone takes over on failure).",
    resource_types=(t.RDS_INSTANCE,),
    severity="high",
    remediation="Set multi_az=True (the provider's default is single-AZ).",
    url="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Concepts.MultiAZSingleStandby.html",
    compliance=((SOC2, "A1.2"), (GDPR, "Art. 32(1)(b)"), (FSBP, "RDS.5")),
    evidence=("multiAz",),
)
def rds_multi_az(props: Props, resource: Resource) -> Violations:
    return None if as_bool(get_path(props, "multiAz")) else f"multiAz = {get_path(props, 'multiAz')}: single-AZ"


@resource_rule(
    name="rds-keep-automated-backups",
    description="Deleting an RDS instance keeps its automated backups (delete_automated_backups is false).",
    resource_types=(t.RDS_INSTANCE,),
    severity="high",
    remediation="Set delete_automated_backups=False: the provider's default (true) removes every automated backup "
    "with the instance, so one mistaken delete also deletes the point-in-time history.",
    url="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_WorkingWithAutomatedBackups.Retaining.html",
    compliance=((SOC2, "A1.2"), (GDPR, "Art. 32(1)(c)"), (PCI, "12.10.1")),
    evidence=("deleteAutomatedBackups",),
)
def rds_keep_automated_backups(props: Props, resource: Resource) -> Violations:
    value = get_path(props, "deleteAutomatedBackups")
    if value is False or str(value).lower() == "false":
        return None
    return f"deleteAutomatedBackups = {value}: automated backups are deleted with the instance (default true)"


@resource_rule(
    name="rds-proxy-iam-auth",
    description="Every login an RDS Proxy accepts requires IAM authentication (iamAuth REQUIRED).",
    resource_types=(t.RDS_PROXY,),
    severity="high",
    remediation="Set auths[].iam_auth = REQUIRED on every auth entry of the proxy.",
    url="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-iam-setup.html",
    compliance=((PCI, "8.3.1"), (PCI, "7.2.1"), (SOC2, "CC6.1")),
    evidence=("auths.iamAuth", "auths.authScheme"),
)
def rds_proxy_iam_auth(props: Props, resource: Resource) -> Violations:
    auths = get_path(props, "auths") or []
    if not auths:
        return "no auths: the proxy has no login to judge"
    modes = [get_path(props, f"auths.{i}.iamAuth") for i, _ in enumerate(auths)]
    weak = [f"auths[{i}].iamAuth = {m}" for i, m in enumerate(modes) if str(m).upper() != "REQUIRED"]
    return weak


@resource_rule(
    name="rds-proxy-debug-logging-off",
    description="RDS Proxy debug logging is off (it writes the SQL text of every statement to CloudWatch).",
    resource_types=(t.RDS_PROXY,),
    severity="high",
    remediation="Set debug_logging=False (turn it on only briefly, with a waiver, while troubleshooting).",
    url="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.troubleshooting.html",
    compliance=((PCI, "3.3.1"), (GDPR, "Art. 32(1)(a)"), (SOC2, "C1.1")),
    evidence=("debugLogging",),
)
def rds_proxy_debug_logging_off(props: Props, resource: Resource) -> Violations:
    return (
        "debugLogging is true: statements and their literals reach the logs"
        if as_bool(get_path(props, "debugLogging"))
        else None
    )


@resource_rule(
    name="rds-password-encryption-scram",
    description="PostgreSQL stores passwords as SCRAM-SHA-256 (password_encryption scram-sha-256, not md5).",
    resource_types=(t.RDS_PARAMETER_GROUP,),
    severity="high",
    remediation="Set the parameter password_encryption = scram-sha-256 in the instance's parameter group.",
    url="https://www.postgresql.org/docs/current/runtime-config-connection.html#GUC-PASSWORD-ENCRYPTION",
    compliance=((PCI, "8.3.2"), (SOC2, "CC6.1"), (GDPR, "Art. 32(1)(a)")),
    evidence=("family", "parameters.name", "parameters.value"),
)
def rds_password_encryption_scram(props: Props, resource: Resource) -> Violations:
    require_postgres(props)
    value = parameters(props).get("password_encryption")
    return None if str(value).lower() == "scram-sha-256" else f"password_encryption = {value}: must be scram-sha-256"


@resource_rule(
    name="rds-log-statement-no-secrets",
    description="PostgreSQL statement logging cannot write secrets: log_statement is none (ddl logs ALTER ROLE ... "
    "PASSWORD, mod and all also log the data written).",
    resource_types=(t.RDS_PARAMETER_GROUP,),
    severity="high",
    remediation="Leave log_statement unset or none; slow statements are logged by log_min_duration_statement, and "
    "audit trails belong to pgaudit with its password redaction.",
    # log_statement levels: https://www.postgresql.org/docs/current/runtime-config-logging.html#GUC-LOG-STATEMENT ;
    # a password given to ALTER ROLE "might also be logged in ... the server log":
    # https://www.postgresql.org/docs/current/sql-alterrole.html
    url="https://www.postgresql.org/docs/current/runtime-config-logging.html#GUC-LOG-STATEMENT",
    compliance=((PCI, "3.3.1"), (PCI, "8.3.2"), (GDPR, "Art. 32(1)(a)")),
    evidence=("family", "parameters.name", "parameters.value"),
)
def rds_log_statement_no_secrets(props: Props, resource: Resource) -> Violations:
    require_postgres(props)
    value = parameters(props).get("log_statement")
    if value is None or str(value).strip().lower() == "none":
        return None
    return f"log_statement = {value}: statements (and the passwords and data in them) are written to the logs"


# CAs RDS currently issues (rds-ca-2019 expired in August 2024):
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html#UsingWithRDS.SSL.RegionCertificateAuthorities
CURRENT_CAS = ("rds-ca-rsa2048-g1", "rds-ca-rsa4096-g1", "rds-ca-ecc384-g1")


@resource_rule(
    name="rds-current-ca",
    description="RDS instances present a certificate of a current RDS CA (" + ", ".join(CURRENT_CAS) + ").",
    resource_types=(t.RDS_INSTANCE,),
    severity="medium",
    remediation="Set ca_cert_identifier to rds-ca-rsa2048-g1 (or the 4096/ECC CA) explicitly.",
    url="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html",
    compliance=((PCI, "4.2.1"), (SOC2, "CC6.7")),
    evidence=("caCertIdentifier",),
)
def rds_current_ca(props: Props, resource: Resource) -> Violations:
    value = get_path(props, "caCertIdentifier")
    return None if value in CURRENT_CAS else f"caCertIdentifier = {value}: not a current RDS CA"
