"""The tags contract: every taggable resource carries the keys ops scripts, cost reports and auditors use.

"Taggable" is a static set (the pack runs without pulumi-aws under the CLI); a test checks it against
pulumi-aws (each type's resource class takes `tags`) and that every taggable type the prod stack
creates is in it.
"""

from __future__ import annotations

from tradesense_policies.model import Props, Resource, get_path, tags_of
from tradesense_policies.registry import PCI, SOC2, Violations, resource_rule

# Mirrors components.tagging.REQUIRED_TAG_KEYS (a test keeps them equal; the pack cannot import components).
REQUIRED_TAG_KEYS = ("Project", "Stack", "Service", "Environment", "Owner", "DataClassification", "Compliance")

TAGGABLE_TYPES = frozenset(
    {
        "aws:accessanalyzer/analyzer:Analyzer",
        "aws:acm/certificate:Certificate",
        "aws:backup/plan:Plan",
        "aws:backup/vault:Vault",
        "aws:budgets/budget:Budget",
        "aws:cloudfront/distribution:Distribution",
        "aws:cloudfront/function:Function",
        "aws:cloudtrail/trail:Trail",
        "aws:cloudwatch/compositeAlarm:CompositeAlarm",
        "aws:cloudwatch/eventRule:EventRule",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "aws:cloudwatch/metricStream:MetricStream",
        "aws:dynamodb/table:Table",
        "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl",
        "aws:ec2/defaultRouteTable:DefaultRouteTable",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:ec2/eip:Eip",
        "aws:ec2/flowLog:FlowLog",
        "aws:ec2/instance:Instance",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/networkAcl:NetworkAcl",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/vpc:Vpc",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "aws:ecr/repository:Repository",
        "aws:ecs/cluster:Cluster",
        "aws:ecs/service:Service",
        "aws:ecs/taskDefinition:TaskDefinition",
        "aws:elasticache/parameterGroup:ParameterGroup",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:elasticache/subnetGroup:SubnetGroup",
        "aws:elasticache/user:User",
        "aws:elasticache/userGroup:UserGroup",
        "aws:guardduty/detector:Detector",
        "aws:iam/instanceProfile:InstanceProfile",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:iam/policy:Policy",
        "aws:iam/role:Role",
        "aws:iam/user:User",
        "aws:kms/key:Key",
        "aws:lambda/function:Function",
        "aws:lb/listener:Listener",
        "aws:lb/loadBalancer:LoadBalancer",
        "aws:lb/targetGroup:TargetGroup",
        "aws:rds/instance:Instance",
        "aws:rds/optionGroup:OptionGroup",
        "aws:rds/parameterGroup:ParameterGroup",
        "aws:rds/proxy:Proxy",
        "aws:rds/proxyEndpoint:ProxyEndpoint",
        "aws:rds/snapshot:Snapshot",
        "aws:rds/subnetGroup:SubnetGroup",
        "aws:route53/healthCheck:HealthCheck",
        "aws:route53/zone:Zone",
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketV2:BucketV2",
        "aws:secretsmanager/secret:Secret",
        "aws:sfn/stateMachine:StateMachine",
        "aws:sns/topic:Topic",
        "aws:sqs/queue:Queue",
        "aws:ssm/parameter:Parameter",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:wafv2/ipSet:IpSet",
        "aws:wafv2/regexPatternSet:RegexPatternSet",
        "aws:wafv2/ruleGroup:RuleGroup",
        "aws:wafv2/webAcl:WebAcl",
    }
)


@resource_rule(
    name="required-tags",
    description="Every taggable resource carries " + ", ".join(REQUIRED_TAG_KEYS) + ".",
    resource_types=tuple(sorted(TAGGABLE_TYPES)),
    severity="medium",
    remediation="Pass the component Args' tags (components.tagging.base_tags / for_service) to every taggable resource.",
    url="https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html",
    compliance=((PCI, "12.5.1"), (SOC2, "CC2.1"), (SOC2, "CC6.1")),
    evidence=tuple(f"tags.{key}" for key in REQUIRED_TAG_KEYS),
)
def required_tags(props: Props, resource: Resource) -> Violations:
    get_path(props, "tags")  # an unknown tag map cannot be judged
    tags = tags_of(props)
    missing = [key for key in REQUIRED_TAG_KEYS if not str(tags.get(key, "")).strip()]
    return f"missing tag(s): {', '.join(missing)}" if missing else None
