"""What ccaudit stores and reports, as data: sections, the store's tables and the
positions of a classified row. Imports nothing of ccaudit, so every layer can use it.

A classified row is one flat tuple per event: the eight event columns first (positions
named below), then the columns of the section's detail table that ``all_events`` lacks.
"""
from __future__ import annotations

LAYOUT_VERSION = 3  # PRAGMA user_version of the store layout in TABLES
MAX_RECORD = 16 * 2**20  # bytes; no real record comes near this, every input shape refuses more
QUARTER = 900  # the finest bucket reports need: every zone's offset is whole quarter hours

SECTIONS = {  # id -> title, in report order; the ids are part of the interface
    "kafka_authentication": "Kafka Authentication",
    "mds_authorize": "MDS Authorize",
    "signin_failure": "Sign-In Failure",
    "signin_success": "Sign-In Success",
    "all_events": "All Audit Events",
}

SECTION_METHOD = {  # the method each section is limited to (all_events takes every method)
    "kafka_authentication": "kafka.Authentication",
    "mds_authorize": "mds.Authorize",
    "signin_failure": "SignIn",
    "signin_success": "SignIn",
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

TABLES: dict[str, tuple[dict[str, type], tuple[str, ...] | None]] = {  # name: (columns, primary key)
    "all_events": (
        {"hour": int, "id": str, "ts": int, "time": str, "method": str, "principal": str,
         "section": str, "key": str},
        ("hour", "id"),
    ),
    "auth_events": (
        {"id": str, "time": str, "method": str, "principal": str, "identifier": str,
         "principal_resource_id": str, "connection_id": str, "status": str, "granted": str,
         "operation": str, "resource_type": str, "resource_name": str, "pattern_type": str},
        None,
    ),
    "signin_failures": (
        {"id": str, "time": str, "email": str, "principal": str, "outcome": str,
         "client_ip": str, "status": str, "error_status": str, "error_detail": str},
        None,
    ),
    "signin_successes": (
        {"id": str, "time": str, "email": str, "principal": str, "outcome": str,
         "client_ip": str, "status": str},
        None,
    ),
    "counts": (
        {"hour": int, "section": str, "key": str, "n": int, "first_ts": int, "last_ts": int},
        ("hour", "section", "key"),
    ),
}
EVENT_TABLES = ("all_events", "auth_events", "signin_failures", "signin_successes")
DETAIL_TABLE = {  # section -> the table that keeps its details
    "kafka_authentication": "auth_events",
    "mds_authorize": "auth_events",
    "signin_failure": "signin_failures",
    "signin_success": "signin_successes",
}
