"""The methodName catalogue: what each audit-log method is, and how often a report saw it.

``CATALOGUE`` holds Confluent's documented audit-log methods (and some seen in real dumps)
with a family and a one-line meaning. A method not in it still gets a family, from the
rule of thumb on its name (``family()``).

Families: authentication, authorization, sign-in, management, read-only.
"""
from __future__ import annotations

from dataclasses import dataclass

from .render import csv_text, dumps
from .text import printable
from .report import Report

AUTHN, AUTHZ, SIGNIN, MGMT, READ = "authentication", "authorization", "sign-in", "management", "read-only"
FAMILIES = (AUTHN, AUTHZ, SIGNIN, MGMT, READ)

_READ_PREFIXES = ("get", "list", "describe", "search", "lookup", "load")
_STRIPPED = ("schema-registry.", "kafka.")


def _entries() -> dict[str, tuple[str, str]]:
    c: dict[str, tuple[str, str]] = {}

    def add(family: str, meaning: str, *names: str) -> None:
        for name in names:
            c[name] = (family, meaning)

    # -- Kafka (kafka.*) -------------------------------------------------------------
    add(AUTHN, "a client authenticated (or failed to) to a Kafka cluster", "kafka.Authentication")
    add(MGMT, "change topic or broker configs (checked and logged as a Kafka request)",
        "kafka.AlterConfigs", "kafka.IncrementalAlterConfigs")
    add(MGMT, "create a Kafka topic", "kafka.CreateTopics")
    add(MGMT, "delete a Kafka topic", "kafka.DeleteTopics")
    add(MGMT, "add partitions to a Kafka topic", "kafka.CreatePartitions")
    add(MGMT, "create Kafka ACLs", "kafka.CreateAcls")
    add(MGMT, "delete Kafka ACLs", "kafka.DeleteAcls")
    add(MGMT, "create a cluster link", "kafka.CreateClusterLinks")
    add(MGMT, "delete a cluster link", "kafka.DeleteClusterLinks")
    add(MGMT, "change mirror topics of a cluster link", "kafka.AlterMirrors")
    add(MGMT, "delete consumer groups", "kafka.DeleteGroups")
    add(MGMT, "delete records from a topic (authorization check)", "kafka.DeleteRecords")
    add(MGMT, "produce records to a topic (data plane)", "kafka.Produce")
    add(READ, "fetch (consume) records from a topic (data plane)", "kafka.Fetch")
    add(READ, "read topic or broker configs (Confluent Platform)", "kafka.DescribeConfigs")
    add(READ, "list Kafka ACLs (Confluent Platform)", "kafka.DescribeAcls")
    add(READ, "read cluster and topic metadata (Confluent Platform)", "kafka.Metadata")
    add(READ, "fetch as a consumer (Confluent Platform)", "kafka.FetchConsumer")
    add(MGMT, "change client quotas (Confluent Platform)", "kafka.AlterClientQuotas")
    # -- MDS / RBAC ------------------------------------------------------------------
    add(AUTHZ, "RBAC authorization check by the metadata service (granted or denied)", "mds.Authorize")
    add(MGMT, "grant a role to a principal", "BindRoleForPrincipal", "CreateRoleBinding")
    add(MGMT, "remove a role binding", "DeleteRoleBindingById", "UnbindRoleForPrincipal")
    add(MGMT, "remove every role binding of a principal",
        "UnBindAllRolesForPrincipal", "UnbindAllRolesForPrincipal")
    add(MGMT, "grant a role on resources to a principal", "GrantRoleResourcesForPrincipal")
    add(MGMT, "revoke a role on resources from a principal", "RevokeRoleResourcesForPrincipal")
    # -- organization, IAM, sign-in --------------------------------------------------
    add(SIGNIN, "a user signed in (or failed to) to Confluent Cloud, Console or CLI", "SignIn")
    add(MGMT, "create an API key", "CreateAPIKey")
    add(MGMT, "delete an API key", "DeleteAPIKey")
    add(MGMT, "update an API key", "UpdateAPIKey")
    add(READ, "read an API key", "GetAPIKey")
    add(READ, "list API keys", "GetAPIKeys")
    add(MGMT, "create a service account", "CreateServiceAccount")
    add(MGMT, "delete a service account", "DeleteServiceAccount")
    add(MGMT, "update a service account", "UpdateServiceAccount")
    add(READ, "read a service account", "GetServiceAccount")
    add(READ, "list service accounts", "GetServiceAccounts")
    add(MGMT, "create a user", "CreateUser")
    add(MGMT, "delete a user", "DeleteUser")
    add(MGMT, "update a user", "UpdateUser")
    add(READ, "list users", "GetUsers")
    add(MGMT, "invite a user to the organization", "InviteUser")
    add(READ, "read an invitation", "GetInvitation")
    add(READ, "list invitations", "GetInvitations")
    add(MGMT, "delete an invitation", "DeleteInvitation")
    add(MGMT, "change organization settings (such as enabling SCIM)", "UpdateOrganization")
    add(MGMT, "create an environment", "CreateEnvironment")
    add(MGMT, "delete an environment", "DeleteEnvironment")
    add(MGMT, "update an environment", "UpdateEnvironment")
    add(READ, "read an environment", "GetEnvironment")
    add(READ, "list environments", "GetEnvironments")
    add(MGMT, "create a Kafka cluster", "CreateKafkaCluster")
    add(MGMT, "delete a Kafka cluster", "DeleteKafkaCluster")
    add(MGMT, "update a Kafka cluster", "UpdateKafkaCluster")
    add(READ, "read a Kafka cluster", "GetKafkaCluster")
    add(READ, "list Kafka clusters", "GetKafkaClusters")
    add(MGMT, "create a Schema Registry cluster", "CreateSchemaRegistryCluster")
    add(READ, "list Schema Registry clusters", "GetSchemaRegistryClusters", "ListSchemaRegistryClusters")
    add(MGMT, "create a ksqlDB cluster", "CreateKSQLCluster")
    add(READ, "list ksqlDB clusters", "GetKSQLClusters")
    add(MGMT, "create an identity provider", "CreateIdentityProvider")
    add(MGMT, "delete an identity provider", "DeleteIdentityProvider")
    add(MGMT, "update an identity provider", "UpdateIdentityProvider")
    add(READ, "read an identity provider", "GetIdentityProvider")
    add(READ, "list identity providers", "ListIdentityProvider", "ListIdentityProviders")
    add(MGMT, "create an identity pool", "CreateIdentityPool")
    add(MGMT, "delete an identity pool", "DeleteIdentityPool")
    add(MGMT, "update an identity pool", "UpdateIdentityPool")
    add(READ, "read an identity pool", "GetIdentityPool")
    add(READ, "list identity pools", "ListIdentityPool", "ListIdentityPools")
    add(MGMT, "claim a promotion code", "ClaimPromoCode")
    add(MGMT, "update the billing profile", "UpdateBillingProfile")
    add(MGMT, "update the payment method", "UpdatePaymentMethod")
    add(MGMT, "change the support plan", "UpdateSupportPlan")
    add(MGMT, "update tax information", "UpdateTaxInfo")
    add(MGMT, "create a network", "CreateNetwork")
    add(MGMT, "delete a network", "DeleteNetwork")
    add(MGMT, "update a network", "UpdateNetwork")
    add(READ, "read a network", "GetNetwork")
    add(READ, "list networks", "GetNetworks")
    add(READ, "list network peerings", "GetPeerings")
    add(READ, "list transit gateway attachments", "GetTransitGateways")
    add(READ, "list private link accesses", "GetPrivateLinkAccesses")
    add(READ, "list private link attachments", "GetPrivateLinkAttachments")
    add(AUTHZ, "IP filter check of a request's client address", "ip-filter.Authorize")
    add(READ, "list Stream Designer pipelines", "ListPipelines")
    add(MGMT, "register a self-managed Kafka cluster with Unified Stream Manager", "RegisterUsmKafkaCluster")
    add(MGMT, "deregister a Unified Stream Manager Kafka cluster", "DeregisterUsmKafkaCluster")
    add(READ, "read a Unified Stream Manager Kafka cluster", "GetUsmKafkaCluster")
    add(READ, "list Unified Stream Manager Kafka clusters", "ListUsmKafkaClusters")
    add(MGMT, "create a Tableflow table", "TableflowCreateTable")
    add(MGMT, "delete a Tableflow table", "TableflowDeleteTable")
    add(MGMT, "update a Tableflow table", "TableflowUpdateTable")
    add(READ, "read a Tableflow table", "TableflowGetTable", "LoadTable")
    add(READ, "list Tableflow tables", "TableflowListTables", "ListTables")
    add(READ, "list Tableflow namespaces", "TableflowListNamespaces", "ListNamespaces")
    add(READ, "read a Tableflow namespace", "LoadNamespace", "LoadNamespaces")
    add(MGMT, "Confluent personnel accessed a Dedicated cluster (access transparency)",
        "confluent.privileged.access")
    # -- Connect ---------------------------------------------------------------------
    add(MGMT, "create a connector", "CreateConnector")
    add(MGMT, "create or update a connector", "CreateOrUpdateConnector")
    add(MGMT, "delete a connector", "DeleteConnector")
    add(READ, "read a connector", "GetConnector")
    add(READ, "list connectors", "GetConnectors")
    add(MGMT, "pause a connector", "PauseConnector")
    add(MGMT, "resume a connector", "ResumeConnector")
    add(MGMT, "upload a custom connector plugin", "CreateCustomConnectorPlugin")
    add(MGMT, "get an upload URL for a custom connector plugin", "CreatePresignedUrl")
    add(MGMT, "delete a custom connector plugin", "DeleteCustomConnectorPlugin")
    add(MGMT, "update a custom connector plugin", "UpdateCustomConnectorPlugin")
    add(READ, "read a custom connector plugin", "GetCustomConnectorPlugin")
    add(READ, "list custom connector plugins", "ListCustomConnectorPlugins")
    # -- Schema Registry -------------------------------------------------------------
    add(AUTHN, "a client authenticated (or failed to) to Schema Registry", "schema-registry.Authentication")
    for prefix in ("schema-registry.", ""):
        add(MGMT, "register a schema", prefix + "RegisterSchema")
        add(MGMT, "delete a schema version", prefix + "DeleteSchemaVersion")
        add(MGMT, "delete a subject", prefix + "DeleteSubject")
        add(READ, "look up a schema under a subject", prefix + "LookUpSchemaUnderSubject")
        add(READ, "search the Stream Catalog by attributes", prefix + "SearchCatalogUsingAttributes")
    add(MGMT, "change a subject's compatibility config", "schema-registry.UpdateSubjectConfig")
    add(MGMT, "delete a subject's config", "schema-registry.DeleteSubjectConfig")
    add(MGMT, "change the global compatibility config", "schema-registry.UpdateGlobalConfig")
    add(MGMT, "delete the global config", "schema-registry.DeleteGlobalConfig")
    add(MGMT, "change a subject's mode", "schema-registry.UpdateSubjectMode")
    add(MGMT, "delete a subject's mode", "schema-registry.DeleteSubjectMode")
    add(MGMT, "change the global mode", "schema-registry.UpdateGlobalMode")
    add(READ, "run a Stream Catalog query", "schema-registry.GetQuery")
    add(MGMT, "create Stream Catalog tag definitions", "schema-registry.CreateTagDefs")
    add(READ, "list Stream Catalog tag definitions", "schema-registry.GetAllTagDefs")
    # -- ksqlDB, Flink, context engine -----------------------------------------------
    add(AUTHN, "a client authenticated (or failed to) to ksqlDB", "ksql.Authenticate")
    add(AUTHN, "a client authenticated (or failed to) to Flink", "flink.Authenticate")
    add(AUTHZ, "Flink authorization check", "flink.Authorize")
    add(READ, "list Flink regions", "ListFlinkRegions")
    add(MGMT, "create a Flink compute pool", "CreateComputePool")
    add(READ, "read a Flink compute pool", "GetComputePool")
    add(READ, "list Flink compute pools", "ListComputePools")
    add(MGMT, "create a Flink workspace", "CreateWorkspace")
    add(MGMT, "delete a Flink workspace", "DeleteWorkspace")
    add(MGMT, "update a Flink workspace", "UpdateWorkspace")
    add(READ, "read a Flink workspace", "GetWorkspace")
    add(READ, "list Flink workspaces", "ListWorkspaces")
    add(MGMT, "create (run) a Flink SQL statement", "CreateStatement")
    add(MGMT, "update (stop, resume) a Flink SQL statement", "UpdateStatement")
    add(READ, "read a Flink SQL statement", "GetStatement")
    add(READ, "list Flink SQL statements", "ListStatements")
    add(MGMT, "an AI agent called a tool of the Real-Time Context Engine", "mcp.tools/call")
    return c


CATALOGUE: dict[str, tuple[str, str]] = _entries()


def family(method: str) -> str:
    """The catalogue's family of ``method``, else one from the rule of thumb on its name."""
    known = CATALOGUE.get(method)
    if known:
        return known[0]
    if method == "SignIn":
        return SIGNIN
    if method.endswith((".Authentication", ".Authenticate")):
        return AUTHN
    if method.endswith(".Authorize"):
        return AUTHZ
    name = method
    for prefix in _STRIPPED:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return READ if name.lower().startswith(_READ_PREFIXES) else MGMT


def meaning(method: str) -> str:
    """A one-line meaning of a catalogued method; '' for one not in the catalogue."""
    known = CATALOGUE.get(method)
    return known[1] if known else ""


@dataclass
class MethodCount:
    method: str
    count: int
    family: str
    meaning: str
    known: bool


def count_methods(report: Report) -> list[MethodCount]:
    """Every methodName in the report's ``all_events`` section with its count, busiest first."""
    counts: dict[str, int] = {}
    for day in report.days:
        section = day.sections.get("all_events")
        for row in section.rows if section else ():
            counts[row.key] = counts.get(row.key, 0) + row.total
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [MethodCount(m, n, family(m), meaning(m), m in CATALOGUE) for m, n in ordered]


# -- rendering ------------------------------------------------------------------------

FIELDS = ("method", "count", "family", "meaning")


def render(methods: list[MethodCount], fmt: str) -> str:
    if fmt == "json":
        doc = {"methods": [{"method": m.method, "count": m.count, "family": m.family,
                            "meaning": m.meaning or None, "known": m.known} for m in methods],
               "total": sum(m.count for m in methods)}
        return dumps(doc)
    if fmt == "csv":
        return csv_text(FIELDS, ([m.method, m.count, m.family, m.meaning] for m in methods))
    return _text(methods)


def _text(methods: list[MethodCount]) -> str:
    if not methods:
        return "(no events)\n"
    names = [printable(m.method) for m in methods]
    width = max(len("Method"), *map(len, names))
    count_w = max(len("Count"), *(len(str(m.count)) for m in methods))
    family_w = max(len(f) for f in FAMILIES)
    head = f"{'Method':<{width}}  {'Count':>{count_w}}  {'Family':<{family_w}}  Meaning"
    lines = [head, "-" * len(head)]
    for name, m in zip(names, methods):
        lines.append(f"{name:<{width}}  {m.count:>{count_w}}  {m.family:<{family_w}}  "
                     f"{m.meaning or '(not in the catalogue)'}".rstrip())
    total = sum(m.count for m in methods)
    lines.append(f"{len(methods)} methods, {total} events")
    return "\n".join(lines) + "\n"
