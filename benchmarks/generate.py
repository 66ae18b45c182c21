"""Generate realistic Confluent Cloud audit-log dumps, with the exact expected report beside them.

usage: python -m benchmarks.generate N FILE [--format cli|jsonl|array|pretty]
           [--gzip|--bz2|--xz] [--seed S] [--start 2024-05-06T00:00:00Z] [--days 7]
           [--dups FRACTION] [--noise] [--cut-last] [--gap-days 2,3]

Writes N distinct records (plus duplicates, noise and a cut last line when asked) to FILE and
the report that ``ccaudit report FILE --format json`` must print to ``FILE.truth.json``.
The truth comes from what the generator decided to write, never from parsing the output, and
this module uses the standard library only (it must not import ccaudit).

The mix follows audit-events.md §6: mostly ``mds.Authorize`` (one service account doing
AccessMetrics, users doing many operations), hourly bursts of ``kafka.Authentication`` from one
misbehaving service account (up to 3,600/hour), a few failed authentications, sign-ins
(successes, failures with and without error statuses), and cloud API requests with object
principals. Records are spread over 6 partitions, each time-ordered, interleaved with lag as a
consumer prints them. Output is streamed: memory stays constant whatever N is.
"""
from __future__ import annotations

import argparse
import bisect
import bz2
import datetime as dt
import gzip
import json
import lzma
import random
import re
import sys
import time
from collections import deque

SECTIONS = (
    ("kafka_authentication", "Kafka Authentication"),
    ("mds_authorize", "MDS Authorize"),
    ("signin_failure", "Sign-In Failure"),
    ("signin_success", "Sign-In Success"),
    ("all_events", "All Audit Events"),
)
FORMATS = ("cli", "jsonl", "array", "pretty")
HEADERS_LINE = '% Headers: [content-type="application/cloudevents+json; charset=UTF-8"]'
PARTITIONS = 6
RESERVOIR = 4096  # bounded sample of emitted lines that duplicates are drawn from
CHUNK = 4 << 20  # bytes buffered before each write
UTC = dt.timezone.utc

# Fraction digits of `time`: 3 (most), 9, 6 and 0, as seen in real dumps.
_DIGITS = [3] * 10 + [9] * 7 + [6] * 2 + [0]
# A few records carry an offset instead of Z; the truth still buckets them by UTC.
_OFFSETS = ("+02:00", "-05:00", "+05:30", "+00:00", "-03:30", "+09:00")
OFFSET_RATE = 0.003

_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

MDS_OPS = (
    "AccessWithToken", "Describe", "View", "CreateFlinkComputePool", "CreateCloudCluster",
    "CreateEnvironment", "ConfigureKafkaCredentials", "Invite", "Alter", "DescribeConfigs",
    "ManageFlinkStatements", "AccessMetrics",
    # longer than 30 characters: the old tool cut these and merged rows
    "DescribeAccessTransparencyResources", "ConfigureSchemaRegistryExporterSettings",
)
ROLES = ("OrganizationAdmin", "EnvironmentAdmin", "CloudClusterAdmin", "FlinkDeveloper",
         "MetricsViewer", "Operator")
INTERNAL = ("flowserviceadmin", "schemaregistryconnectadmin", "notificationserviceadmin",
            "ksqlscheduleradmin")
FIRST = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
         "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter",
         "yvonne", "zoe", "liam", "noah", "emma", "ava", "mia", "lucas", "ella", "omar", "priya")
LAST = ("smith", "jones", "garcia", "mueller", "rossi", "tanaka", "kowalski", "dubois",
        "nakamura", "silva", "novak", "jensen", "okafor", "haddad", "lindqvist")
# Long (> 40 characters), upper-case and non-ASCII emails: truncation, sort and encoding bugs.
SPECIAL_EMAILS = (
    "maximilian.schwarzenberger-contractor@very-long-subsidiary.example.com",
    "platform-engineering-oncall-rotation@infrastructure.example-corp.io",
    "Alice.Smith@Example.com",
    "josé.garcía-núñez@ejemplo.es",
    "zoë.ångström@exempel.se",
)


def _rid(rnd, n, alphabet=_ALNUM):
    return "".join(rnd.choice(alphabet) for _ in range(n))


def compile_template(obj, consts):
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


def _kcrn():
    return "crn://confluent.cloud/organization=<<ORG>>/environment=<<env>>/cloud-cluster=<<lkc>>/kafka=<<lkc>>"


def _scope(*extra):
    res = [{"type": "ORGANIZATION", "resourceId": "<<ORG>>"}, {"type": "ENVIRONMENT", "resourceId": "<<env>>"}]
    res.extend(extra)
    return {"resources": res}


# ---------------------------------------------------------------------------------------------
# Record skeletons (shapes from audit-events.md §3). Values in <<...>> vary per record.
# ---------------------------------------------------------------------------------------------

def _mds(granted=True, operation=True, rbac=True, org_level=False):
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
            "serviceName": "crn://confluent.cloud/",
            "methodName": "mds.Authorize",
            "resourceName": target,
            "authenticationInfo": {"principal": "<<principal>>"},
            "authorizationInfo": authz,
            "request": {"correlation_id": "-1"},
            "requestMetadata": {"request_id": "<<reqid>>"},
        },
        "id": "<<id>>",
        "source": "crn://confluent.cloud/",
        "specversion": "1.0",
        "type": "io.confluent.kafka.server/authorization",
        "datacontenttype": "application/json",
        "subject": target,
        "time": "<<time>>",
    }


def _kafka_auth(kind):
    crn = _kcrn() if kind != "fail" else "crn://confluent.cloud/kafka=<<lkc>>"
    ai = {"principal": "<<principal>>",
          "metadata": {"mechanism": "SASL_SSL/OAUTHBEARER" if kind == "oauth" else "SASL_SSL/PLAIN",
                       "identifier": "<<ident>>"}}
    if kind != "fail":
        ai["principalResourceId"] = "<<prid>>"
    data = {"serviceName": crn, "methodName": "kafka.Authentication", "resourceName": crn,
            "authenticationInfo": ai,
            "requestMetadata": {"connection_id": "<<raw_conn>>", "client_address": "/<<ip>>"}}
    if kind == "fail":
        data["result"] = {"status": "UNAUTHENTICATED",
                          "message": "Authentication failed: invalid API key or secret for cluster <<lkc>> (example text)"}
    elif kind != "noresult":
        data["result"] = {"status": "SUCCESS"}
    return {"datacontenttype": "application/json", "data": data, "subject": crn, "specversion": "1.0",
            "id": "<<id>>", "source": crn, "time": "<<time>>",
            "type": "io.confluent.kafka.server/authentication"}


def _cloud(method, rtype, access, etype="io.confluent.cloud/request", req_data=None, res_data=None,
           scope=True):
    cr = {"resource": {"type": rtype, "resourceId": "<<target>>"}}
    if scope:
        cr = {"scope": _scope(), **cr}
    return {
        "datacontenttype": "application/json",
        "data": {
            "serviceName": "crn://confluent.cloud/",
            "methodName": method,
            "cloudResources": [cr],
            "authenticationInfo": {"principal": "<<raw_principal>>", "result": "SUCCESS"},
            "requestMetadata": {"requestId": ["<<reqhex>>"], "clientAddress": [{"ip": "<<ip>>"}]},
            "request": {"accessType": access, "data": req_data if req_data is not None else {"account_id": "<<env>>"}},
            "result": {"status": "SUCCESS", "data": res_data if res_data is not None else {}},
            "resourceName": "crn://confluent.cloud/organization=<<ORG>>/environment=<<env>>",
        },
        "subject": "crn://confluent.cloud/organization=<<ORG>>/environment=<<env>>",
        "specversion": "1.0",
        "id": "<<id>>",
        "source": "crn://confluent.cloud/",
        "time": "<<time>>",
        "type": etype,
    }


def _sr_auth(method="schema-registry.Authentication", etype="io.confluent.sg.server/authentication"):
    return {
        "datacontenttype": "application/json",
        "data": {
            "serviceName": "crn://confluent.cloud/",
            "methodName": method,
            "cloudResources": [{"scope": _scope(), "resource": {"type": "SCHEMA_REGISTRY", "resourceId": "<<lsrc>>"}}],
            "authenticationInfo": {"principal": "<<raw_principal>>", "result": "SUCCESS",
                                   "credentials": {"idSecretCredentials": {"credentialId": "<<ident>>"},
                                                   "mechanism": "HTTP_BASIC"}},
            "requestMetadata": {"requestId": ["<<reqhex>>"], "clientAddress": [{"ip": "<<ip>>"}]},
            "resourceName": "crn://confluent.cloud/organization=<<ORG>>/environment=<<env>>/schema-registry=<<lsrc>>",
        },
        "subject": "crn://confluent.cloud/organization=<<ORG>>/environment=<<env>>/schema-registry=<<lsrc>>",
        "specversion": "1.0",
        "id": "<<id>>",
        "source": "crn://confluent.cloud/",
        "time": "<<time>>",
        "type": etype,
    }


def _flink(method, etype):
    # key order as in the Flink doc example (type first, data last)
    return {
        "type": etype,
        "id": "<<id>>",
        "subject": "crn://confluent.cloud/organization=<<ORG>>/environment=<<env>>/flink-region=<<region>>",
        "datacontenttype": "application/json",
        "dataschema": "https://confluent.io/internal/events/AuditLog.v2",
        "specversion": "1.0",
        "source": "crn://confluent.cloud/",
        "time": "<<time>>",
        "data": {
            "requestMetadata": {"clientAddress": [{"ip": "<<ip>>"}], "requestId": ["<<reqhex>>"]},
            "internalServiceName": "crn://confluent.cloud/organization=<<ORG>>/environment=<<env>>/flink-region=<<region>>",
            "cloudResources": [{"scope": _scope(), "resource": {"type": "FLINK_REGION", "resourceId": "<<region>>"}}],
            "result": {"status": "SUCCESS"},
            "methodName": method,
            "serviceName": "crn://confluent.cloud/",
            "authenticationInfo": {"principal": "<<raw_principal>>", "result": "SUCCESS"},
        },
    }


def _kafka_authz():
    crn = _kcrn()
    return {
        "datacontenttype": "application/json",
        "data": {
            "serviceName": crn, "methodName": "kafka.CreateTopics", "resourceName": crn + "/topic=<<topic>>",
            "authenticationInfo": {"principal": "<<principal>>", "principalResourceId": "<<prid>>"},
            "authorizationInfo": {"granted": True, "operation": "Create", "resourceType": "Cluster",
                                  "resourceName": "kafka-cluster", "patternType": "LITERAL"},
            "request": {"correlation_id": "17", "client_id": "adminclient-3"},
            "requestMetadata": {"request_id": "<<raw_conn>>", "connection_id": "<<raw_conn>>"},
        },
        "subject": crn + "/topic=<<topic>>", "specversion": "1.0", "id": "<<id>>", "source": crn,
        "time": "<<time>>", "type": "io.confluent.kafka.server/authorization",
    }


def _ipfilter():
    return {
        "datacontenttype": "application/json",
        "data": {
            "serviceName": "crn://confluent.cloud/", "methodName": "ip-filter.Authorize",
            "cloudResources": [{"resource": {"type": "ORGANIZATION", "resourceId": "<<ORG>>"}}],
            "authenticationInfo": {"principal": "<<raw_principal>>", "result": "SUCCESS",
                                   "identity": "crn://confluent.cloud/organization=<<ORG>>/identity-provider=Confluent/identity=<<target>>"},
            "authorizationInfo": {"result": "DENY", "ipfilterAuthorization": {"clientIp": "<<ip>>", "resourceGroup": "MANAGEMENT"}},
            "requestMetadata": {"requestId": ["<<reqhex>>"], "clientAddress": [{"ip": "<<ip>>"}]},
            "resourceName": "crn://confluent.cloud/organization=<<ORG>>",
        },
        "subject": "crn://confluent.cloud/organization=<<ORG>>", "specversion": "1.0", "id": "<<id>>",
        "source": "crn://confluent.cloud/", "time": "<<time>>", "type": "io.confluent.cloud/authorization",
    }


def _signin():
    return {
        "datacontenttype": "application/json",
        "data": {
            "serviceName": "crn://confluent.cloud/",
            "methodName": "SignIn",
            "cloudResources": [{"scope": {"resources": [{"type": "ORGANIZATION", "resourceId": "<<ORG>>"}]},
                                "resource": {"type": "USER", "resourceId": "<<target>>"}}],
            "authenticationInfo": "<<raw_authinfo>>",
            "requestMetadata": {"requestId": ["<<reqhex>>"], "clientAddress": [{"ip": "<<ip>>"}]},
            "request": {"accessType": "MODIFICATION", "data": {}},
            "result": "<<raw_result>>",
            "resourceName": "crn://confluent.cloud/organization=<<ORG>>/user=<<target>>",
        },
        "subject": "crn://confluent.cloud/organization=<<ORG>>/user=<<target>>",
        "specversion": "1.0",
        "id": "<<id>>",
        "source": "crn://confluent.cloud/",
        "time": "<<time>>",
        "type": "io.confluent.cloud/request",
    }


def _jstr(s):
    return json.dumps(s, ensure_ascii=False)


class Generator:
    """All random choices of one run. `variants` is the weighted mix of record kinds; each
    builder returns (line, methodName, section id or None, row key or None)."""

    def __init__(self, seed):
        rnd = self.rnd = random.Random(seed)
        self.org = self.uuid4()
        self.envs = ["env-" + _rid(rnd, 5) for _ in range(3)]
        self.lkcs = ["lkc-" + _rid(rnd, 5) for _ in range(4)]
        self.lsrcs = ["lsrc-" + _rid(rnd, 5) for _ in range(2)]
        self.regions = ["AWS.eu-central-1", "AWS.us-east-1", "GCP.europe-west3"]
        self.topics = ["orders", "payments", "clickstream.v2", "inventory-updates"]
        users = []
        seen = set()
        while len(users) < 40:
            e = "%s.%s@example.com" % (rnd.choice(FIRST), rnd.choice(LAST))
            if e not in seen:
                seen.add(e)
                users.append(("u-" + _rid(rnd, 6), e))
        users += [("u-" + _rid(rnd, 6), e) for e in SPECIAL_EMAILS]
        self.users = users
        self.sas = ["sa-" + _rid(rnd, 6) for _ in range(15)]
        self.metrics_sa = self.sas[0]  # does ~half of all mds.Authorize (AccessMetrics)
        self.burst_sa = self.sas[1]  # reconnects every second during bursts
        self.burst_key = _rid(rnd, 16, _UPPER)
        self.apikeys = {sa: _rid(rnd, 16, _UPPER) for sa in self.sas}
        self.oauth = [(str(rnd.randrange(100000, 999999)), u[0]) for u in users[:6]]
        # object principals of cloud-style events: (JSON fragment, identity shown in sign-in keys)
        op = []
        for uid, email in users:
            op.append(('{"email":%s,"confluentUser":{"resourceId":"%s"}}' % (_jstr(email), uid), email))
        for sa in self.sas:
            op.append(('{"confluentServiceAccount":{"resourceId":"%s"}}' % sa, sa))
        self.obj_principals = op
        self.obj_rare = [
            ('{"externalAccount":{"namespace":[{"type":"idp","id":"confluent.cloud"}],"subject":"bob.builder"}}', "bob.builder"),
            ('{"identityPool":{"resourceId":"pool-%s"}}' % _rid(rnd, 4), None),
            ('{"confluentUser":{"resourceId":"User:%s"}}' % users[3][0], users[3][0]),
            ('{"confluentServiceAccount":{"resourceId":"User:%s"}}' % self.sas[4], self.sas[4]),
        ]
        self.obj_rare[1] = (self.obj_rare[1][0], json.loads(self.obj_rare[1][0])["identityPool"]["resourceId"])
        consts = {"ORG": self.org}
        T = {
            "mds": compile_template(_mds(), consts),
            "mds_org": compile_template(_mds(org_level=True), consts),
            "mds_denied": compile_template(_mds(granted=False, rbac=False), consts),
            "mds_noop": compile_template(_mds(granted=False, operation=False, rbac=False), consts),
            "ka_ok": compile_template(_kafka_auth("ok"), consts),
            "ka_oauth": compile_template(_kafka_auth("oauth"), consts),
            "ka_fail": compile_template(_kafka_auth("fail"), consts),
            "ka_noresult": compile_template(_kafka_auth("noresult"), consts),
            "sr_auth": compile_template(_sr_auth(), consts),
            "sr_search": compile_template(_sr_auth("schema-registry.SearchCatalogUsingAttributes",
                                                   "io.confluent.sg.server/request"), consts),
            "flink_authn": compile_template(_flink("flink.Authenticate", "io.confluent.flink.server/authentication"), consts),
            "flink_authz": compile_template(_flink("flink.Authorize", "io.confluent.flink.server/authorization"), consts),
            "ksql_authn": compile_template(_flink("ksql.Authenticate", "io.confluent.ksql.server/authentication"), consts),
            "kafka_authz": compile_template(_kafka_authz(), consts),
            "ipfilter": compile_template(_ipfilter(), consts),
            "signin": compile_template(_signin(), consts),
        }
        for name, method, rtype, access, rd, sd in (
            ("get_clusters", "GetKafkaClusters", "CLOUD_CLUSTER", "READ_ONLY", None, None),
            ("get_envs", "GetEnvironments", "ENVIRONMENT", "READ_ONLY", None, None),
            ("list_statements", "ListStatements", "FLINK_STATEMENT", "READ_ONLY",
             {"page_size": 100, "compute_pool": "lfcp-<<target>>"}, None),
            ("get_statement", "GetStatement", "FLINK_STATEMENT", "READ_ONLY", {"statement_name": "<<target>>"}, None),
            ("create_statement", "CreateStatement", "FLINK_STATEMENT", "MODIFICATION",
             {"statement_name": "<<target>>", "statement": "INSERT INTO orders_enriched SELECT * FROM orders"}, None),
            ("create_pool", "CreateComputePool", "FLINK_COMPUTE_POOL", "MODIFICATION",
             {"display_name": "pool-<<target>>", "max_cfu": 10}, None),
            ("create_apikey", "CreateAPIKey", "API_KEY", "MODIFICATION",
             {"owner": "<<env>>", "resource": "<<target>>"}, {"id": "<<target>>"}),
            ("bind_role", "BindRoleForPrincipal", "ROLE_BINDING", "MODIFICATION",
             {"role_name": "OrganizationAdmin", "principal": "User:<<target>>"}, None),
            ("mcp_call", "mcp.tools/call", "CONTEXT_ENGINE", "READ_ONLY", {"tool": "list_topics"}, None),
        ):
            etype = "io.confluent.context.engine/request" if method == "mcp.tools/call" else "io.confluent.cloud/request"
            T[name] = compile_template(_cloud(method, rtype, access, etype, rd, sd), consts)
        T["privileged"] = compile_template(_cloud(
            "confluent.privileged.access", "KAFKA_CLUSTER", "READ_ONLY", "io.confluent.cloud/access-transparency",
            {"employee_base_location": "EU", "employee_job_family": "Support"}, None, scope=False), consts)
        self.T = T
        self._build_variants()

    # -- small random helpers -------------------------------------------------------------------
    def uuid4(self):
        h = "%032x" % ((self.rnd.getrandbits(128) & _UUID_CLEAR) | _UUID_SET)
        return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])

    def _build_variants(self):
        rnd = self.rnd
        r = rnd.random
        T = self.T
        users, sas, envs, lkcs = self.users, self.sas, self.envs, self.lkcs
        nu, ns, ne, nl = len(users), len(sas), len(envs), len(lkcs)
        ops = MDS_OPS
        nops = len(ops)
        objp, nobj = self.obj_principals, len(self.obj_principals)
        getrandbits = rnd.getrandbits
        apikeys = self.apikeys
        regions, topics, lsrcs = self.regions, self.topics, self.lsrcs

        def ip():
            return "203.0.%d.%d" % (int(r() * 256), 1 + int(r() * 254))

        def reqhex():
            return "%032x" % getrandbits(128)

        def conn():
            return 171234567890100000 + getrandbits(40)

        uuid4 = self.uuid4

        def mk_mds(kind):
            tmpl = T["mds_org" if kind == "metrics" else "mds" if kind in ("user", "sa", "internal") else kind]

            def build(rid, ts):
                if kind == "metrics":
                    pid, op = self.metrics_sa, "AccessMetrics"
                elif kind == "user" or kind in ("mds_denied", "mds_noop"):
                    pid, op = users[int(r() * nu)][0], ops[int(r() * nops)]
                elif kind == "sa":
                    pid, op = sas[2 + int(r() * (ns - 2))], ops[int(r() * nops)]
                else:
                    pid, op = INTERNAL[int(r() * len(INTERNAL))], ("Describe", "View", "AccessWithToken")[int(r() * 3)]
                env, lkc = envs[int(r() * ne)], lkcs[int(r() * nl)]
                line = tmpl % {"id": rid, "time": ts, "env": env, "lkc": lkc, "principal": "User:" + pid,
                               "op": op, "rtype": "CloudCluster", "rname": lkc, "role": ROLES[int(r() * 6)],
                               "reqid": uuid4()}
                if kind == "mds_noop":
                    op = "(none)"
                return line, "mds.Authorize", "mds_authorize", pid + "-" + op
            return build

        burst_sa, burst_key = self.burst_sa, self.burst_key

        def ka_burst(rid, ts):
            env, lkc = envs[0], lkcs[0]
            line = T["ka_ok"] % {"id": rid, "time": ts, "env": env, "lkc": lkc, "principal": "User:" + burst_sa,
                                 "prid": burst_sa, "ident": burst_key, "raw_conn": conn(), "ip": ip()}
            return line, "kafka.Authentication", "kafka_authentication", burst_sa

        def ka_ok(rid, ts):
            sa = sas[2 + int(r() * (ns - 2))]
            line = T["ka_ok"] % {"id": rid, "time": ts, "env": envs[int(r() * ne)], "lkc": lkcs[int(r() * nl)],
                                 "principal": "User:" + sa, "prid": sa, "ident": apikeys[sa],
                                 "raw_conn": conn(), "ip": ip()}
            return line, "kafka.Authentication", "kafka_authentication", sa

        def ka_oauth(rid, ts):
            num, uid = self.oauth[int(r() * len(self.oauth))]
            line = T["ka_oauth"] % {"id": rid, "time": ts, "env": envs[int(r() * ne)], "lkc": lkcs[int(r() * nl)],
                                    "principal": "User:" + num, "prid": uid, "ident": num,
                                    "raw_conn": conn(), "ip": ip()}
            return line, "kafka.Authentication", "kafka_authentication", num

        def ka_fail(rid, ts):
            line = T["ka_fail"] % {"id": rid, "time": ts, "lkc": lkcs[int(r() * nl)], "principal": "None:UNKNOWN_USER",
                                   "ident": _rid(rnd, 16, _UPPER), "raw_conn": conn(), "ip": ip()}
            return line, "kafka.Authentication", "kafka_authentication", "None:UNKNOWN_USER (UNAUTHENTICATED)"

        def ka_noresult(rid, ts):
            sa = sas[2 + int(r() * (ns - 2))]
            line = T["ka_noresult"] % {"id": rid, "time": ts, "env": envs[int(r() * ne)], "lkc": lkcs[int(r() * nl)],
                                       "principal": "User:" + sa, "prid": sa, "ident": apikeys[sa],
                                       "raw_conn": conn(), "ip": ip()}
            return line, "kafka.Authentication", "kafka_authentication", sa

        def mk_cloud(tname, method, target=lambda: _rid(rnd, 8)):
            tmpl = T[tname]

            def build(rid, ts):
                line = tmpl % {"id": rid, "time": ts, "env": envs[int(r() * ne)],
                               "raw_principal": objp[int(r() * nobj)][0], "reqhex": reqhex(), "ip": ip(),
                               "target": target()}
                return line, method, None, None
            return build

        def mk_sr(tname, method):
            tmpl = T[tname]

            def build(rid, ts):
                sa = sas[int(r() * ns)]
                line = tmpl % {"id": rid, "time": ts, "env": envs[int(r() * ne)], "lsrc": lsrcs[int(r() * 2)],
                               "raw_principal": '{"confluentServiceAccount":{"resourceId":"%s"}}' % sa,
                               "ident": apikeys[sa], "reqhex": reqhex(), "ip": ip()}
                return line, method, None, None
            return build

        def mk_flink(tname, method):
            tmpl = T[tname]

            def build(rid, ts):
                line = tmpl % {"id": rid, "time": ts, "env": envs[int(r() * ne)], "region": regions[int(r() * 3)],
                               "raw_principal": objp[int(r() * nobj)][0], "reqhex": reqhex(), "ip": ip()}
                return line, method, None, None
            return build

        def kafka_authz(rid, ts):
            uid = users[int(r() * nu)][0]
            line = T["kafka_authz"] % {"id": rid, "time": ts, "env": envs[int(r() * ne)], "lkc": lkcs[int(r() * nl)],
                                       "principal": "User:" + str(100000 + int(r() * 900000)), "prid": uid,
                                       "topic": topics[int(r() * 4)], "raw_conn": conn()}
            return line, "kafka.CreateTopics", None, None

        def ipfilter(rid, ts):
            uid, email = users[int(r() * nu)]
            line = T["ipfilter"] % {"id": rid, "time": ts,
                                    "raw_principal": '{"confluentUser":{"resourceId":"%s"}}' % uid,
                                    "target": uid, "reqhex": reqhex(), "ip": ip()}
            return line, "ip-filter.Authorize", None, None

        # -- SignIn -------------------------------------------------------------------------
        obj_rare = self.obj_rare
        signin_t = T["signin"]

        def mk_signin(kind):
            def build(rid, ts):
                uid, email = users[int(r() * nu)]
                principal = '{"email":%s,"confluentUser":{"resourceId":"%s"}}' % (_jstr(email), uid)
                ident = email
                sec = None
                if kind == "ok":
                    ai = '{"principal":%s,"result":"SUCCESS"}' % principal
                    res = '{"status":"SUCCESS","data":{}}'
                    sec = "signin_success"
                elif kind == "ok_fallback":  # no authenticationInfo.result: outcome from result.status
                    ai = '{"principal":%s}' % principal
                    res = '{"status":"SUCCESS","data":{}}'
                    sec = "signin_success"
                elif kind == "ok_noemail":
                    principal, ident = obj_rare[int(r() * len(obj_rare))]
                    ai = '{"principal":%s,"result":"SUCCESS"}' % principal
                    res = '{"status":"SUCCESS","data":{}}'
                    sec = "signin_success"
                elif kind == "unset":  # neither success nor failure: only in all_events
                    ai = '{"principal":%s,"result":"UNSET"}' % principal
                    res = '{"status":"UNSET","data":{}}'
                else:
                    sec = "signin_failure"
                    principal = '{"email":%s}' % _jstr(email)
                    err_msg = ',"errorMessage":"Authentication Failed. Wrong Credentials"'
                    ai = '{"principal":%s,"result":"FAILURE"%s}' % (principal, err_msg)
                    status = ("401", "401", "401", "403", "429")[int(r() * 5)]
                    if kind == "fail":
                        res = '{"status":"FAILURE","data":{"errors":[{"status":"%s","detail":"Invalid email or password"}]}}' % status
                        ident = "%s (%s)" % (email, status)
                    elif kind == "fail_noerrors":
                        res = '{"status":"FAILURE","data":{}}'
                    elif kind == "fail_nostatus":
                        res = '{"status":"FAILURE","data":{"errors":[{"detail":"Too many failed attempts"}]}}'
                    elif kind == "fail_second":
                        res = ('{"status":"FAILURE","data":{"errors":[{"detail":"Password expired"},'
                               '{"status":"403","detail":"Forbidden"},{"status":"401","detail":"Unauthorized"}]}}')
                        ident = "%s (403)" % email
                    elif kind == "fail_empty":
                        res = '{"status":"FAILURE","data":{"errors":[]}}'
                    elif kind == "fail_fallback":  # no authenticationInfo.result
                        ai = '{"principal":%s}' % principal
                        res = '{"status":"FAILURE","data":{"errors":[{"status":"401","detail":"Invalid email or password"}]}}'
                        ident = "%s (401)" % email
                    elif kind == "fail_noemail":
                        principal, who = obj_rare[int(r() * len(obj_rare))]
                        ai = '{"principal":%s,"result":"FAILURE"}' % principal
                        res = '{"status":"FAILURE","data":{"errors":[{"status":"401","detail":"Invalid credentials"}]}}'
                        ident = "%s (401)" % who
                    else:
                        raise AssertionError(kind)
                line = signin_t % {"id": rid, "time": ts, "target": uid, "raw_authinfo": ai, "raw_result": res,
                                   "reqhex": reqhex(), "ip": ip()}
                return line, "SignIn", sec, (ident if sec else None)
            return build

        # (name, relative weight, builder); every variant is also forced in a few times when
        # N is large enough, so small dumps still cover every shape.
        self.variants = [
            ("mds_metrics", 520, mk_mds("metrics")),
            ("mds_user", 280, mk_mds("user")),
            ("mds_sa", 60, mk_mds("sa")),
            ("mds_denied", 25, mk_mds("mds_denied")),
            ("mds_internal", 10, mk_mds("internal")),
            ("mds_noop", 0.5, mk_mds("mds_noop")),
            ("sr_auth", 25, mk_sr("sr_auth", "schema-registry.Authentication")),
            ("sr_search", 1.5, mk_sr("sr_search", "schema-registry.SearchCatalogUsingAttributes")),
            ("get_clusters", 8, mk_cloud("get_clusters", "GetKafkaClusters")),
            ("get_envs", 4, mk_cloud("get_envs", "GetEnvironments")),
            ("flink_authn", 15, mk_flink("flink_authn", "flink.Authenticate")),
            ("flink_authz", 10, mk_flink("flink_authz", "flink.Authorize")),
            ("ksql_authn", 2, mk_flink("ksql_authn", "ksql.Authenticate")),
            ("list_statements", 8, mk_cloud("list_statements", "ListStatements")),
            ("get_statement", 6, mk_cloud("get_statement", "GetStatement")),
            ("create_statement", 1, mk_cloud("create_statement", "CreateStatement")),
            ("create_pool", 0.3, mk_cloud("create_pool", "CreateComputePool")),
            ("create_apikey", 0.5, mk_cloud("create_apikey", "CreateAPIKey", lambda: _rid(rnd, 16, _UPPER))),
            ("bind_role", 0.3, mk_cloud("bind_role", "BindRoleForPrincipal")),
            ("mcp_call", 0.2, mk_cloud("mcp_call", "mcp.tools/call")),
            ("privileged", 0.1, mk_cloud("privileged", "confluent.privileged.access")),
            ("kafka_authz", 1, kafka_authz),
            ("ipfilter", 0.3, ipfilter),
            ("ka_ok", 6, ka_ok),
            ("ka_oauth", 1.5, ka_oauth),
            ("ka_fail", 1.5, ka_fail),
            ("ka_noresult", 0.1, ka_noresult),
            ("signin_ok", 2.5, mk_signin("ok")),
            ("signin_ok_fallback", 0.2, mk_signin("ok_fallback")),
            ("signin_ok_noemail", 0.2, mk_signin("ok_noemail")),
            ("signin_unset", 0.1, mk_signin("unset")),
            ("signin_fail", 0.8, mk_signin("fail")),
            ("signin_fail_noerrors", 0.3, mk_signin("fail_noerrors")),
            ("signin_fail_nostatus", 0.2, mk_signin("fail_nostatus")),
            ("signin_fail_second", 0.1, mk_signin("fail_second")),
            ("signin_fail_empty", 0.1, mk_signin("fail_empty")),
            ("signin_fail_fallback", 0.1, mk_signin("fail_fallback")),
            ("signin_fail_noemail", 0.1, mk_signin("fail_noemail")),
        ]
        self.burst_builder = ka_burst
        self.plain_builder = mk_mds("user")


_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID_SET = (0x4 << 76) | (0x2 << 62)


def _drop_key(line, key, value):
    """Remove `"key":"value"` (and one adjacent comma) from a compact JSON line."""
    for old in ('"%s":"%s",' % (key, value), ',"%s":"%s"' % (key, value)):
        if old in line:
            return line.replace(old, "", 1)
    raise AssertionError("key %s not found" % key)


def _parse_start(s):
    t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    t = t.astimezone(UTC)
    if t.minute or t.second or t.microsecond:
        raise ValueError("--start must be on a full hour")
    return t


def _largest_remainder(weights, total):
    s = sum(weights)
    if s <= 0 or total <= 0:
        return [0] * len(weights)
    raw = [w * total / s for w in weights]
    out = [int(x) for x in raw]
    rest = total - sum(out)
    order = sorted(range(len(raw)), key=lambda i: raw[i] - out[i], reverse=True)
    for i in order[:rest]:
        out[i] += 1
    return out


class _Writer:
    """Buffered text writer over a plain or compressed binary file."""

    def __init__(self, path, compression):
        if compression == "gzip":
            self.f = gzip.open(path, "wb", compresslevel=6)  # gzip(1)'s default; Python's 9 is 2x slower
        else:
            self.f = {None: open, "bz2": bz2.open, "xz": lzma.open}[compression](path, "wb")
        self.buf = []
        self.size = 0
        self.bytes = 0

    def write(self, s):
        self.buf.append(s)
        self.size += len(s)
        if self.size > CHUNK:
            self.flush()

    def flush(self):
        data = "".join(self.buf).encode("utf-8")
        self.f.write(data)
        self.bytes += len(data)
        self.buf = []
        self.size = 0

    def close(self):
        self.flush()
        self.f.close()


def generate(n, path, fmt="cli", compression=None, seed=0, start="2024-05-06T00:00:00Z", days=7,
             dups=0.0, noise=False, cut_last=False, gap_days=(), truth_path=None):
    """Write the dump and its truth; return the truth dict."""
    if fmt not in FORMATS:
        raise ValueError("format must be one of %s" % ", ".join(FORMATS))
    if noise and fmt not in ("cli", "jsonl"):
        raise ValueError("--noise is only for the line formats (cli, jsonl)")
    if n < 1 or days < 1:
        raise ValueError("N and --days must be at least 1")
    g = Generator(seed)
    rnd = g.rnd
    r = rnd.random
    start_t = _parse_start(start)
    start_s = int(start_t.timestamp())
    nhours = days * 24
    gap = set(gap_days)
    if len(gap) >= days:
        raise ValueError("every day is a gap day")

    # -- how many records per hour ------------------------------------------------------------
    burst_hours = []
    active_days = [d for d in range(days) if d not in gap]
    for d in sorted(rnd.sample(active_days, min(2, len(active_days)))):
        first = rnd.randrange(0, 19)
        burst_hours += [d * 24 + h for h in range(first, first + rnd.randint(4, 8))]
    per_burst = min(3600, int(0.05 * n / len(burst_hours))) if burst_hours else 0
    n_bg = n - per_burst * len(burst_hours)
    weights = []
    for h in range(nhours):
        day, hod = divmod(h, 24)
        w = 0.0 if day in gap else (1.0 + (1.2 if 7 <= hod <= 18 else 0.0)) * rnd.uniform(0.85, 1.15)
        weights.append(w)
    bg_counts = _largest_remainder(weights, n_bg)
    variants = g.variants
    cum, acc = [], 0.0
    for _, w, _ in variants:
        acc += w
        cum.append(acc)
    total_w = acc
    builders = [b for _, _, b in variants]
    nforce = 2 * len(variants) if n_bg >= 25 * len(variants) else 0
    forced = {}
    if nforce:
        for j, slot in enumerate(rnd.sample(range(n_bg), nforce)):
            forced[slot] = j % len(variants)

    # -- truth accumulators --------------------------------------------------------------------
    rows = {}  # (date, section, key) -> [24 ints]
    per_day = {}

    # -- output plan ---------------------------------------------------------------------------
    w = _Writer(path, compression)
    is_line = fmt in ("cli", "jsonl")
    cli = fmt == "cli"
    counts = {"noise": 0, "malformed": 0, "dups": 0, "emitted": 0}
    ndups = int(round(dups * n))
    reservoir = []
    seen = [0]
    noise_plan, prefix_plan = {}, {}
    poff = [rnd.randrange(10_000, 5_000_000) for _ in range(PARTITIONS)]
    if noise:
        kinds = list(_NOISE_KINDS)
        k = min(max(2 * len(kinds), n // 400), n - 1)
        pos = rnd.sample(range(1, n), k) if n > 1 else []
        rnd.shuffle(kinds)
        for j, p in enumerate(pos):
            noise_plan.setdefault(p, []).append(kinds[j % len(kinds)])
        k = min(max(8, n // 300), n - 1)
        for j, p in enumerate(rnd.sample(range(1, n), k) if n > 1 else []):
            prefix_plan[p] = j % 4
    last_ts = ["2024-01-01T00:00:00Z"]

    def fresh_line():
        return g.plain_builder(g.uuid4(), last_ts[0])[0]

    def write_noise(kind):
        if kind in ("error", "rdkafka", "blank", "spaces", "headers"):
            w.write(_NOISE_TEXT[kind] + "\n")
            counts["noise"] += 1
            return
        if kind in ("notjson", "starting", "brace"):
            w.write(_NOISE_TEXT[kind] + "\n")
        elif kind == "broken":
            s = fresh_line()
            w.write(s[: len(s) // 2] + "\n")
        elif kind == "javamap":
            w.write("{datacontenttype=application/json, data={serviceName=crn://confluent.cloud/, "
                    "methodName=mds.Authorize, authenticationInfo={principal=User:%s}, authorizationInfo="
                    "{granted=true, operation=AccessMetrics}}, id=%s, source=crn://confluent.cloud/, "
                    "specversion=1.0, time=%s, type=io.confluent.kafka.server/authorization}\n"
                    % (g.metrics_sa, g.uuid4(), last_ts[0]))
        else:
            rid = g.uuid4()
            s, method, _, _ = g.plain_builder(rid, last_ts[0])
            if kind == "trailing":
                s += " x"
            elif kind == "two":
                s += fresh_line()
            elif kind == "no_id":
                s = _drop_key(s, "id", rid)
            elif kind == "no_time":
                s = _drop_key(s, "time", last_ts[0])
            elif kind == "bad_time":
                s = s.replace('"time":"%s"' % last_ts[0], '"time":"yesterday"')
            elif kind == "no_method":
                s = _drop_key(s, "methodName", method)
            else:
                raise AssertionError(kind)
            w.write(s + "\n")
            if cli:
                w.write(HEADERS_LINE + "\n")
                counts["noise"] += 1
        counts["malformed"] += 1

    first_elem = [True]
    if fmt == "array":
        w.write("[ ")

    def put(line):
        """Write one record (first copy or duplicate) in the chosen format."""
        if is_line:
            w.write(line + "\n")
            if cli:
                w.write(HEADERS_LINE + "\n")
                counts["noise"] += 1
        elif fmt == "array":
            if first_elem[0]:
                first_elem[0] = False
                w.write(line)
            else:
                w.write(",\n" + line)
        else:
            w.write(json.dumps(json.loads(line), indent=2, ensure_ascii=False) + "\n")

    def emit(item):
        t, line, p = item
        i = counts["emitted"]
        poff[p] += 1
        if noise:
            kinds = noise_plan.pop(i, None)
            if kinds:
                for kind in kinds:
                    write_noise(kind)
            pk = prefix_plan.pop(i, None)
            if pk is not None:
                ms = int(t * 1000) + 3
                prefix = ("Partition:%d Offset:%d" % (p, poff[p]),
                          "Timestamp:%d Partition:%d Offset:%d" % (ms, p, poff[p]),
                          "Timestamp: %d" % ms,
                          "null")[pk]
                w.write(prefix + "\t" + line + "\n")
                if cli:
                    w.write(HEADERS_LINE + "\n")
                    counts["noise"] += 1
            else:
                put(line)
        else:
            put(line)
        counts["emitted"] = i + 1
        # bounded uniform sample of what was written so far (algorithm R)
        seen[0] += 1
        if len(reservoir) < RESERVOIR:
            reservoir.append(line)
        else:
            j = int(r() * seen[0])
            if j < RESERVOIR:
                reservoir[j] = line
        if ndups:
            due = ndups * (i + 1) // n
            while counts["dups"] < due and reservoir:
                emit_dup()

    def emit_dup():
        j = int(r() * len(reservoir))
        put(reservoir[j])
        reservoir[j] = reservoir[-1]
        reservoir.pop()
        counts["dups"] += 1

    # -- main loop: hour by hour, records in time order, routed through partitions ------------
    queues = [deque() for _ in range(PARTITIONS)]
    lags = [rnd.choice((0.0, 2.0, 15.0, 45.0, 90.0, 150.0)) for _ in range(PARTITIONS)]
    mmss = ["%02d:%02d" % divmod(s, 60) for s in range(3600)]
    digits = _DIGITS
    nd = len(digits)
    uuid4 = g.uuid4
    burst_builder = g.burst_builder
    bg_index = 0
    since_flush = 0
    burst_set = set(burst_hours)
    for h in range(nhours):
        nb = bg_counts[h]
        nburst = per_burst if h in burst_set else 0
        if not nb and not nburst:
            continue
        hs = start_s + h * 3600
        ht = dt.datetime.fromtimestamp(hs, UTC)
        date = ht.strftime("%Y-%m-%d")
        hod = ht.hour
        prefix = ht.strftime("%Y-%m-%dT%H:")
        items = [(int(r() * 3.6e12), -1) for _ in range(nb)]
        if nburst:
            step = 3.6e12 / nburst
            items += [(int((k + r() * 0.9) * step), -2) for k in range(nburst)]
        items.sort()
        for off, kind in items:
            if kind == -2:
                b = burst_builder
            else:
                v = forced.pop(bg_index, None) if forced else None
                if v is None:
                    v = bisect.bisect(cum, r() * total_w)
                    if v >= len(builders):
                        v = len(builders) - 1
                b = builders[v]
                bg_index += 1
            sec, frac = divmod(off, 1_000_000_000)
            d = digits[int(r() * nd)]
            fs = ("" if d == 0 else ".%03d" % (frac // 1_000_000) if d == 3
                  else ".%06d" % (frac // 1000) if d == 6 else ".%09d" % frac)
            if r() < OFFSET_RATE:
                o = _OFFSETS[int(r() * len(_OFFSETS))]
                sign = -1 if o[0] == "-" else 1
                osec = sign * (int(o[1:3]) * 3600 + int(o[4:6]) * 60)
                ts = dt.datetime.fromtimestamp(hs + sec + osec, UTC).strftime("%Y-%m-%dT%H:%M:%S") + fs + o
            else:
                ts = prefix + mmss[sec] + fs + "Z"
            line, method, section, key = b(uuid4(), ts)
            last_ts[0] = ts
            k = (date, "all_events", method)
            row = rows.get(k)
            if row is None:
                row = rows[k] = [0] * 24
            row[hod] += 1
            if section is not None:
                k = (date, section, key)
                row = rows.get(k)
                if row is None:
                    row = rows[k] = [0] * 24
                row[hod] += 1
            per_day[date] = per_day.get(date, 0) + 1
            queues[int(r() * PARTITIONS)].append((hs + off / 1e9, line, None))
            since_flush += 1
            if since_flush >= 64:
                since_flush = 0
                now = hs + off / 1e9
                order = list(range(PARTITIONS))
                rnd.shuffle(order)
                for p in order:
                    q = queues[p]
                    cutoff = now - lags[p]
                    while q and q[0][0] <= cutoff:
                        t, line, _ = q.popleft()
                        emit((t, line, p))
    # drain what the lagging partitions still hold, a fetch batch at a time
    while any(queues):
        order = [p for p in range(PARTITIONS) if queues[p]]
        p = rnd.choice(order)
        q = queues[p]
        for _ in range(min(len(q), 1 + int(r() * 200))):
            t, line, _ = q.popleft()
            emit((t, line, p))
    while counts["dups"] < ndups:  # only if the reservoir ran dry
        if not reservoir:
            raise AssertionError("no records to duplicate")
        emit_dup()
    assert counts["emitted"] == n, (counts, n)

    if cut_last:
        s = fresh_line()
        s = s[: len(s) // 2]
        if fmt == "pretty":
            s = json.dumps(json.loads(fresh_line()), indent=2, ensure_ascii=False)
            s = s[: len(s) // 2]
        elif fmt == "array":
            s = ",\n" + s
        w.write(s)
        counts["malformed"] += 1
    elif fmt == "array":
        w.write(" ]\n")
    w.close()

    truth = build_truth(rows, per_day, {
        "records_read": n + counts["dups"], "inserted": n, "duplicates": counts["dups"],
        "noise_lines": counts["noise"], "malformed": counts["malformed"]})
    with open(truth_path or (str(path) + ".truth.json"), "w", encoding="utf-8") as f:
        json.dump(truth, f, ensure_ascii=False, indent=1)
        f.write("\n")
    truth["_bytes"] = w.bytes
    return truth


_NOISE_TEXT = {
    "error": "% Error: Local: Broker transport failure: sasl_ssl://b0-pkc-4kgmg.eu-west-1.aws.confluent.cloud:9092/0: Disconnected (after 120034ms in state UP)",
    "rdkafka": "%4|1715000000.123|SESSTMOUT|rdkafka#consumer-1| [thrd:main]: Consumer group session timed out (in join-state steady) after 45012 ms without a successful response from the group coordinator",
    "blank": "",
    "spaces": "   \t  ",
    "headers": 'Headers: [content-type="application/cloudevents+json; charset=UTF-8"]',
    "notjson": "not json",
    "starting": "Starting Kafka Consumer. Use Ctrl-C to exit.",
    "brace": "{broken",
}
_NOISE_KINDS = ("error", "rdkafka", "blank", "spaces", "headers", "notjson", "starting", "brace", "broken",
                "javamap", "trailing", "two", "no_id", "no_time", "bad_time", "no_method")


def build_truth(rows, per_day, load):
    """Assemble the report JSON (same shape as `ccaudit report --format json`)."""
    if not per_day:
        raise ValueError("no events")
    first = min(per_day)
    last = max(per_day)
    d0 = dt.date.fromisoformat(first)
    d1 = dt.date.fromisoformat(last)
    dates = [(d0 + dt.timedelta(days=i)).isoformat() for i in range((d1 - d0).days + 1)]
    by_day = {}
    for (date, sec, key), hours in rows.items():
        by_day.setdefault(date, {}).setdefault(sec, []).append((key, hours))
    days = []
    for date in dates:
        secs = {}
        got = by_day.get(date, {})
        for sid, title in SECTIONS:
            items = sorted(got.get(sid, []))
            secs[sid] = {"title": title,
                         "rows": [{"key": k, "hours": list(h), "total": sum(h)} for k, h in items]}
        days.append({"date": date, "events": per_day.get(date, 0), "sections": secs})
    return {"summary": {"events": sum(per_day.values()), "first_day": first, "last_day": last,
                        "per_day": {d: per_day.get(d, 0) for d in dates}, "load": load},
            "days": days}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.generate", description=__doc__.split("\n\n")[0])
    ap.add_argument("n", type=int, metavar="N", help="number of distinct records")
    ap.add_argument("file", metavar="FILE")
    ap.add_argument("--format", choices=FORMATS, default="cli")
    comp = ap.add_mutually_exclusive_group()
    comp.add_argument("--gzip", dest="compression", action="store_const", const="gzip")
    comp.add_argument("--bz2", dest="compression", action="store_const", const="bz2")
    comp.add_argument("--xz", dest="compression", action="store_const", const="xz")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", default="2024-05-06T00:00:00Z", help="first hour (UTC, full hour)")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--dups", type=float, default=0.0, metavar="FRACTION",
                    help="re-emit this fraction of records later in the stream")
    ap.add_argument("--noise", action="store_true", help="noise and malformed lines (cli/jsonl only)")
    ap.add_argument("--cut-last", action="store_true", help="end with a record cut in half")
    ap.add_argument("--gap-days", default="", help="comma-separated day indexes (0-based) with no events")
    a = ap.parse_args(argv)
    gaps = tuple(int(x) for x in a.gap_days.split(",") if x.strip())
    t0 = time.perf_counter()
    try:
        truth = generate(a.n, a.file, a.format, a.compression, a.seed, a.start, a.days, a.dups,
                         a.noise, a.cut_last, gaps)
    except ValueError as e:
        ap.error(str(e))
    el = time.perf_counter() - t0
    s = truth["summary"]
    print("wrote %s: %d events (+%d duplicates, %d noise, %d malformed) %s..%s, %.1f MB uncompressed in %.1f s; "
          "truth in %s.truth.json" % (a.file, s["events"], s["load"]["duplicates"], s["load"]["noise_lines"],
                                      s["load"]["malformed"], s["first_day"], s["last_day"],
                                      truth["_bytes"] / 1e6, el, a.file), file=sys.stderr)


if __name__ == "__main__":
    main()
