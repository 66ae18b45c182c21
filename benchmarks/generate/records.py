"""The kinds of record a dump mixes, and what each one counts in the report.

A builder takes the record's id and time text and returns ``(line, methodName, section id or
None, row key or None)``: the compact JSON line and where the truth counts it (every record
also counts in ``all_events`` under its method). The order of the random draws inside each
builder is part of what a seed produces.
"""
from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

from .templates import CLOUD_REQUESTS, FLINK_EVENTS
from .world import (
    ALNUM,
    INTERNAL,
    INTERNAL_OPS,
    MDS_OPS,
    REGIONS,
    ROLES,
    TOPICS,
    UPPER,
    Draw,
    World,
    json_string,
    service_account_principal,
    user_principal,
)

Built = tuple[str, str, str | None, str | None]
Builder = Callable[[str, str], Built]

SIGNIN_STATUSES = ("401", "401", "401", "403", "429")  # drawn for every failed sign-in
# successful (and undecided) sign-ins: kind -> (authenticationInfo.result, result.status, section)
SIGNIN_SUCCESSES = {
    "ok": ("SUCCESS", "SUCCESS", "signin_success"),
    "ok_fallback": (None, "SUCCESS", "signin_success"),  # no authenticationInfo.result: from result.status
    "ok_noemail": ("SUCCESS", "SUCCESS", "signin_success"),  # a principal without an email
    "unset": ("UNSET", "UNSET", None),  # neither success nor failure: only in all_events
}
# failed sign-ins: kind -> (result, the status the row key shows or None for none);
# <<status>> is the status drawn for the record
SIGNIN_FAILURES = {
    "fail": ('{"status":"FAILURE","data":{"errors":[{"status":"<<status>>","detail":"Invalid email or password"}]}}',
             "<<status>>"),
    "fail_noerrors": ('{"status":"FAILURE","data":{}}', None),
    "fail_nostatus": ('{"status":"FAILURE","data":{"errors":[{"detail":"Too many failed attempts"}]}}', None),
    "fail_second": ('{"status":"FAILURE","data":{"errors":[{"detail":"Password expired"},'
                    '{"status":"403","detail":"Forbidden"},{"status":"401","detail":"Unauthorized"}]}}', "403"),
    "fail_empty": ('{"status":"FAILURE","data":{"errors":[]}}', None),
    # no authenticationInfo.result: the outcome comes from result.status
    "fail_fallback": ('{"status":"FAILURE","data":{"errors":[{"status":"401","detail":"Invalid email or password"}]}}',
                      "401"),
    "fail_noemail": ('{"status":"FAILURE","data":{"errors":[{"status":"401","detail":"Invalid credentials"}]}}',
                     "401"),  # a principal without an email
}
WRONG_CREDENTIALS = ',"errorMessage":"Authentication Failed. Wrong Credentials"'
CLOUD_METHODS = {name: spec[0] for name, spec in CLOUD_REQUESTS.items()}
CLOUD_METHODS["privileged"] = "confluent.privileged.access"
SCHEMA_REGISTRY_METHODS = {"sr_auth": "schema-registry.Authentication",
                           "sr_search": "schema-registry.SearchCatalogUsingAttributes"}

# (name, relative weight): the mix of a dump. Every variant is also forced in a few times when
# N is large enough, so small dumps still cover every shape. The order is part of the seed's output.
MIX = (
    ("mds_metrics", 520), ("mds_user", 280), ("mds_sa", 60), ("mds_denied", 25), ("mds_internal", 10),
    ("mds_noop", 0.5), ("sr_auth", 25), ("sr_search", 1.5), ("get_clusters", 8), ("get_envs", 4),
    ("flink_authn", 15), ("flink_authz", 10), ("ksql_authn", 2), ("list_statements", 8), ("get_statement", 6),
    ("create_statement", 1), ("create_pool", 0.3), ("create_apikey", 0.5), ("bind_role", 0.3),
    ("mcp_call", 0.2), ("privileged", 0.1), ("kafka_authz", 1), ("ipfilter", 0.3), ("ka_ok", 6),
    ("ka_oauth", 1.5), ("ka_fail", 1.5), ("ka_noresult", 0.1), ("signin_ok", 2.5), ("signin_ok_fallback", 0.2),
    ("signin_ok_noemail", 0.2), ("signin_unset", 0.1), ("signin_fail", 0.8), ("signin_fail_noerrors", 0.3),
    ("signin_fail_nostatus", 0.2), ("signin_fail_second", 0.1), ("signin_fail_empty", 0.1),
    ("signin_fail_fallback", 0.1), ("signin_fail_noemail", 0.1),
)


@dataclass(frozen=True)
class Variant:
    name: str
    weight: float
    build: Builder


class Mix:
    """The weighted variants; ``choose`` maps a uniform draw in [0, 1) to one of them."""

    def __init__(self, variants: list[Variant]):
        self.variants = variants
        self.builders = [v.build for v in variants]
        self.cumulative = []
        total = 0.0
        for v in variants:
            total += v.weight
            self.cumulative.append(total)
        self.total = total

    def __len__(self) -> int:
        return len(self.variants)

    def choose(self, u: float) -> Builder:
        i = bisect.bisect(self.cumulative, u * self.total)
        return self.builders[min(i, len(self.builders) - 1)]


class Records:
    """Builders of every record kind, for one world and its compiled templates."""

    def __init__(self, world: World, templates: dict[str, str], draw: Draw):
        self.world, self.templates, self.draw = world, templates, draw
        self.user = lambda: draw.pick(world.users)  # (user id, email) of whoever signs in or is filtered

    def mix(self) -> Mix:
        return Mix([Variant(name, weight, self.builder(name)) for name, weight in MIX])

    def builder(self, name: str) -> Builder:
        """The builder of one variant of MIX."""
        if name.startswith("mds_"):
            return self.mds(name[4:])
        if name.startswith("signin_"):
            return self.signin(name[7:])
        if name in CLOUD_METHODS:
            return self.cloud(name)
        if name in FLINK_EVENTS:
            return self.flink(name)
        if name in SCHEMA_REGISTRY_METHODS:
            return self.schema_registry(name)
        if name.startswith("ka_"):
            return self.kafka_auth(name[3:])
        return {"kafka_authz": self.kafka_authz, "ipfilter": self.ipfilter}[name]()

    # -- mds.Authorize ------------------------------------------------------------------------
    def mds(self, kind: str) -> Builder:
        """kind: metrics, user, sa, internal, denied or noop (no operation, keyed "(none)")."""
        w, pick, uuid4 = self.world, self.draw.pick, self.draw.uuid4
        envs, clusters, users, other_sas = w.envs, w.clusters, w.users, w.other_sas
        template = self.templates[{"metrics": "mds_org", "denied": "mds_denied", "noop": "mds_noop"}.get(kind, "mds")]
        who = {  # (principal, operation)
            "metrics": lambda: (w.metrics_sa, "AccessMetrics"),
            "user": lambda: (pick(users)[0], pick(MDS_OPS)),
            "sa": lambda: (pick(other_sas), pick(MDS_OPS)),
            "internal": lambda: (pick(INTERNAL), pick(INTERNAL_OPS)),
        }[kind if kind in ("metrics", "sa", "internal") else "user"]

        def build(rid, ts):
            pid, op = who()
            env, lkc = pick(envs), pick(clusters)
            line = template % {"id": rid, "time": ts, "env": env, "lkc": lkc, "principal": "User:" + pid,
                               "op": op, "rtype": "CloudCluster", "rname": lkc, "role": pick(ROLES),
                               "reqid": uuid4()}
            return line, "mds.Authorize", "mds_authorize", pid + "-" + ("(none)" if kind == "noop" else op)
        return build

    # -- kafka.Authentication -----------------------------------------------------------------
    def kafka_auth(self, kind: str) -> Builder:
        """kind: ok, oauth, noresult, burst (the misbehaving service account) or fail."""
        if kind == "fail":
            return self.kafka_auth_failure()
        w, draw = self.world, self.draw
        pick, conn, ip, other_sas = draw.pick, draw.conn, draw.ip, w.other_sas
        template = self.templates["ka_" + ("ok" if kind == "burst" else kind)]

        def service_account():
            sa = pick(other_sas)
            return sa, sa, w.api_keys[sa]

        who = self.kafka_principal(kind, service_account)

        def build(rid, ts):
            principal, prid, ident = who()
            env, lkc = (w.envs[0], w.clusters[0]) if kind == "burst" else (pick(w.envs), pick(w.clusters))
            line = template % {"id": rid, "time": ts, "env": env, "lkc": lkc, "principal": "User:" + principal,
                               "prid": prid, "ident": ident, "raw_conn": conn(), "ip": ip()}
            return line, "kafka.Authentication", "kafka_authentication", principal
        return build

    def kafka_principal(self, kind: str, service_account: Callable[[], tuple]) -> Callable[[], tuple]:
        """Who authenticates in a kafka_auth record of ``kind``: (principal,
        principalResourceId, identifier); the principal is the row key."""
        w, pick = self.world, self.draw.pick
        return {"burst": lambda: (w.burst_sa, w.burst_sa, w.burst_key), "ok": service_account,
                "noresult": service_account, "oauth": lambda: _oauth_client(pick(w.oauth))}[kind]

    def kafka_auth_failure(self) -> Builder:
        w, draw = self.world, self.draw
        template = self.templates["ka_fail"]

        def build(rid, ts):
            line = template % {"id": rid, "time": ts, "lkc": draw.pick(w.clusters), "principal": "None:UNKNOWN_USER",
                               "ident": draw.text(16, UPPER), "raw_conn": draw.conn(), "ip": draw.ip()}
            return line, "kafka.Authentication", "kafka_authentication", "None:UNKNOWN_USER (UNAUTHENTICATED)"
        return build

    # -- cloud API requests, Schema Registry, Flink and ksqlDB ----------------------------------
    def cloud(self, name: str) -> Builder:
        w, draw, method = self.world, self.draw, CLOUD_METHODS[name]
        template = self.templates[name]
        target_length, alphabet = (16, UPPER) if name == "create_apikey" else (8, ALNUM)

        def build(rid, ts):
            line = template % {"id": rid, "time": ts, "env": draw.pick(w.envs),
                               "raw_principal": draw.pick(w.object_principals)[0], "reqhex": draw.reqhex(),
                               "ip": draw.ip(), "target": draw.text(target_length, alphabet)}
            return line, method, None, None
        return build

    def schema_registry(self, name: str) -> Builder:
        w, draw, method = self.world, self.draw, SCHEMA_REGISTRY_METHODS[name]
        template = self.templates[name]

        def build(rid, ts):
            sa = draw.pick(w.service_accounts)
            line = template % {"id": rid, "time": ts, "env": draw.pick(w.envs), "lsrc": draw.pick(w.schema_registries),
                               "raw_principal": service_account_principal(sa), "ident": w.api_keys[sa],
                               "reqhex": draw.reqhex(), "ip": draw.ip()}
            return line, method, None, None
        return build

    def flink(self, name: str) -> Builder:
        w, draw, method = self.world, self.draw, FLINK_EVENTS[name][0]
        template = self.templates[name]

        def build(rid, ts):
            line = template % {"id": rid, "time": ts, "env": draw.pick(w.envs), "region": draw.pick(REGIONS),
                               "raw_principal": draw.pick(w.object_principals)[0], "reqhex": draw.reqhex(),
                               "ip": draw.ip()}
            return line, method, None, None
        return build

    # -- the rare ones --------------------------------------------------------------------------
    def kafka_authz(self) -> Builder:
        w, draw = self.world, self.draw
        template = self.templates["kafka_authz"]

        def build(rid, ts):
            uid = draw.pick(w.users)[0]
            line = template % {"id": rid, "time": ts, "env": draw.pick(w.envs), "lkc": draw.pick(w.clusters),
                               "principal": "User:" + str(100000 + int(draw.random() * 900000)), "prid": uid,
                               "topic": draw.pick(TOPICS), "raw_conn": draw.conn()}
            return line, "kafka.CreateTopics", None, None
        return build

    def ipfilter(self) -> Builder:
        draw, user = self.draw, self.user
        template = self.templates["ipfilter"]

        def build(rid, ts):
            uid, _ = user()
            line = template % {"id": rid, "time": ts, "raw_principal": '{"confluentUser":{"resourceId":"%s"}}' % uid,
                               "target": uid, "reqhex": draw.reqhex(), "ip": draw.ip()}
            return line, "ip-filter.Authorize", None, None
        return build

    # -- SignIn ---------------------------------------------------------------------------------
    def signin(self, kind: str) -> Builder:
        draw, user = self.draw, self.user
        template = self.templates["signin"]
        outcome = self._signin_success if kind in SIGNIN_SUCCESSES else self._signin_failure

        def build(rid, ts):
            uid, email = user()
            authinfo, result, section, key = outcome(kind, uid, email)
            line = template % {"id": rid, "time": ts, "target": uid, "raw_authinfo": authinfo, "raw_result": result,
                               "reqhex": draw.reqhex(), "ip": draw.ip()}
            return line, "SignIn", section, key
        return build

    def _signin_success(self, kind: str, uid: str, email: str) -> tuple[str, str, str | None, str | None]:
        """(authenticationInfo, result, section, row key) of a sign-in that did not fail."""
        principal, who = user_principal(uid, email), email
        if kind == "ok_noemail":
            principal, who = self.draw.pick(self.world.rare_principals)
        auth_result, status, section = SIGNIN_SUCCESSES[kind]
        if auth_result is None:
            authinfo = '{"principal":%s}' % principal
        else:
            authinfo = '{"principal":%s,"result":"%s"}' % (principal, auth_result)
        return authinfo, '{"status":"%s","data":{}}' % status, section, (who if section else None)

    def _signin_failure(self, kind: str, uid: str, email: str) -> tuple[str, str, str, str]:
        """(authenticationInfo, result, section, row key) of a failed sign-in."""
        principal, who = '{"email":%s}' % json_string(email), email
        status = self.draw.pick(SIGNIN_STATUSES)
        result, shown = SIGNIN_FAILURES[kind]
        if kind == "fail_noemail":
            principal, who = self.draw.pick(self.world.rare_principals)
            authinfo = '{"principal":%s,"result":"FAILURE"}' % principal
        elif kind == "fail_fallback":
            authinfo = '{"principal":%s}' % principal
        else:
            authinfo = '{"principal":%s,"result":"FAILURE"%s}' % (principal, WRONG_CREDENTIALS)
        key = who if shown is None else "%s (%s)" % (who, shown.replace("<<status>>", status))
        return authinfo, result.replace("<<status>>", status), "signin_failure", key


def _oauth_client(client: tuple[str, str]) -> tuple[str, str, str]:
    number, uid = client
    return number, uid, number
