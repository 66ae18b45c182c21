"""The crowd (``--crowd``): one large organization, with many principals, keys and resources.

3,000 service accounts (each with one to three API keys), 2,000 users, 4,000 topics, 1,500
consumer groups and 23,000 client addresses. Which principal acts in a record is drawn
Zipf-weighted (s = 1.0): every principal has one rank in the organization (the users and
service accounts shuffled together), weight 1/rank, and a draw among the users only (or the
service accounts only) keeps those weights. A draw is one bisect in precomputed cumulative
weights.

The organization is one and the same in every crowd dump: ``create`` draws it, in a fixed
order, from its own generator (``ORGANIZATION_SEED``), not from the run's seed, which draws
the records only. So crowd dumps of several seeds (the weeks of benchmarks/large_store.py
--crowd, the day appended to them) are one organization's, as a store of real dumps is. The
default generator never comes here, so its output is unchanged.
"""
from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .world import (
    FIRST,
    LAST,
    SPECIAL_EMAILS,
    UPPER,
    Draw,
    World,
    places,
    random_id,
    rare_principals,
    service_account_principal,
    user_principal,
)

USERS = 2000
SERVICE_ACCOUNTS = 3000
TOPICS = 4000
GROUPS = 1500
IPV4, IPV6 = 21_000, 2_000  # client addresses
OAUTH_CLIENTS = 60
ZIPF_S = 1.0
ORGANIZATION_SEED = 5000  # the crowd's organization, whatever the run's seed
CONN_TEXT_SHARE = 0.3  # connection ids of 50 characters; the others are numbers of 18 or 19 digits

MORE_FIRST = ("aaron", "beatriz", "chen", "dmitri", "elif", "fatima", "gustav", "hana", "ines", "jonas", "kenji",
              "leila", "marek", "nadia", "oskar", "paula", "quentin", "rosa", "santiago", "tomasz", "ursula",
              "vikram", "wen", "xavier", "yusuf", "zainab", "arjun", "birgit", "camille", "diego", "astrid",
              "bjorn", "chiara", "darius", "esther", "felix", "giulia", "hugo", "ingrid", "jakob")
MORE_LAST = ("andersson", "becker", "costa", "dimitrov", "eriksen", "fischer", "gonzalez", "hoffmann", "ivanova",
             "johansson", "kim", "larsen", "moreau", "nguyen", "oconnor", "petrov", "quinn", "richter", "santos",
             "schmidt", "takahashi", "ueda", "vasquez", "weber", "yamamoto", "zimmermann", "bauer", "chopra",
             "delacroix", "esposito", "fernandes", "gruber", "horvat", "ito", "jovanovic", "keller", "lopez",
             "meyer", "nowak", "olsen")
DOMAINS = ("example.com", "corp.example.com", "example.co.uk", "subsidiary.example.net")
# topic names: <domain>.<entity><suffix>
TOPIC_DOMAINS = ("payments", "orders", "inventory", "shipping", "customers", "billing", "fraud", "risk", "ledger",
                 "pricing", "catalog", "search", "recommendations", "marketing", "crm", "support", "telemetry",
                 "iot", "logistics", "warehouse", "returns", "loyalty", "identity", "notifications", "analytics",
                 "clickstream", "mobile", "web", "partners", "compliance")
TOPIC_ENTITIES = ("events", "commands", "snapshots", "updates", "created", "updated", "deleted", "state", "audit",
                  "metrics", "alerts", "transactions", "accounts", "sessions", "devices", "invoices", "refunds",
                  "shipments", "items", "prices", "profiles", "consents", "scores", "decisions", "requests",
                  "responses", "errors", "heartbeats", "positions", "balances", "settlements", "chargebacks",
                  "subscriptions", "carts", "checkouts", "reviews", "tickets", "messages", "locations", "readings")
TOPIC_SUFFIXES = ("", ".v1", ".v2", ".v3", "-raw", "-enriched", "-dlq", ".changelog", "-compacted", "_eu", "_us",
                  "-retry")
GROUP_SERVICES = ("api", "worker", "stream", "etl", "sync", "indexer", "notifier", "scorer", "router", "archiver",
                  "aggregator", "enricher", "validator", "exporter", "importer", "reconciler", "dispatcher",
                  "monitor", "planner", "billing-job", "ml-feature", "cdc", "mirror", "backfill", "replay")
GROUP_ROLES = ("consumer", "processor", "sink", "reader", "ingest", "connector")
IPV4_PREFIXES = ("34.90", "34.141", "35.157", "52.28", "54.93", "81.169", "85.214", "91.198", "104.196", "146.148",
                 "185.199", "198.51", "203.0", "212.227", "3.120", "18.184")


class Weighted:
    """Draw one of ``items`` with the given weights: a bisect in the cumulative weights."""

    def __init__(self, items: Sequence, weights: Sequence[float]):
        if not items or len(items) != len(weights):
            raise ValueError("items and weights must be non-empty and alike in length")
        # a draw that rounds up to the total lands on the last item, not past the end
        self.items = list(items) + [items[-1]]
        self.cumulative = list(itertools.accumulate(weights))
        self.total = self.cumulative[-1]

    def __len__(self) -> int:
        return len(self.items) - 1

    def picker(self, random_: Callable[[], float]) -> Callable[[], object]:
        items, cumulative, total, bisect_ = self.items, self.cumulative, self.total, bisect.bisect

        def pick():
            return items[bisect_(cumulative, random_() * total)]
        return pick


def zipf_weights(n: int, s: float = ZIPF_S, first_rank: int = 1) -> list[float]:
    return [1.0 / (r ** s) for r in range(first_rank, first_rank + n)]


@dataclass(frozen=True)
class Crowd:
    """The crowd's vocabulary beside ``world`` (the world's fields, crowd-sized, for the
    builders the crowd shares with the default mix)."""

    world: World
    users: Weighted  # of (u-..., email), Zipf by rank
    service_accounts: Weighted  # of sa-..., Zipf by rank (the metrics and burst accounts aside)
    ids: Weighted  # of the ids of every user and service account, Zipf by rank
    objects: Weighted  # of the cloud events' principal JSON fragments, Zipf by rank
    sa_keys: dict[str, tuple[str, ...]]  # service account -> its API keys
    topics: list[str]
    groups: list[str]
    ips: list[str]

    @classmethod
    def create(cls, rnd: random.Random) -> Crowd:
        org, envs, clusters, registries = places(rnd, 12, 40, 8)
        users = _users(rnd)
        sas = _unique(rnd, lambda: "sa-" + random_id(rnd, 6), SERVICE_ACCOUNTS)
        all_keys = iter(_unique(rnd, lambda: random_id(rnd, 16, UPPER), 3 * SERVICE_ACCOUNTS + 1))
        burst_key = next(all_keys)
        sa_keys = {sa: tuple(next(all_keys) for _ in range(rnd.randint(1, 3))) for sa in sas}
        api_keys = {sa: keys[0] for sa, keys in sa_keys.items()}
        oauth = [(str(n), uid) for n, (uid, _) in zip(rnd.sample(range(100000, 1000000), OAUTH_CLIENTS),
                                                        rnd.sample(users, OAUTH_CLIENTS))]
        pool = "pool-" + random_id(rnd, 4)
        rare = rare_principals(pool, users, sas)
        # the ranks: users and service accounts (but the metrics and burst ones) shuffled together
        people = [(True, u) for u in users] + [(False, sa) for sa in sas[2:]]
        rnd.shuffle(people)
        weights = zipf_weights(len(people))
        ranked_users = [(u, w) for (is_user, u), w in zip(people, weights) if is_user]
        ranked_sas = [(sa, w) for (is_user, sa), w in zip(people, weights) if not is_user]
        ids = [u[0] if is_user else u for is_user, u in people]
        objects = [(user_principal(*u) if is_user else service_account_principal(u)) for is_user, u in people]
        world = World(org, envs, clusters, registries, users, sas, burst_key, api_keys, oauth,
                      [(o, i) for o, i in zip(objects, ids)], rare)
        return cls(world,
                   Weighted([u for u, _ in ranked_users], [w for _, w in ranked_users]),
                   Weighted([sa for sa, _ in ranked_sas], [w for _, w in ranked_sas]),
                   Weighted(ids, weights), Weighted(objects, weights), sa_keys,
                   _topics(rnd), _groups(rnd), _ips(rnd))


def _unique(rnd: random.Random, make: Callable[[], str], n: int) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        x = make()
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def _users(rnd: random.Random) -> list[tuple[str, str]]:
    """2,000 users with distinct ids and emails: first.last (sometimes with a number) at one of
    a few domains, and the special emails of the default world."""
    first, last = FIRST + MORE_FIRST, LAST + MORE_LAST

    def email():
        number = str(rnd.randint(2, 99)) if rnd.random() < 0.2 else ""
        return "%s.%s%s@%s" % (rnd.choice(first), rnd.choice(last), number, rnd.choice(DOMAINS))
    emails = _unique(rnd, email, USERS - len(SPECIAL_EMAILS)) + list(SPECIAL_EMAILS)
    ids = _unique(rnd, lambda: "u-" + random_id(rnd, 6), USERS)
    return list(zip(ids, emails))


def _topics(rnd: random.Random) -> list[str]:
    d, e, s = len(TOPIC_DOMAINS), len(TOPIC_ENTITIES), len(TOPIC_SUFFIXES)
    out = []
    for i in rnd.sample(range(d * e * s), TOPICS):
        a, rest = divmod(i, e * s)
        b, c = divmod(rest, s)
        out.append(TOPIC_DOMAINS[a] + "." + TOPIC_ENTITIES[b] + TOPIC_SUFFIXES[c])
    return out


def _groups(rnd: random.Random) -> list[str]:
    """Consumer groups: <service>-<domain>-<role>, a tenth of them a connector's or ksqlDB's."""
    kinds = len(GROUP_SERVICES) * len(TOPIC_DOMAINS) * len(GROUP_ROLES)
    out = []
    for i in rnd.sample(range(kinds), GROUPS - GROUPS // 10):
        a, rest = divmod(i, len(TOPIC_DOMAINS) * len(GROUP_ROLES))
        b, c = divmod(rest, len(GROUP_ROLES))
        out.append("%s-%s-%s" % (GROUP_SERVICES[a], TOPIC_DOMAINS[b], GROUP_ROLES[c]))
    special = _unique(rnd, lambda: rnd.choice(("connect-lcc-", "_confluent-ksql-pksqlc-", "confluent_cli_consumer_"))
                      + random_id(rnd, 5 if rnd.random() < 0.7 else 12), GROUPS // 10)
    return out + special


def _ips(rnd: random.Random) -> list[str]:
    v4 = ["%s.%d.%d" % (IPV4_PREFIXES[i >> 16], (i >> 8) & 255, i & 255)
          for i in rnd.sample(range(len(IPV4_PREFIXES) << 16), IPV4)]
    v6 = ["2001:db8:%x:%x::%x" % (i >> 20, (i >> 8) & 0xFFF, i & 0xFF) for i in rnd.sample(range(1 << 28), IPV6)]
    ips = v4 + v6
    rnd.shuffle(ips)
    return ips


class CrowdDraw(Draw):
    """The default draws, with the crowd's client addresses and connection ids."""

    def __init__(self, rnd: random.Random, crowd: Crowd):
        super().__init__(rnd)
        ips, random_, getrandbits = crowd.ips, self.random, rnd.getrandbits
        n = len(ips)

        def ip() -> str:
            return ips[int(random_() * n)]

        def conn() -> str:
            """A raw JSON value: a number of 18 or 19 digits, or a string of 50 characters."""
            u = random_()
            if u < CONN_TEXT_SHARE:
                return '"%050x"' % getrandbits(200)
            if u < (1 + CONN_TEXT_SHARE) / 2:
                return str(10**17 + getrandbits(63) % (9 * 10**17))
            return str(10**18 + getrandbits(64) % (9 * 10**18))
        self.ip, self.conn = ip, conn  # type: ignore[method-assign]
