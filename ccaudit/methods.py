"""The methodName catalogue: what each audit-log method is, and how often a report saw it.

``CATALOGUE`` holds Confluent's documented audit-log methods (and some seen in real dumps)
with a family and a one-line meaning; it is data, kept in ``methods.json`` (method ->
[family, meaning]) so that a new method is one line there. A method not in it still gets
a family, from a rule of thumb on its name (``family()``).

Families: authentication, authorization, sign-in, management, read-only.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

from . import loadnotes, streamed
from .csvtext import csv_chunks
from .errors import spilling
from .report import Report
from .text import plural, table_cell

AUTHN, AUTHZ, SIGNIN, MGMT, READ = "authentication", "authorization", "sign-in", "management", "read-only"
FAMILIES = (AUTHN, AUTHZ, SIGNIN, MGMT, READ)

_READ_PREFIXES = ("get", "list", "describe", "search", "lookup", "load")
_STRIPPED = ("schema-registry.", "kafka.")


def _load() -> dict[str, tuple[str, str]]:
    """methods.json, read through importlib.resources so that it is found in an installed
    package (even a zipped one), not only in a checkout."""
    text = resources.files(__package__).joinpath("methods.json").read_text(encoding="utf-8")
    return {name: (fam, means) for name, (fam, means) in json.loads(text).items()}


CATALOGUE: dict[str, tuple[str, str]] = _load()


def family(method: str) -> str:
    """The catalogue's family of ``method``, else the rule of thumb on its name: new methods
    appear before the catalogue knows them, and still need a family."""
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
    """A one-line meaning of a catalogued method; '' for one not in the catalogue, since a
    guess from the name would read as fact."""
    known = CATALOGUE.get(method)
    return known[1] if known else ""


@dataclass
class MethodCount:
    method: str
    count: int
    family: str
    meaning: str
    known: bool


class MethodCounts:
    """Every methodName of a report with its events, summed over its days in a scratch
    database: a dump can name 300,000 methods (each record chooses its own), which held in
    a dict and laid out whole took 400-600 MiB."""

    def __init__(self, report: Report):
        self.unfinished = report.unfinished  # loads into the store that did not end
        self.conn = streamed.database()
        self.conn.execute("CREATE TABLE m (method BLOB PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID")
        sql = "INSERT INTO m VALUES (?, ?) ON CONFLICT (method) DO UPDATE SET n = n + excluded.n"
        with spilling(), self.conn:
            for sid, found in report.totals():
                if sid == "all_events":  # its keys are the method names
                    self.conn.executemany(sql, ((streamed.text(m), n) for m, n in found))

    def close(self) -> None:
        self.conn.close()

    def size(self) -> tuple[int, int]:
        """(methods, events)."""
        with spilling():
            methods, events = self.conn.execute("SELECT count(*), sum(n) FROM m").fetchone()
        return methods, events or 0

    def __iter__(self) -> Iterator[MethodCount]:
        """Busiest first, ties by name."""
        with spilling():
            found = self.conn.execute("SELECT method, n FROM m ORDER BY n DESC, method")
        for stored, n in found:
            m = streamed.text_of(stored)
            yield MethodCount(m, n, family(m), meaning(m), m in CATALOGUE)


# -- rendering ------------------------------------------------------------------------

FIELDS = ("method", "count", "family", "meaning")
HEAD = ("Method", "Count", "Family", "Meaning")
RIGHT = (False, True, False, False)


def render(methods: MethodCounts, fmt: str) -> Iterator[str]:
    """Text, csv or json, in pieces; json says ``known`` and gives a null meaning, so a
    script can tell an uncatalogued method from one with an empty meaning."""
    if fmt == "json":
        doc = {"methods": [], "total": methods.size()[1], "unfinished_loads": methods.unfinished}  # as summaries
        yield from streamed.json_chunks(doc, "methods", ({"method": m.method, "count": m.count, "family": m.family,
                                                          "meaning": m.meaning or None, "known": m.known}
                                                         for m in methods))
    elif fmt == "csv":
        yield from csv_chunks(list(FIELDS), ([m.method, m.count, m.family, m.meaning] for m in methods))
    else:
        yield from _text(methods)


def _text(methods: MethodCounts) -> Iterator[str]:
    """A table of methods; names go through ``table_cell`` because the records choose them."""
    count, events = methods.size()
    yield f"{warned}\n" if (warned := loadnotes.warning(methods.unfinished)) else ""
    if not count:
        yield "(no events)\n"
        return

    def cells() -> Iterator[tuple[str, ...]]:
        for m in methods:
            yield table_cell(m.method), str(m.count), m.family, m.meaning or "(not in the catalogue)"

    yield from streamed.table_lines(HEAD, RIGHT, cells)
    yield f"{plural(count, 'method')}, {plural(events, 'event')}\n"
