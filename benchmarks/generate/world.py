"""Who and what the generated records talk about: one organization with its environments,
clusters, users and service accounts, all drawn from the run's seed.

``World.create`` makes its random draws in a fixed order; every later draw depends on it, so
changing that order changes every dump generated from a given seed.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass

ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

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
INTERNAL_OPS = ("Describe", "View", "AccessWithToken")  # what the internal accounts check
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
REGIONS = ("AWS.eu-central-1", "AWS.us-east-1", "GCP.europe-west3")
TOPICS = ("orders", "payments", "clickstream.v2", "inventory-updates")
PLAIN_USERS = 40
SERVICE_ACCOUNTS = 15

_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID_SET = (0x4 << 76) | (0x2 << 62)


def random_id(rnd: random.Random, length: int, alphabet: str = ALNUM) -> str:
    return "".join(rnd.choice(alphabet) for _ in range(length))


def uuid4(rnd: random.Random) -> str:
    """A version-4 UUID from ``rnd`` (reproducible, unlike uuid.uuid4)."""
    h = "%032x" % ((rnd.getrandbits(128) & _UUID_CLEAR) | _UUID_SET)
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def places(rnd: random.Random, envs: int, clusters: int, registries: int) -> tuple:
    """An organization's id and its environments, clusters and schema registries, drawn in that order."""
    return (uuid4(rnd), ["env-" + random_id(rnd, 5) for _ in range(envs)],
            ["lkc-" + random_id(rnd, 5) for _ in range(clusters)],
            ["lsrc-" + random_id(rnd, 5) for _ in range(registries)])


def rare_principals(pool: str, users: list[tuple[str, str]], sas: list[str]) -> list[tuple[str, str]]:
    """The odd principals of cloud events (JSON fragment, row key): an external account, an
    identity pool, and a user and a service account whose ids carry a ``User:`` prefix."""
    return [
        ('{"externalAccount":{"namespace":[{"type":"idp","id":"confluent.cloud"}],"subject":"bob.builder"}}',
         "bob.builder"),
        ('{"identityPool":{"resourceId":"%s"}}' % pool, pool),
        ('{"confluentUser":{"resourceId":"User:%s"}}' % users[3][0], users[3][0]),
        ('{"confluentServiceAccount":{"resourceId":"User:%s"}}' % sas[4], sas[4]),
    ]


def json_string(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def user_principal(uid: str, email: str) -> str:
    """The object principal of a user in cloud-style events (a JSON fragment)."""
    return '{"email":%s,"confluentUser":{"resourceId":"%s"}}' % (json_string(email), uid)


def service_account_principal(sa: str) -> str:
    return '{"confluentServiceAccount":{"resourceId":"%s"}}' % sa


@dataclass(frozen=True)
class World:
    org: str
    envs: list[str]
    clusters: list[str]  # lkc-...
    schema_registries: list[str]  # lsrc-...
    users: list[tuple[str, str]]  # (u-..., email)
    service_accounts: list[str]
    burst_key: str  # the API key the misbehaving service account reconnects with
    api_keys: dict[str, str]  # service account -> its API key
    oauth: list[tuple[str, str]]  # (numeric principal, user id) of OAuth clients
    # (JSON fragment, identity shown in sign-in keys) of the cloud events' principals
    object_principals: list[tuple[str, str]]
    rare_principals: list[tuple[str, str]]  # external account, identity pool, "User:" prefixed ids

    @property
    def metrics_sa(self) -> str:
        """Does about half of all mds.Authorize (AccessMetrics)."""
        return self.service_accounts[0]

    @property
    def burst_sa(self) -> str:
        """Reconnects every second during the burst hours."""
        return self.service_accounts[1]

    @property
    def other_sas(self) -> list[str]:
        return self.service_accounts[2:]

    @classmethod
    def create(cls, rnd: random.Random) -> World:
        org, envs, clusters, registries = places(rnd, 3, 4, 2)
        users = _users(rnd)
        sas = ["sa-" + random_id(rnd, 6) for _ in range(SERVICE_ACCOUNTS)]
        burst_key = random_id(rnd, 16, UPPER)
        api_keys = {sa: random_id(rnd, 16, UPPER) for sa in sas}
        oauth = [(str(rnd.randrange(100000, 999999)), uid) for uid, _ in users[:6]]
        objects = [(user_principal(uid, email), email) for uid, email in users]
        objects += [(service_account_principal(sa), sa) for sa in sas]
        pool = "pool-" + random_id(rnd, 4)
        rare = rare_principals(pool, users, sas)
        return cls(org, envs, clusters, registries, users, sas, burst_key, api_keys, oauth, objects, rare)


def _users(rnd: random.Random) -> list[tuple[str, str]]:
    """40 distinct first.last@example.com users, then the special emails, each with an id."""
    users: list[tuple[str, str]] = []
    seen = set()
    while len(users) < PLAIN_USERS:
        email = "%s.%s@example.com" % (rnd.choice(FIRST), rnd.choice(LAST))
        if email not in seen:
            seen.add(email)
            users.append(("u-" + random_id(rnd, 6), email))
    return users + [("u-" + random_id(rnd, 6), email) for email in SPECIAL_EMAILS]


class Draw:
    """The small random values inside records, drawn from the run's generator."""

    def __init__(self, rnd: random.Random):
        self.rnd = rnd
        self.random = random_ = rnd.random

        def pick(seq):  # a plain function: records call it several times each
            return seq[int(random_() * len(seq))]
        self.pick = pick

    def ip(self) -> str:
        r = self.random
        return "203.0.%d.%d" % (int(r() * 256), 1 + int(r() * 254))

    def reqhex(self) -> str:
        return "%032x" % self.rnd.getrandbits(128)

    def conn(self) -> int:
        return 171234567890100000 + self.rnd.getrandbits(40)

    def uuid4(self) -> str:
        return uuid4(self.rnd)

    def text(self, length: int, alphabet: str = ALNUM) -> str:
        return random_id(self.rnd, length, alphabet)
