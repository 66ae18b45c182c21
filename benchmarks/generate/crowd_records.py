"""The crowd's record builders and mix (``--crowd``): the default kinds, over the crowd's
principals (drawn Zipf-weighted, crowd.py) and the wider vocabularies of crowd_methods.py.

Builders return what the default ones do (records.py): ``(line, methodName, section id or
None, row key or None)``, the row key made from the same values the line is, so the truth
stays exact. The kinds that the crowd does not change (failed Kafka authentications, the
outcomes of sign-ins) are the default builders themselves.
"""
from __future__ import annotations

import random

from .crowd import ORGANIZATION_SEED, Crowd, CrowdDraw, Weighted
from .crowd_methods import (
    CLIENT_IDS,
    CLIENT_SOFTWARE,
    CLOUD_OP_WEIGHTS,
    CLOUD_OPS,
    FLINK,
    KAFKA_REQUESTS,
    MDS_RESOURCES,
    ROLES,
    SCHEMA_REGISTRY,
    USER_AGENTS,
    cloud_methods,
    compile_crowd_templates,
)
from .records import CLOUD_METHODS, Builder, Mix, Records, Variant
from .world import ALNUM, INTERNAL, INTERNAL_OPS, REGIONS, UPPER, World, service_account_principal

# (name, relative weight); the default kinds, the families of methods each one variant
CROWD_MIX = (
    ("mds_metrics", 150), ("mds_user", 170), ("mds_sa", 200), ("mds_denied", 25), ("mds_internal", 10),
    ("mds_noop", 0.5), ("ka_ok", 140), ("ka_oauth", 6), ("ka_fail", 3), ("ka_noresult", 0.2),
    ("sr_auth", 30), ("sr_request", 15), ("flink", 35), ("kafka_request", 25), ("cloud_api", 90),
    ("get_clusters", 8), ("get_envs", 4), ("list_statements", 8), ("get_statement", 6), ("create_statement", 1),
    ("create_pool", 0.3), ("create_apikey", 0.5), ("bind_role", 0.3), ("mcp_call", 0.2), ("privileged", 0.1),
    ("ipfilter", 0.3), ("signin_ok", 45), ("signin_ok_fallback", 2), ("signin_ok_noemail", 1),
    ("signin_unset", 0.5), ("signin_fail", 12), ("signin_fail_noerrors", 2), ("signin_fail_nostatus", 1),
    ("signin_fail_second", 0.5), ("signin_fail_empty", 0.5), ("signin_fail_fallback", 0.5),
    ("signin_fail_noemail", 0.5),
)
# what a user's and a service account's mds.Authorize checks are about (MDS_RESOURCES)
USER_RESOURCES = ("topic",) * 5 + ("group",) * 2 + ("cloud",) * 8 + ("env",) * 5
SA_RESOURCES = ("topic",) * 11 + ("group",) * 6 + ("cluster",) * 2 + ("cloud",)
PREFIXED_SHARE = 0.05  # topic checks on a prefix of topics rather than one


def crowd_records(rnd: random.Random) -> tuple[World, CrowdRecords, CrowdDraw]:
    """The crowd's world (the same organization for every seed), its builders and its draw
    (from ``rnd``, the run's generator)."""
    crowd = Crowd.create(random.Random(ORGANIZATION_SEED))
    draw = CrowdDraw(rnd, crowd)
    return crowd.world, CrowdRecords(crowd, draw), draw


def _weighted_ops(ops, weights) -> tuple[str, ...]:
    """A tuple in which each operation occurs in proportion to its weight (for a plain pick)."""
    return tuple(op for op, w in zip(ops, weights) for _ in range(max(1, round(w))))


class CrowdRecords(Records):
    def __init__(self, crowd: Crowd, draw: CrowdDraw):
        super().__init__(crowd.world, compile_crowd_templates(crowd.world.org), draw)
        self.crowd = crowd
        r = draw.random
        self.user = crowd.users.picker(r)
        self.sa = crowd.service_accounts.picker(r)
        self.any_id = crowd.ids.picker(r)
        self.object = crowd.objects.picker(r)
        self.ops = {k: _weighted_ops(*spec[2:]) if spec[2] else _weighted_ops(CLOUD_OPS, CLOUD_OP_WEIGHTS)
                    for k, spec in MDS_RESOURCES.items()}

    def mix(self) -> Mix:
        return Mix([Variant(name, weight, self.builder(name)) for name, weight in CROWD_MIX])

    def builder(self, name: str) -> Builder:
        extra = {"sr_request": self.schema_registry_request, "flink": self.flink_family,
                 "kafka_request": self.kafka_request, "cloud_api": self.cloud_api}
        return extra[name]() if name in extra else super().builder(name)

    def _family(self, methods: list[tuple[str, float]], template_prefix: str):
        """A picker of (method, its template) Zipf-weighted by the methods' order."""
        return Weighted([(m, self.templates[template_prefix + m]) for m, _ in methods],
                        [w for _, w in methods]).picker(self.draw.random)

    # -- mds.Authorize ------------------------------------------------------------------------
    def mds(self, kind: str) -> Builder:
        """kind: metrics (the default's), user, sa, internal, denied or noop."""
        if kind == "metrics":
            return super().mds(kind)
        w, draw, crowd = self.world, self.draw, self.crowd
        pick, r, uuid4, ip = draw.pick, draw.random, draw.uuid4, draw.ip
        templates, ops, topics, groups = self.templates, self.ops, crowd.topics, crowd.groups
        resources = {"user": USER_RESOURCES, "sa": SA_RESOURCES, "denied": SA_RESOURCES + USER_RESOURCES,
                     "internal": ("cloud",), "noop": ("cloud",)}[kind]
        who = {"user": lambda: self.user()[0], "sa": self.sa, "denied": self.any_id,
               "internal": lambda: pick(INTERNAL), "noop": self.any_id}[kind]
        prefix = "mds_denied:" if kind == "denied" else "mds:"

        def build(rid, ts):
            pid = who()
            resource = pick(resources)
            env, lkc = pick(w.envs), pick(w.clusters)
            pattern = "LITERAL"
            if resource == "topic":
                rname = pick(topics)
                if r() < PREFIXED_SHARE:
                    rname, pattern = rname.split(".")[0] + ".", "PREFIXED"
            else:
                rname = pick(groups) if resource == "group" else (
                    lkc if resource in ("cloud", "cluster") else env)
            if kind == "noop":
                template, op = templates["mds_noop"], "(none)"
            else:
                template = templates[prefix + resource]
                op = pick(INTERNAL_OPS) if kind == "internal" else pick(ops[resource])
            swname, swversion = pick(CLIENT_SOFTWARE)
            line = template % {"id": rid, "time": ts, "env": env, "lkc": lkc, "principal": "User:" + pid, "op": op,
                               "rname": rname, "pattern": pattern, "role": pick(ROLES), "corr": int(r() * 100000),
                               "client": pick(CLIENT_IDS), "swname": swname, "swversion": swversion,
                               "reqid": uuid4(), "ip": ip()}
            return line, "mds.Authorize", "mds_authorize", pid + "-" + op
        return build

    # -- kafka.Authentication -----------------------------------------------------------------
    def kafka_auth(self, kind: str) -> Builder:
        """kind: ok and noresult (a service account with one of its API keys), oauth, burst (the
        misbehaving service account, with the key it reconnects with) or fail (the default's)."""
        if kind == "fail":
            return self.kafka_auth_failure()
        w, draw, sa_keys, sa_pick = self.world, self.draw, self.crowd.sa_keys, self.sa
        pick, conn, ip, r = draw.pick, draw.conn, draw.ip, draw.random
        template = self.templates["ka:" + ("ok" if kind == "burst" else kind)]

        def service_account():
            sa = sa_pick()
            return sa, sa, pick(sa_keys[sa])

        who = self.kafka_principal(kind, service_account)

        def build(rid, ts):
            principal, prid, ident = who()
            env, lkc = (w.envs[0], w.clusters[0]) if kind == "burst" else (pick(w.envs), pick(w.clusters))
            swname, swversion = pick(CLIENT_SOFTWARE)
            line = template % {"id": rid, "time": ts, "env": env, "lkc": lkc, "principal": "User:" + principal,
                               "prid": prid, "ident": ident, "raw_conn": conn(), "ip": ip(),
                               "corr": int(r() * 100000), "client": pick(CLIENT_IDS), "swname": swname,
                               "swversion": swversion}
            return line, "kafka.Authentication", "kafka_authentication", principal
        return build

    # -- cloud API requests, Schema Registry, Flink and ksqlDB ----------------------------------
    def cloud(self, name: str) -> Builder:
        """The default's named cloud requests, by the crowd's principals."""
        w, draw, method, obj = self.world, self.draw, CLOUD_METHODS[name], self.object
        template = self.templates[name]
        target_length, alphabet = (16, UPPER) if name == "create_apikey" else (8, ALNUM)

        def build(rid, ts):
            line = template % {"id": rid, "time": ts, "env": draw.pick(w.envs), "raw_principal": obj(),
                               "reqhex": draw.reqhex(), "ip": draw.ip(), "target": draw.text(target_length, alphabet)}
            return line, method, None, None
        return build

    def cloud_api(self) -> Builder:
        w, draw, obj = self.world, self.draw, self.object
        pick, text = draw.pick, draw.text
        methods = cloud_methods()
        family = Weighted([(m, self.templates["cloud:" + m], prefix) for m, _, _, prefix, _ in methods],
                          [weight for *_, weight in methods]).picker(draw.random)

        def build(rid, ts):
            method, template, prefix = family()
            target = prefix + text(8) if prefix else text(16, UPPER)
            line = template % {"id": rid, "time": ts, "env": pick(w.envs), "raw_principal": obj(),
                               "reqhex": draw.reqhex(), "ip": draw.ip(), "target": target, "agent": pick(USER_AGENTS)}
            return line, method, None, None
        return build

    def schema_registry(self, name: str) -> Builder:
        """sr_auth and sr_search of the default, by the crowd's service accounts."""
        method = {"sr_auth": "schema-registry.Authentication",
                  "sr_search": "schema-registry.SearchCatalogUsingAttributes"}[name]
        return self._schema_registry(lambda: (method, self.templates["sr:" + method]))

    def schema_registry_request(self) -> Builder:
        methods = [m for m in SCHEMA_REGISTRY if m != "schema-registry.Authentication"]
        return self._schema_registry(self._family([(m, 1 / (1 + i)) for i, m in enumerate(methods)], "sr:"))

    def _schema_registry(self, method_and_template) -> Builder:
        w, draw, sa_keys, sa_pick = self.world, self.draw, self.crowd.sa_keys, self.sa
        pick = draw.pick

        def build(rid, ts):
            method, template = method_and_template()
            sa = sa_pick()
            line = template % {"id": rid, "time": ts, "env": pick(w.envs), "lsrc": pick(w.schema_registries),
                               "raw_principal": service_account_principal(sa), "ident": pick(sa_keys[sa]),
                               "reqhex": draw.reqhex(), "ip": draw.ip(), "agent": pick(USER_AGENTS)}
            return line, method, None, None
        return build

    def flink_family(self) -> Builder:
        w, draw, obj = self.world, self.draw, self.object
        pick = draw.pick
        family = self._family([(m, 1 / (1 + i)) for i, m in enumerate(FLINK)], "flink:")

        def build(rid, ts):
            method, template = family()
            line = template % {"id": rid, "time": ts, "env": pick(w.envs), "region": pick(REGIONS),
                               "raw_principal": obj(), "reqhex": draw.reqhex(), "ip": draw.ip(),
                               "agent": pick(USER_AGENTS)}
            return line, method, None, None
        return build

    # -- the rare ones --------------------------------------------------------------------------
    def kafka_request(self) -> Builder:
        """kafka.CreateTopics and its kin, by service accounts."""
        w, draw, crowd, sa_pick = self.world, self.draw, self.crowd, self.sa
        pick, r = draw.pick, draw.random
        names = list(KAFKA_REQUESTS)
        family = Weighted([(m, *KAFKA_REQUESTS[m]) for m in names],
                          [1 / (1 + i) for i in range(len(names))]).picker(r)
        templates = {kind: self.templates["kafka:" + kind] for kind in ("topic", "group", "cluster")}

        def build(rid, ts):
            method, op, rtype, kind = family()
            sa, lkc = sa_pick(), pick(w.clusters)
            rname = pick(crowd.topics) if kind == "topic" else pick(crowd.groups) if kind == "group" else lkc
            swname, swversion = pick(CLIENT_SOFTWARE)
            line = templates[kind] % {"id": rid, "time": ts, "env": pick(w.envs), "lkc": lkc, "method": method,
                                      "principal": "User:" + sa, "prid": sa, "op": op, "rtype": rtype,
                                      "rname": rname, "role": pick(ROLES), "corr": int(r() * 100000),
                                      "client": pick(CLIENT_IDS), "swname": swname, "swversion": swversion,
                                      "raw_conn": draw.conn(), "ip": draw.ip()}
            return line, method, None, None
        return build
