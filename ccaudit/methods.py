"""The methodName catalogue: what each audit-log method is, and how often a report saw it.

``CATALOGUE`` holds Confluent's documented audit-log methods (and some seen in real dumps)
with a family and a one-line meaning; it is data, kept in ``methods.json`` (method ->
[family, meaning]) so that a new method is one line there. A method not in it still gets
a family, from a rule of thumb on its name (``family()``).

Families: authentication, authorization, sign-in, management, read-only.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from tabulate import tabulate

from .csvtext import csv_text
from .jsontext import dumps
from .report import Report
from .text import plural, printable

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


def count_methods(report: Report) -> list[MethodCount]:
    """Every methodName with its count, busiest first; the ``all_events`` section's keys are
    the method names, so the report already holds the counts."""
    counts: dict[str, int] = {}
    for day in report.days:
        section = day.sections.get("all_events")
        for row in section.rows if section else ():
            counts[row.key] = counts.get(row.key, 0) + row.total
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [MethodCount(m, n, family(m), meaning(m), m in CATALOGUE) for m, n in ordered]


# -- rendering ------------------------------------------------------------------------

FIELDS = ("method", "count", "family", "meaning")


def render(methods: list[MethodCount], fmt: str) -> str:
    """Text, csv or json; json says ``known`` and gives a null meaning, so a script can tell
    an uncatalogued method from one with an empty meaning."""
    if fmt == "json":
        doc = {"methods": [{"method": m.method, "count": m.count, "family": m.family,
                            "meaning": m.meaning or None, "known": m.known} for m in methods],
               "total": sum(m.count for m in methods)}
        return dumps(doc)
    if fmt == "csv":
        return csv_text(FIELDS, ([m.method, m.count, m.family, m.meaning] for m in methods))
    return _text(methods)


def _text(methods: list[MethodCount]) -> str:
    """A table of methods; names go through ``printable`` because the records choose them."""
    if not methods:
        return "(no events)\n"
    table = [(printable(m.method), m.count, m.family, m.meaning or "(not in the catalogue)") for m in methods]
    lines = tabulate(table, ("Method", "Count", "Family", "Meaning"), tablefmt="simple",
                     colalign=("left", "right", "left", "left"), disable_numparse=True)
    total = plural(sum(m.count for m in methods), "event")
    return f"{lines}\n{plural(len(methods), 'method')}, {total}\n"
