"""Audit records and dump files for the tests, built in one place.

A record has the shape of the Confluent Cloud audit log::

    {"id": ..., "time": ..., ["type": ...,]
     "data": {"methodName": ..., ["authenticationInfo": {"principal": ...},] ...}}

* ``record``: any record, field by field; the other builders go through it.
* ``numbered``: a builder of records with ids ``<prefix><n>`` (the same n is the same event,
  so a test can write copies on purpose).
* ``kafka_auth``, ``mds_authorize``, ``signin``, ``request``: one event of each kind the report
  has a section for, with a fresh id from ``new_id`` unless one is given.
* ``json_line``, ``json_lines``, ``write_jsonl``: records as JSON Lines bytes or as a dump file.
* ``audit_message``: the value of one message on the audit-log topic, as ``download`` fetches it.

``ABSENT`` leaves a field out of the record (where ``None`` would write ``null``).
"""
from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable
from pathlib import Path

T = "2024-05-06T10:00:00Z"  # the time of a record when the test does not care

REQUEST = "io.confluent.cloud/request"
AUTHENTICATION = "io.confluent.kafka.server/authentication"
AUTHORIZATION = "io.confluent.kafka.server/authorization"


class _Marker:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


ABSENT = _Marker("ABSENT")  # leave the field out
_DEFAULT = _Marker("DEFAULT")  # work the value out from the other arguments

_ids = itertools.count(1)


def new_id() -> str:
    """A fresh record id, shaped like the UUIDs of the real log (unique in the test session)."""
    return f"f0000000-0000-4000-8000-{next(_ids):012d}"


def record(id: str, time=T, method="GetUsers", *, principal=ABSENT, type=ABSENT, **data) -> dict:
    """One audit record: ``data.methodName`` is ``method``, ``data.authenticationInfo.principal``
    is ``principal`` (no authenticationInfo when ABSENT), and every other keyword is one more
    field of ``data``, in the order given (ABSENT ones left out). ``time`` may be anything,
    a malformed time included."""
    rec: dict = {"id": id, "time": time}
    if type is not ABSENT:
        rec["type"] = type
    body: dict = {"methodName": method}
    if principal is not ABSENT:
        body["authenticationInfo"] = {"principal": principal}
    body.update((k, v) for k, v in data.items() if v is not ABSENT)
    rec["data"] = body
    return rec


def numbered(prefix: str, **defaults) -> Callable[..., dict]:
    """A builder ``rec(n, time, method, **fields)`` of ``record(f"{prefix}{n}", time, method, ...)``.

    ``defaults`` are keywords of ``record`` (time and method too) for every record it builds;
    a call's own arguments win. A default that is a function is called with n, e.g.
    ``principal=lambda n: {"email": f"u{n}@example.com"}``.
    """
    def build(n, time=_DEFAULT, method=_DEFAULT, **fields) -> dict:
        kw = {k: v(n) if callable(v) else v for k, v in defaults.items()}
        kw.update(fields)
        if time is not _DEFAULT:
            kw["time"] = time
        if method is not _DEFAULT:
            kw["method"] = method
        return record(f"{prefix}{n}", **kw)

    return build


def confluent_user(resource_id: str) -> dict:
    """An object principal naming a Confluent Cloud user."""
    return {"confluentUser": {"resourceId": resource_id}}


def kafka_auth(time=T, principal="User:sa-1", status="SUCCESS", *, result=_DEFAULT, id=None, **data) -> dict:
    """A ``kafka.Authentication`` event; ``data.result`` is ``{"status": status}`` unless
    ``result`` gives the whole value (ABSENT: no result)."""
    return record(id or new_id(), time, "kafka.Authentication", principal=principal, type=AUTHENTICATION,
                  result={"status": status} if result is _DEFAULT else result, **data)


def mds_authorize(time=T, principal="User:u-1", operation=ABSENT, *, authz=True, id=None, **data) -> dict:
    """An ``mds.Authorize`` event: ``authorizationInfo`` is ``{"granted": true, "operation": ...}``
    (no operation when ABSENT, no authorizationInfo at all when ``authz`` is false)."""
    info = {"granted": True}
    if operation is not ABSENT:
        info["operation"] = operation
    return record(id or new_id(), time, "mds.Authorize", principal=principal, type=AUTHORIZATION,
                  authorizationInfo=info if authz else ABSENT, **data)


def signin(time=T, email="alice@example.com", outcome="SUCCESS", *, principal=_DEFAULT, result=_DEFAULT,
           id=None, type=REQUEST, **data) -> dict:
    """A ``SignIn`` event by ``{"email": email}`` (or by ``principal`` as given).

    ``outcome`` is ``authenticationInfo.result`` (ABSENT: none); ``data.result`` is
    ``{"status": outcome}`` unless ``result`` gives the whole value (ABSENT: no result).
    """
    authn = {"principal": {"email": email} if principal is _DEFAULT else principal}
    if outcome is not ABSENT:
        authn["result"] = outcome
    if result is _DEFAULT:
        result = ABSENT if outcome is ABSENT else {"status": outcome}
    return record(id or new_id(), time, "SignIn", type=type, authenticationInfo=authn, result=result, **data)


def request(time=T, method="GetUsers", principal=_DEFAULT, *, id=None, **data) -> dict:
    """Any other console or API request (all_events only), successful; by default the principal
    is the user u-1 as an object (``confluent_user("u-1")``)."""
    return record(id or new_id(), time, method, principal=confluent_user("u-1") if principal is _DEFAULT else principal,
                  type=REQUEST, result={"status": "SUCCESS"}, **data)


def audit_message(n: int, tag: str = "") -> bytes:
    """The value of a message on the audit-log topic: a compact CloudEvents record, id
    ``<tag>-<n>``, a ``kafka.Authentication`` n minutes after 2024-05-06 10:00 UTC."""
    rec = kafka_auth(f"2024-05-06T{10 + n // 60:02d}:{n % 60:02d}:00Z", id=f"{tag}-{n}")
    crn = "crn:///kafka=lkc-1"
    value = {"id": rec["id"], "time": rec["time"], "type": rec["type"], "specversion": "1.0",
             "source": crn, "subject": crn, "data": rec["data"]}
    return json.dumps(value, separators=(",", ":")).encode()


# -- dumps ------------------------------------------------------------------------------------

def json_line(rec, *, compact: bool = False) -> bytes:
    """``rec`` as one JSON Lines line, newline included (compact: no spaces after ``,`` and ``:``)."""
    return json.dumps(rec, separators=(",", ":") if compact else None).encode() + b"\n"


def json_lines(records: Iterable, *, compact: bool = False) -> bytes:
    """``records`` as JSON Lines, one line each."""
    return b"".join(json_line(r, compact=compact) for r in records)


def write_jsonl(directory: Path, records: Iterable, name: str = "dump.jsonl") -> str:
    """Write ``records`` as the JSON Lines dump ``directory/name``; return its path."""
    path = Path(directory) / name
    path.write_bytes(json_lines(records))
    return str(path)
