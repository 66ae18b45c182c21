"""Record skeletons (the shapes of audit-events.md §3), compiled once into `%`-format strings.

In a skeleton, ``<<name>>`` marks a value that varies per record; ``compile_template`` turns
the skeleton into compact JSON with ``%(name)s`` where the values go, so a record costs one
string formatting.
"""
from __future__ import annotations

import json
import re

CRN = "crn://confluent.cloud/"
ENV_CRN = "crn://confluent.cloud/organization=<<ORG>>/environment=<<env>>"
KAFKA_CRN = ENV_CRN + "/cloud-cluster=<<lkc>>/kafka=<<lkc>>"
REQUEST_METADATA = {"requestId": ["<<reqhex>>"], "clientAddress": [{"ip": "<<ip>>"}]}

# Cloud API requests: template name -> (method, resource type, access type, request data,
# result data). Data None means the usual ({"account_id": env} and {}).
CLOUD_REQUESTS = {
    "get_clusters": ("GetKafkaClusters", "CLOUD_CLUSTER", "READ_ONLY", None, None),
    "get_envs": ("GetEnvironments", "ENVIRONMENT", "READ_ONLY", None, None),
    "list_statements": ("ListStatements", "FLINK_STATEMENT", "READ_ONLY",
                        {"page_size": 100, "compute_pool": "lfcp-<<target>>"}, None),
    "get_statement": ("GetStatement", "FLINK_STATEMENT", "READ_ONLY", {"statement_name": "<<target>>"}, None),
    "create_statement": ("CreateStatement", "FLINK_STATEMENT", "MODIFICATION",
                         {"statement_name": "<<target>>",
                          "statement": "INSERT INTO orders_enriched SELECT * FROM orders"}, None),
    "create_pool": ("CreateComputePool", "FLINK_COMPUTE_POOL", "MODIFICATION",
                    {"display_name": "pool-<<target>>", "max_cfu": 10}, None),
    "create_apikey": ("CreateAPIKey", "API_KEY", "MODIFICATION",
                      {"owner": "<<env>>", "resource": "<<target>>"}, {"id": "<<target>>"}),
    "bind_role": ("BindRoleForPrincipal", "ROLE_BINDING", "MODIFICATION",
                  {"role_name": "OrganizationAdmin", "principal": "User:<<target>>"}, None),
    "mcp_call": ("mcp.tools/call", "CONTEXT_ENGINE", "READ_ONLY", {"tool": "list_topics"}, None),
}
# template name -> (method, event type) of the Flink-shaped events
FLINK_EVENTS = {
    "flink_authn": ("flink.Authenticate", "io.confluent.flink.server/authentication"),
    "flink_authz": ("flink.Authorize", "io.confluent.flink.server/authorization"),
    "ksql_authn": ("ksql.Authenticate", "io.confluent.ksql.server/authentication"),
}


def compile_template(obj, consts: dict[str, str]) -> str:
    """Turn a record skeleton into a `%`-format string.

    Strings ``<<name>>`` inside the skeleton become ``%(name)s`` (a JSON-safe value inserted
    into a string); a whole string ``"<<raw_name>>"`` becomes ``%(raw_name)s`` (a JSON fragment
    inserted as is). Names in ``consts`` are substituted once, here.
    """
    s = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for k, v in consts.items():
        s = s.replace("<<%s>>" % k, v)
    s = s.replace("%", "%%")
    s = re.sub(r'"<<(raw_\w+)>>"', r"%(\1)s", s)
    s = re.sub(r"<<(\w+)>>", r"%(\1)s", s)
    return s


def compile_templates(org: str) -> dict[str, str]:
    """Every record kind's template, with the organization filled in."""
    skeletons = {
        "mds": mds(),
        "mds_org": mds(org_level=True),
        "mds_denied": mds(granted=False, rbac=False),
        "mds_noop": mds(granted=False, operation=False, rbac=False),
        "ka_ok": kafka_auth("ok"),
        "ka_oauth": kafka_auth("oauth"),
        "ka_fail": kafka_auth("fail"),
        "ka_noresult": kafka_auth("noresult"),
        "sr_auth": schema_registry(),
        "sr_search": schema_registry("schema-registry.SearchCatalogUsingAttributes", "io.confluent.sg.server/request"),
        **{name: flink(method, etype) for name, (method, etype) in FLINK_EVENTS.items()},
        "kafka_authz": kafka_authz(),
        "ipfilter": ipfilter(),
        "signin": signin(),
        **{name: cloud(*spec) for name, spec in CLOUD_REQUESTS.items()},
        "privileged": cloud("confluent.privileged.access", "KAFKA_CLUSTER", "READ_ONLY",
                            {"employee_base_location": "EU", "employee_job_family": "Support"}, None,
                            scope=False, etype="io.confluent.cloud/access-transparency"),
    }
    consts = {"ORG": org}
    return {name: compile_template(skeleton, consts) for name, skeleton in skeletons.items()}


def _scope() -> dict:
    return {"resources": [{"type": "ORGANIZATION", "resourceId": "<<ORG>>"},
                          {"type": "ENVIRONMENT", "resourceId": "<<env>>"}]}


def _cloud_event(data: dict, subject: str, etype: str) -> dict:
    """The envelope of the cloud-style events (data first, then the CloudEvents fields)."""
    return {"datacontenttype": "application/json", "data": data, "subject": subject, "specversion": "1.0",
            "id": "<<id>>", "source": CRN, "time": "<<time>>", "type": etype}


def mds(granted=True, operation=True, rbac=True, org_level=False) -> dict:
    authz = {"granted": granted}
    if operation:
        authz["operation"] = "<<op>>"
    if org_level:  # the metrics service account's checks: organization scope, shorter records
        authz.update({"resourceType": "Organization", "resourceName": "organization", "patternType": "LITERAL"})
        if rbac:
            authz["rbacAuthorization"] = {"role": "MetricsViewer", "scope": {"outerScope": [], "clusters": {}}}
    else:
        authz.update({"resourceType": "<<rtype>>", "resourceName": "<<rname>>", "patternType": "LITERAL"})
        if rbac:
            authz["rbacAuthorization"] = {"role": "<<role>>", "scope": {
                "outerScope": ["organization=<<ORG>>", "environment=<<env>>"], "clusters": {}}}
    target = "crn://confluent.cloud/organization=<<ORG>>" + ("" if org_level else "/environment=<<env>>")
    return {
        "data": {
            "serviceName": CRN,
            "methodName": "mds.Authorize",
            "resourceName": target,
            "authenticationInfo": {"principal": "<<principal>>"},
            "authorizationInfo": authz,
            "request": {"correlation_id": "-1"},
            "requestMetadata": {"request_id": "<<reqid>>"},
        },
        "id": "<<id>>",
        "source": CRN,
        "specversion": "1.0",
        "type": "io.confluent.kafka.server/authorization",
        "datacontenttype": "application/json",
        "subject": target,
        "time": "<<time>>",
    }


def kafka_auth(kind: str) -> dict:
    """kind: ok, oauth, fail (unknown user, UNAUTHENTICATED) or noresult (no result at all)."""
    crn = KAFKA_CRN if kind != "fail" else "crn://confluent.cloud/kafka=<<lkc>>"
    ai = {"principal": "<<principal>>",
          "metadata": {"mechanism": "SASL_SSL/OAUTHBEARER" if kind == "oauth" else "SASL_SSL/PLAIN",
                       "identifier": "<<ident>>"}}
    if kind != "fail":
        ai["principalResourceId"] = "<<prid>>"
    data = {"serviceName": crn, "methodName": "kafka.Authentication", "resourceName": crn,
            "authenticationInfo": ai,
            "requestMetadata": {"connection_id": "<<raw_conn>>", "client_address": "/<<ip>>"}}
    if kind == "fail":
        data["result"] = {"status": "UNAUTHENTICATED", "message": "Authentication failed: invalid API key or "
                                                                  "secret for cluster <<lkc>> (example text)"}
    elif kind != "noresult":
        data["result"] = {"status": "SUCCESS"}
    return {"datacontenttype": "application/json", "data": data, "subject": crn, "specversion": "1.0",
            "id": "<<id>>", "source": crn, "time": "<<time>>",
            "type": "io.confluent.kafka.server/authentication"}


def cloud(method, rtype, access, req_data=None, res_data=None, scope=True, etype=None) -> dict:
    if etype is None:
        etype = "io.confluent.context.engine/request" if method == "mcp.tools/call" else "io.confluent.cloud/request"
    resource = {"resource": {"type": rtype, "resourceId": "<<target>>"}}
    if scope:
        resource = {"scope": _scope(), **resource}
    data = {
        "serviceName": CRN,
        "methodName": method,
        "cloudResources": [resource],
        "authenticationInfo": {"principal": "<<raw_principal>>", "result": "SUCCESS"},
        "requestMetadata": REQUEST_METADATA,
        "request": {"accessType": access, "data": req_data if req_data is not None else {"account_id": "<<env>>"}},
        "result": {"status": "SUCCESS", "data": res_data if res_data is not None else {}},
        "resourceName": ENV_CRN,
    }
    return _cloud_event(data, ENV_CRN, etype)


def schema_registry(method="schema-registry.Authentication", etype="io.confluent.sg.server/authentication") -> dict:
    crn = ENV_CRN + "/schema-registry=<<lsrc>>"
    data = {
        "serviceName": CRN,
        "methodName": method,
        "cloudResources": [{"scope": _scope(), "resource": {"type": "SCHEMA_REGISTRY", "resourceId": "<<lsrc>>"}}],
        "authenticationInfo": {"principal": "<<raw_principal>>", "result": "SUCCESS",
                               "credentials": {"idSecretCredentials": {"credentialId": "<<ident>>"},
                                               "mechanism": "HTTP_BASIC"}},
        "requestMetadata": REQUEST_METADATA,
        "resourceName": crn,
    }
    return _cloud_event(data, crn, etype)


def flink(method: str, etype: str) -> dict:
    crn = ENV_CRN + "/flink-region=<<region>>"
    # key order as in the Flink doc example (type first, data last)
    return {
        "type": etype,
        "id": "<<id>>",
        "subject": crn,
        "datacontenttype": "application/json",
        "dataschema": "https://confluent.io/internal/events/AuditLog.v2",
        "specversion": "1.0",
        "source": CRN,
        "time": "<<time>>",
        "data": {
            "requestMetadata": {"clientAddress": [{"ip": "<<ip>>"}], "requestId": ["<<reqhex>>"]},
            "internalServiceName": crn,
            "cloudResources": [{"scope": _scope(), "resource": {"type": "FLINK_REGION", "resourceId": "<<region>>"}}],
            "result": {"status": "SUCCESS"},
            "methodName": method,
            "serviceName": CRN,
            "authenticationInfo": {"principal": "<<raw_principal>>", "result": "SUCCESS"},
        },
    }


def kafka_authz() -> dict:
    topic = KAFKA_CRN + "/topic=<<topic>>"
    return {
        "datacontenttype": "application/json",
        "data": {
            "serviceName": KAFKA_CRN, "methodName": "kafka.CreateTopics", "resourceName": topic,
            "authenticationInfo": {"principal": "<<principal>>", "principalResourceId": "<<prid>>"},
            "authorizationInfo": {"granted": True, "operation": "Create", "resourceType": "Cluster",
                                  "resourceName": "kafka-cluster", "patternType": "LITERAL"},
            "request": {"correlation_id": "17", "client_id": "adminclient-3"},
            "requestMetadata": {"request_id": "<<raw_conn>>", "connection_id": "<<raw_conn>>"},
        },
        "subject": topic, "specversion": "1.0", "id": "<<id>>", "source": KAFKA_CRN,
        "time": "<<time>>", "type": "io.confluent.kafka.server/authorization",
    }


def ipfilter() -> dict:
    org = "crn://confluent.cloud/organization=<<ORG>>"
    data = {
        "serviceName": CRN, "methodName": "ip-filter.Authorize",
        "cloudResources": [{"resource": {"type": "ORGANIZATION", "resourceId": "<<ORG>>"}}],
        "authenticationInfo": {"principal": "<<raw_principal>>", "result": "SUCCESS",
                               "identity": org + "/identity-provider=Confluent/identity=<<target>>"},
        "authorizationInfo": {"result": "DENY", "ipfilterAuthorization": {"clientIp": "<<ip>>",
                                                                          "resourceGroup": "MANAGEMENT"}},
        "requestMetadata": REQUEST_METADATA,
        "resourceName": org,
    }
    return _cloud_event(data, org, "io.confluent.cloud/authorization")


def signin() -> dict:
    user = "crn://confluent.cloud/organization=<<ORG>>/user=<<target>>"
    data = {
        "serviceName": CRN,
        "methodName": "SignIn",
        "cloudResources": [{"scope": {"resources": [{"type": "ORGANIZATION", "resourceId": "<<ORG>>"}]},
                            "resource": {"type": "USER", "resourceId": "<<target>>"}}],
        "authenticationInfo": "<<raw_authinfo>>",
        "requestMetadata": REQUEST_METADATA,
        "request": {"accessType": "MODIFICATION", "data": {}},
        "result": "<<raw_result>>",
        "resourceName": user,
    }
    return _cloud_event(data, user, "io.confluent.cloud/request")
