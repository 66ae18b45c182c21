"""What ccaudit stores and reports, as data: sections, the store's tables and the
positions of a classified row. Imports nothing of ccaudit, so every layer can use it.

A classified row is one flat tuple per event: the eight event columns first (positions
named below), then the columns of the section's detail table that ``all_events`` lacks.
"""
from __future__ import annotations

LAYOUT_VERSION = 10  # PRAGMA user_version of the store layout in TABLES
READ_AS_IS = (8, 9)  # read as they are; a load brings them to this layout first (upgrade.py)
MAX_RECORD = 16 * 2**20  # bytes; no real record comes near this, every input shape refuses more
QUARTER = 900  # the finest bucket reports need: every zone's offset is whole quarter hours
DAY = 86_400  # a row of counts is one UTC day of one key

SECTIONS = {  # id -> title, in report order; the ids are part of the interface
    "kafka_authentication": "Kafka Authentication",
    "mds_authorize": "MDS Authorize",
    "signin_failure": "Sign-In Failure",
    "signin_success": "Sign-In Success",
    "all_events": "All Audit Events",
}

# -- a classified row ---------------------------------------------------------------------

EVENT_COLUMNS = ("hour", "id", "ts", "time", "method", "principal", "section", "key")
HOUR, ID, TS, TIME, METHOD, PRINCIPAL, SECTION, KEY = range(len(EVENT_COLUMNS))
AUTH_COLUMNS = ("identifier", "principal_resource_id", "connection_id", "status", "granted", "operation",
                "resource_type", "resource_name", "pattern_type")
SIGNIN_COLUMNS = ("email", "outcome", "client_ip", "status")
FAILURE_COLUMNS = ("error_status", "error_detail")

ROW_COLUMNS = {  # section of the row ('' for none but all_events) -> its columns, in order
    "": EVENT_COLUMNS,
    "kafka_authentication": EVENT_COLUMNS + AUTH_COLUMNS,
    "mds_authorize": EVENT_COLUMNS + AUTH_COLUMNS,
    "signin_success": EVENT_COLUMNS + SIGNIN_COLUMNS,
    "signin_failure": EVENT_COLUMNS + SIGNIN_COLUMNS + FAILURE_COLUMNS,
}

# -- the store ----------------------------------------------------------------------------
#
# One B-tree per event: ``events`` is keyed by its identity (hour, id) WITHOUT ROWID, and
# holds numbers only, but for the connection id. Everything that repeats (section, key,
# method and principal; the details of an auth or sign-in event) is kept once, in ``keys``
# and ``details``, and referenced by number; each is unique by the ``digest`` of its
# text (numbering.py). ``counts`` is what reports read: events per
# UTC day and key, with the day's hours (on the UTC hour, and 15, 30 and 45 minutes past
# it, for zones off the whole hour) and quarter hours packed (daycounts.py), keyed
# by (day, section, key) so that a section of a report day reads its own rows without
# stepping over the other sections' (a copy of the key's section: reading past them cost
# a third of a report's queries), and ``method_counts`` the same per UTC day and method
# (the all-events section). Created
# with raw DDL: sqlite-utils cannot make WITHOUT ROWID tables. The user-facing tables of
# earlier layouts are views of the same names.

US = 1_000_000  # times are kept in epoch microseconds
LAST_TIME = 32503680000 * US  # 3000-01-01: times from 1970 up to this are believable (and safe to bucket)
HOUR_US = 3600 * US
QUARTER_US = QUARTER * US

# in the order they follow each other in a row; '' for none (the digest of a row is of its text)
KEY_COLUMNS = ("method", "principal", "section", "key")
DETAIL_COLUMNS = ("identifier", "principal_resource_id", "status", "granted", "operation", "resource_type",
                  "resource_name", "pattern_type", "email", "outcome", "client_ip", "error_status",
                  "error_detail")


def _text_columns(columns: tuple[str, ...]) -> str:
    return ", ".join(f"{c} TEXT NOT NULL" for c in columns)


TABLES = {  # name -> its CREATE statement
    "keys": f"CREATE TABLE keys (kid INTEGER PRIMARY KEY, {_text_columns(KEY_COLUMNS)},"
            " digest BLOB NOT NULL UNIQUE)",
    "details": f"CREATE TABLE details (did INTEGER PRIMARY KEY, {_text_columns(DETAIL_COLUMNS)},"
               " digest BLOB NOT NULL UNIQUE)",
    "events": "CREATE TABLE events (hour INTEGER NOT NULL, id NOT NULL, us INTEGER NOT NULL,"
              " kid INTEGER NOT NULL, did INTEGER, connection_id TEXT, PRIMARY KEY (hour, id)) WITHOUT ROWID",
    "counts": "CREATE TABLE counts (day INTEGER NOT NULL, section TEXT NOT NULL, kid INTEGER NOT NULL,"
              " n INTEGER NOT NULL, first_us INTEGER NOT NULL, last_us INTEGER NOT NULL, hours BLOB NOT NULL,"
              " offset_hours BLOB NOT NULL, quarters BLOB NOT NULL, PRIMARY KEY (day, section, kid)) WITHOUT ROWID",
    "method_counts": "CREATE TABLE method_counts (day INTEGER NOT NULL, method TEXT NOT NULL, n INTEGER NOT NULL,"
                     " first_us INTEGER NOT NULL, last_us INTEGER NOT NULL, hours BLOB NOT NULL,"
                     " offset_hours BLOB NOT NULL, quarters BLOB NOT NULL, PRIMARY KEY (day, method)) WITHOUT ROWID",
    "quarters": "CREATE TABLE quarters (quarter INTEGER PRIMARY KEY, n INTEGER NOT NULL, first_us INTEGER NOT NULL,"
                " last_us INTEGER NOT NULL)",
    "meta": "CREATE TABLE meta (name TEXT PRIMARY KEY, value)",
}

_ID = ("CASE WHEN typeof(e.id) = 'blob' THEN lower(substr(hex(e.id), 1, 8) || '-' || substr(hex(e.id), 9, 4)"
       " || '-' || substr(hex(e.id), 13, 4) || '-' || substr(hex(e.id), 17, 4) || '-' || substr(hex(e.id), 21))"
       " ELSE e.id END")
_TIME = "strftime('%Y-%m-%dT%H:%M:%S', e.us / 1000000, 'unixepoch') || printf('.%06dZ', e.us % 1000000)"
_EVENT = f"{_ID} AS id, {_TIME} AS time, k.method, k.principal"
_JOINED = "FROM events e JOIN keys k USING (kid) LEFT JOIN details d USING (did)"


def _nulls(columns: tuple[str, ...], table: str = "d") -> str:
    return ", ".join(f"nullif({table}.{c}, '') AS {c}" for c in columns)


VIEWS = {  # the tables of earlier layouts, for queries written against them
    "all_events": f"SELECT e.hour, {_ID} AS id, e.us, {_TIME} AS time, k.method, k.principal,"
                  f" {_nulls(('section', 'key'), 'k')} FROM events e JOIN keys k USING (kid)",
    "auth_events": f"SELECT {_EVENT}, {_nulls(AUTH_COLUMNS[:2])}, e.connection_id,"
                   f" {_nulls(AUTH_COLUMNS[3:])} {_JOINED}"
                   " WHERE k.section IN ('kafka_authentication', 'mds_authorize')",
    "signin_failures": f"SELECT {_EVENT}, {_nulls(DETAIL_COLUMNS[8:11] + ('status',) + DETAIL_COLUMNS[11:])}"
                       f" {_JOINED} WHERE k.section = 'signin_failure'",
    "signin_successes": f"SELECT {_EVENT}, {_nulls(DETAIL_COLUMNS[8:11] + ('status',))}"
                        f" {_JOINED} WHERE k.section = 'signin_success'",
}
EVENT_TABLES = ("all_events", "auth_events", "signin_failures", "signin_successes")
DETAIL_TABLE = {  # section -> the view that shows its details
    "kafka_authentication": "auth_events",
    "mds_authorize": "auth_events",
    "signin_failure": "signin_failures",
    "signin_success": "signin_successes",
}
