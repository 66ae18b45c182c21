"""The crowd's methods and record shapes: the default kinds with wider vocabularies.

About 190 methodNames in all: the default generator's, cloud API requests made of a verb and
one of 27 resources, Schema Registry requests, Flink and ksqlDB events, and Kafka requests
checked by the broker (``kafka.CreateTopics`` and its kin). Within each family a method is
drawn by weight (the resources Zipf-weighted, the verbs reads first). The shapes are the
default skeletons (templates.py), a few of them longer, as a large organization's records
are (about 1.2 KB on average).
"""
from __future__ import annotations

import copy

from .templates import (
    CRN,
    ENV_CRN,
    KAFKA_CRN,
    REQUEST_METADATA,
    cloud,
    compile_template,
    flink,
    kafka_auth,
    mds,
    schema_registry,
)
from .templates import compile_templates as default_templates

# cloud API resources: (name in the method, resource type, id prefix)
CLOUD_RESOURCES = (
    ("KafkaCluster", "CLOUD_CLUSTER", "lkc-"), ("Environment", "ENVIRONMENT", "env-"),
    ("ServiceAccount", "SERVICE_ACCOUNT", "sa-"), ("ApiKey", "API_KEY", ""), ("Connector", "CONNECTOR", "lcc-"),
    ("SchemaRegistryCluster", "SCHEMA_REGISTRY", "lsrc-"), ("FlinkComputePool", "FLINK_COMPUTE_POOL", "lfcp-"),
    ("FlinkStatement", "FLINK_STATEMENT", ""), ("RoleBinding", "ROLE_BINDING", "rb-"),
    ("Network", "NETWORK", "n-"), ("PrivateLinkAccess", "PRIVATE_LINK_ACCESS", "pla-"),
    ("PrivateLinkAttachment", "PRIVATE_LINK_ATTACHMENT", "platt-"), ("Peering", "PEERING", "peer-"),
    ("TransitGatewayAttachment", "TRANSIT_GATEWAY_ATTACHMENT", "tgwa-"), ("DnsForwarder", "DNS_FORWARDER", "dnsf-"),
    ("IdentityProvider", "IDENTITY_PROVIDER", "op-"), ("IdentityPool", "IDENTITY_POOL", "pool-"),
    ("Invitation", "INVITATION", "i-"), ("User", "USER", "u-"), ("GroupMapping", "GROUP_MAPPING", "group-"),
    ("ClusterLink", "CLUSTER_LINK", "link-"), ("ByokKey", "BYOK_KEY", "cck-"),
    ("ProviderIntegration", "PROVIDER_INTEGRATION", "cspi-"), ("KsqlCluster", "KSQL_CLUSTER", "lksqlc-"),
    ("IpFilter", "IP_FILTER", "ipf-"), ("IpGroup", "IP_GROUP", "ipg-"),
    ("CustomConnectorPlugin", "CUSTOM_PLUGIN", "ccp-"),
)
VERBS = (("Get", 10.0), ("List", 8.0), ("Update", 1.5), ("Create", 1.0), ("Delete", 0.5))
# Schema Registry: method -> event type
SCHEMA_REGISTRY = {
    "schema-registry.Authentication": "io.confluent.sg.server/authentication",
    **{"schema-registry." + m: "io.confluent.sg.server/request" for m in (
        "GetSchemaById", "GetLatestSchema", "ListSubjects", "GetSubjectVersions", "LookupSchema", "RegisterSchema",
        "TestCompatibility", "GetConfig", "UpdateConfig", "GetMode", "UpdateMode", "DeleteSubject",
        "SearchCatalogUsingAttributes", "CreateExporter")},
}
# Flink and ksqlDB (the Flink shape): method -> event type
FLINK = {
    "flink.Authenticate": "io.confluent.flink.server/authentication",
    "flink.Authorize": "io.confluent.flink.server/authorization",
    "flink.GetStatementResults": "io.confluent.flink.server/request",
    "flink.ListStatementExceptions": "io.confluent.flink.server/request",
    "ksql.Authenticate": "io.confluent.ksql.server/authentication",
    "ksql.Authorize": "io.confluent.ksql.server/authorization",
    "ksql.ExecuteStatement": "io.confluent.ksql.server/request",
}
# Kafka requests the broker checks: method -> (operation, resource type, what the CRN names)
KAFKA_REQUESTS = {
    "kafka.CreateTopics": ("Create", "Topic", "topic"), "kafka.DeleteTopics": ("Delete", "Topic", "topic"),
    "kafka.CreatePartitions": ("Alter", "Topic", "topic"), "kafka.AlterConfigs": ("AlterConfigs", "Topic", "topic"),
    "kafka.IncrementalAlterConfigs": ("AlterConfigs", "Topic", "topic"),
    "kafka.DeleteRecords": ("Delete", "Topic", "topic"), "kafka.DescribeConfigs": ("DescribeConfigs", "Topic", "topic"),
    "kafka.OffsetDelete": ("Delete", "Group", "group"), "kafka.DeleteGroups": ("Delete", "Group", "group"),
    "kafka.AlterConsumerGroupOffsets": ("Read", "Group", "group"),
    "kafka.CreateAcls": ("Alter", "Cluster", "cluster"), "kafka.DeleteAcls": ("Alter", "Cluster", "cluster"),
    "kafka.DescribeAcls": ("Describe", "Cluster", "cluster"),
    "kafka.AlterPartitionReassignments": ("Alter", "Cluster", "cluster"),
    "kafka.ElectLeaders": ("ClusterAction", "Cluster", "cluster"),
    "kafka.AlterClientQuotas": ("AlterConfigs", "Cluster", "cluster"),
    "kafka.AlterUserScramCredentials": ("Alter", "Cluster", "cluster"),
    "kafka.CreateClusterLinks": ("Alter", "Cluster", "cluster"),
    "kafka.DeleteClusterLinks": ("Alter", "Cluster", "cluster"),
    "kafka.AlterMirrors": ("Alter", "Cluster", "cluster"), "kafka.ListClusterLinks": ("Describe", "Cluster", "cluster"),
    "kafka.CreateDelegationToken": ("CreateTokens", "User", "cluster"),
}
# mds.Authorize: what a check is about -> (resourceType, the CRN it names, its operations, weights)
MDS_RESOURCES = {
    "topic": ("Topic", KAFKA_CRN + "/topic=<<rname>>",
              ("Read", "Write", "Describe", "DescribeConfigs", "Create", "Alter", "AlterConfigs", "Delete"),
              (30, 30, 12, 4, 2, 1, 1, 1)),
    "group": ("Group", KAFKA_CRN + "/group=<<rname>>", ("Read", "Describe", "Delete"), (30, 6, 1)),
    "cluster": ("Cluster", KAFKA_CRN, ("IdempotentWrite", "Describe", "DescribeConfigs", "Create", "Alter",
                                       "AlterConfigs", "ClusterAction"), (20, 10, 4, 2, 1, 1, 1)),
    "cloud": ("CloudCluster", ENV_CRN + "/cloud-cluster=<<lkc>>", None, None),  # None: the cloud operations
    "env": ("Environment", ENV_CRN, None, None),
}
CLOUD_OPS = ("AccessWithToken", "Describe", "View", "CreateFlinkComputePool", "CreateCloudCluster",
             "CreateEnvironment", "ConfigureKafkaCredentials", "Invite", "Alter", "DescribeConfigs",
             "ManageFlinkStatements", "DescribeAccessTransparencyResources", "ConfigureSchemaRegistryExporterSettings",
             "ViewAuditLogs", "ManageConnectors", "ViewConnectorLogs", "ManageNetworks", "ViewBilling",
             "ManageApiKeys", "ManageRoleBindings", "ManageIdentityProviders", "ReadSchemaRegistry",
             "WriteSchemaRegistry", "ManageKsqlClusters", "ViewMetrics", "ManageClusterLinks")
CLOUD_OP_WEIGHTS = tuple(12 / (1 + i) for i in range(len(CLOUD_OPS)))
ROLES = ("OrganizationAdmin", "EnvironmentAdmin", "CloudClusterAdmin", "FlinkDeveloper", "MetricsViewer", "Operator",
         "DeveloperRead", "DeveloperWrite", "DeveloperManage", "ResourceOwner", "DataSteward", "AccountAdmin")
CLIENT_IDS = ("adminclient-1", "producer-1", "consumer-orders-1", "connect-worker-7", "ksql-engine-3",
              "kafka-streams-app-StreamThread-2-consumer", "rdkafka", "confluent-cli", "terraform-provider-confluent",
              "flink-job-manager")
# (client_software_name, client_software_version) of Kafka clients
CLIENT_SOFTWARE = (("apache-kafka-java", "3.7.0"), ("apache-kafka-java", "3.6.1-ce"), ("librdkafka", "2.3.0"),
                   ("confluent-kafka-go", "2.4.0"), ("confluent-kafka-python", "2.4.0"),
                   ("apache-kafka-streams", "3.7.0"), ("kafka-connect", "7.6.1-ce"), ("kafkajs", "2.2.4"))
METRICS_CLIENT = {"correlation_id": "-1", "client_id": "confluent-telemetry-metrics-exporter",
                  "client_software_name": "confluent-metrics-api", "client_software_version": "2.312.0"}
USER_AGENTS = ("Confluent-Cloud-Console/2.41.0 Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15",
               "confluent-cli/v3.58.0 (https://confluent.io; support@confluent.io) Go/1.22.2 linux/amd64",
               "terraform-provider-confluent/1.76.0 (https://registry.terraform.io/providers/confluentinc/confluent)",
               "OpenAPI-Generator/0.1.0/go", "Confluent-Cloud-Console/2.41.0 Mozilla/5.0 (Windows NT 10.0; Win64; x64)")


def cloud_methods() -> list[tuple[str, str, str, str, float]]:
    """(method, resource type, verb, id prefix, weight) of the generated cloud API requests."""
    out = []
    for r, (name, rtype, prefix) in enumerate(CLOUD_RESOURCES):
        for verb, w in VERBS:
            plural = name[:-1] + "ies" if name.endswith("y") and not name.endswith("ey") else name + "s"
            out.append((verb + (plural if verb == "List" else name), rtype, verb, prefix, w / (1 + r)))
    return out


def _request_metadata() -> dict:
    meta = copy.deepcopy(REQUEST_METADATA)
    meta["userAgent"] = "<<agent>>"
    return meta


def crowd_mds(resource: str, granted: bool = True, operation: bool = True) -> dict:
    """mds.Authorize about one resource (MDS_RESOURCES); denied checks carry no RBAC part."""
    rtype, crn = MDS_RESOURCES[resource][:2]
    s = mds(granted=granted, operation=operation, rbac=granted)
    data, authz = s["data"], s["data"]["authorizationInfo"]
    authz.update({"resourceType": rtype, "resourceName": "<<rname>>", "patternType": "<<pattern>>"})
    if granted:
        authz["rbacAuthorization"]["scope"]["clusters"] = {"kafka-cluster": "<<lkc>>"} if "kafka=" in crn else {}
    data["serviceName"] = KAFKA_CRN if "kafka=" in crn else CRN
    data["resourceName"] = crn
    data["request"] = _client_request()
    data["requestMetadata"] = {"request_id": "<<reqid>>", "client_address": "/<<ip>>"}
    s["subject"] = crn
    return s


def _client_request() -> dict:
    return {"correlation_id": "<<corr>>", "client_id": "<<client>>", "client_software_name": "<<swname>>",
            "client_software_version": "<<swversion>>"}


def crowd_metrics() -> dict:
    """The metrics service account's checks (the default's, with what its client says)."""
    s = mds(org_level=True)
    s["data"]["request"] = dict(METRICS_CLIENT)
    return s


def crowd_kafka_auth(kind: str) -> dict:
    """kafka.Authentication (the default's kinds but fail), with what the client says."""
    s = kafka_auth(kind)
    s["data"]["request"] = _client_request()
    return s


def crowd_cloud(method: str, rtype: str, verb: str) -> dict:
    """A cloud API request of the generated vocabulary; its request data follow the verb."""
    access = "READ_ONLY" if verb in ("Get", "List") else "MODIFICATION"
    req = {"Get": {"id": "<<target>>", "environment": "<<env>>"},
           "List": {"environment": "<<env>>", "page_size": 100, "page_token": "<<target>>"},
           "Create": {"environment": "<<env>>", "display_name": "<<target>>",
                      "spec": {"description": "created by the platform team's pipeline", "labels": {"team": "data"}}},
           "Update": {"id": "<<target>>", "environment": "<<env>>",
                      "update_mask": ["spec.display_name", "spec.description"]},
           "Delete": {"id": "<<target>>", "environment": "<<env>>"}}[verb]
    res = {"id": "<<target>>"} if verb in ("Get", "Create", "Update") else {}
    s = cloud(method, rtype, access, req, res)
    s["data"]["requestMetadata"] = _request_metadata()
    return s


def crowd_kafka_request(kind: str) -> dict:
    """A Kafka request the broker checked (kafka.CreateTopics and its kin): kind is what
    the CRN names (topic, group or cluster)."""
    crn = KAFKA_CRN + ("/%s=<<rname>>" % kind if kind != "cluster" else "")
    return {
        "datacontenttype": "application/json",
        "data": {
            "serviceName": KAFKA_CRN, "methodName": "<<method>>", "resourceName": crn,
            "authenticationInfo": {"principal": "<<principal>>", "principalResourceId": "<<prid>>"},
            "authorizationInfo": {"granted": True, "operation": "<<op>>", "resourceType": "<<rtype>>",
                                  "resourceName": "<<rname>>", "patternType": "LITERAL",
                                  "rbacAuthorization": {"role": "<<role>>", "scope": {
                                      "outerScope": ["organization=<<ORG>>", "environment=<<env>>"],
                                      "clusters": {"kafka-cluster": "<<lkc>>"}}}},
            "request": _client_request(),
            "requestMetadata": {"request_id": "<<raw_conn>>", "connection_id": "<<raw_conn>>",
                                "client_address": "/<<ip>>"},
        },
        "subject": crn, "specversion": "1.0", "id": "<<id>>", "source": KAFKA_CRN,
        "time": "<<time>>", "type": "io.confluent.kafka.server/authorization",
    }


def compile_crowd_templates(org: str) -> dict[str, str]:
    """The default templates, and the crowd's (named by kind, and by method where a method
    has its own shape)."""
    out = default_templates(org)
    skeletons: dict[str, dict] = {}
    for resource in MDS_RESOURCES:
        skeletons["mds:" + resource] = crowd_mds(resource)
        skeletons["mds_denied:" + resource] = crowd_mds(resource, granted=False)
    skeletons["mds_noop"] = crowd_mds("cloud", granted=False, operation=False)
    skeletons["mds_org"] = crowd_metrics()  # the default builder's template: constants only added
    for kind in ("ok", "oauth", "noresult"):
        skeletons["ka:" + kind] = crowd_kafka_auth(kind)
    for method, rtype, verb, _, _ in cloud_methods():
        skeletons["cloud:" + method] = crowd_cloud(method, rtype, verb)
    for method, etype in SCHEMA_REGISTRY.items():
        s = schema_registry(method, etype)
        s["data"]["requestMetadata"] = _request_metadata()
        skeletons["sr:" + method] = s
    for method, etype in FLINK.items():
        s = flink(method, etype)
        s["data"]["requestMetadata"] = {"clientAddress": [{"ip": "<<ip>>"}], "requestId": ["<<reqhex>>"],
                                        "userAgent": "<<agent>>"}
        skeletons["flink:" + method] = s
    for kind in ("topic", "group", "cluster"):
        skeletons["kafka:" + kind] = crowd_kafka_request(kind)
    consts = {"ORG": org}
    out.update({name: compile_template(s, consts) for name, s in skeletons.items()})
    return out
