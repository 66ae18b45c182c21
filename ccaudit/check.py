"""Rate checks for CI and cron: is any key of a section busier than a limit?

A rule is ``SECTION:KEYGLOB=N/h`` or ``SECTION:KEYGLOB=N/d``: every row of ``SECTION``
(``*`` or a glob for any section) whose key matches ``KEYGLOB`` may have at most ``N``
events in any one hour column (``/h``) or in one day (``/d``) of the report. A rules file
(TOML) holds the same as tables::

    [[rule]]
    section = "kafka_authentication"   # default "*"
    key = "*"                          # default "*"
    max = 3600
    per = "hour"                       # or "day"; default "hour"

Days and hours are those of the report, so in a zone with daylight saving time a day has
23 or 25 hour columns and a per-day limit covers the whole local day.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import asdict, dataclass

from .schema import SECTIONS
from .errors import CcauditError
from .render import dumps
from .text import printable
from .report import Report

PER = {"h": "hour", "hour": "hour", "d": "day", "day": "day"}
_RULE = re.compile(r"(?P<section>[^:]+):(?P<key>.+)=\s*(?P<max>\d+)\s*/\s*(?P<per>[A-Za-z]+)\s*\Z", re.S)
_RULE_FIELDS = {"section", "key", "max", "per"}


class RuleError(CcauditError):
    """A --max rule or a rules file cannot be understood (exit 2)."""


@dataclass(frozen=True)
class Rule:
    section: str  # a section id or a glob over section ids
    key: str  # a glob over row keys
    max: int
    per: str  # "hour" or "day"

    @property
    def text(self) -> str:
        return f"{self.section}:{self.key}={self.max}/{self.per[0]}"

    def sections(self) -> list[str]:
        return [s for s in SECTIONS if fnmatch.fnmatchcase(s, self.section)]


@dataclass
class Breach:
    section: str
    key: str
    day: str
    hour: str | None  # the hour column's label, None for a per-day rule
    count: int
    limit: int
    per: str
    rule: str


def parse_rule(text: str) -> Rule:
    """``SECTION:KEYGLOB=N/h`` (or ``/d``) as a Rule; RuleError if it is not one."""
    m = _RULE.match(text.strip())
    if not m:
        raise RuleError(f"bad rule {text!r}: expected SECTION:KEYGLOB=N/h or SECTION:KEYGLOB=N/d, "
                        "e.g. 'signin_failure:*=5/h'")
    per = PER.get(m["per"].lower())
    if per is None:
        raise RuleError(f"bad rule {text!r}: the limit must be per hour (/h) or per day (/d), not /{m['per']}")
    return _checked(Rule(m["section"].strip(), m["key"], int(m["max"]), per), repr(text))


def _checked(rule: Rule, where: str) -> Rule:
    if not rule.sections():
        raise RuleError(f"bad rule {where}: no section {rule.section!r}; sections are "
                        + ", ".join(SECTIONS) + " (or *)")
    if not rule.key:
        raise RuleError(f"bad rule {where}: empty key glob (use * for every key)")
    return rule


def load_rules_file(path: str) -> list[Rule]:
    """The ``[[rule]]`` tables of a TOML file."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise RuleError("reading a rules file needs Python 3.11+ or the tomli package") from None
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as e:
        raise RuleError(f"{path}: cannot read: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise RuleError(f"{path}: not valid TOML: {e}") from None
    extra = set(doc) - {"rule"}
    if extra:
        raise RuleError(f"{path}: unknown top-level key {sorted(extra)[0]!r}; rules are [[rule]] tables")
    tables = doc.get("rule", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise RuleError(f"{path}: 'rule' must be an array of tables: [[rule]]")
    return [_rule_from_table(t, f"{path}: rule {i}") for i, t in enumerate(tables, 1)]


def _rule_from_table(t: dict, where: str) -> Rule:
    unknown = set(t) - _RULE_FIELDS
    if unknown:
        raise RuleError(f"bad rule {where}: unknown field {sorted(unknown)[0]!r} "
                        "(fields: section, key, max, per)")
    limit = t.get("max")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise RuleError(f"bad rule {where}: 'max' must be a whole number >= 0")
    section, key, per = t.get("section", "*"), t.get("key", "*"), t.get("per", "hour")
    if not isinstance(section, str) or not isinstance(key, str):
        raise RuleError(f"bad rule {where}: 'section' and 'key' must be strings")
    if not isinstance(per, str) or per.lower() not in PER:
        raise RuleError(f"bad rule {where}: 'per' must be \"hour\" or \"day\"")
    return _checked(Rule(section, key, limit, PER[per.lower()]), where)


def evaluate(report: Report, rules: list[Rule]) -> list[Breach]:
    """Every (rule, row, hour or day) over its limit: by day, then hour, section, key, rule."""
    order = {sid: i for i, sid in enumerate(SECTIONS)}
    found: list[tuple[tuple, Breach]] = []
    for ri, rule in enumerate(rules):
        wanted = set(rule.sections())
        for day in report.days:
            for sid, section in day.sections.items():
                if sid not in wanted:
                    continue
                for row in section.rows:
                    if not fnmatch.fnmatchcase(row.key, rule.key):
                        continue
                    if rule.per == "day":
                        if row.total > rule.max:
                            b = Breach(sid, row.key, day.date, None, row.total, rule.max, "day", rule.text)
                            found.append(((day.date, len(day.hour_labels), order[sid], row.key, ri), b))
                        continue
                    for col, n in enumerate(row.hours):
                        if n > rule.max:
                            b = Breach(sid, row.key, day.date, day.hour_labels[col], n, rule.max, "hour", rule.text)
                            found.append(((day.date, col, order[sid], row.key, ri), b))
    return [b for _, b in sorted(found, key=lambda x: x[0])]


# -- output ---------------------------------------------------------------------------

def render(breaches: list[Breach], rules: list[Rule], report: Report, fmt: str) -> str:
    if fmt == "json":
        doc = {
            "ok": not breaches,
            "breaches": [asdict(b) for b in breaches],
            "rules": [{"rule": r.text, "section": r.section, "key": r.key, "max": r.max, "per": r.per}
                      for r in rules],
            "checked": {"events": report.events, "days": len(report.days),
                        "first_day": report.days[0].date if report.days else None,
                        "last_day": report.days[-1].date if report.days else None, "tz": report.tz},
        }
        return dumps(doc)
    return _text(breaches, rules, report)


def _text(breaches: list[Breach], rules: list[Rule], report: Report) -> str:
    span = (f"{len(report.days)} days from {report.days[0].date}" if report.days else "no events")
    zone = "" if report.tz == "UTC" else f" ({report.tz})"
    scope = (f"checked {len(rules)} rule{'s' * (len(rules) != 1)} against {report.events} "
             f"event{'s' * (report.events != 1)}, {span}{zone}")
    if not breaches:
        return f"OK: no breaches; {scope}\n"
    head = ("Section", "Key", "Day", "Hour", "Count", "Limit", "Rule")
    table = [(b.section, printable(b.key), b.day, b.hour or "-", str(b.count), f"{b.limit}/{b.per[0]}",
              printable(b.rule)) for b in breaches]
    widths = [max(len(head[i]), *(len(r[i]) for r in table)) for i in range(len(head))]
    right = {4, 5}

    def line(cells) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    breached = len({b.rule for b in breaches})
    lines = [f"BREACH: {len(breaches)} breach{'es' * (len(breaches) != 1)} of "
             f"{breached} rule{'s' * (breached != 1)}; {scope}", line(head), line("-" * w for w in widths)]
    lines += [line(r) for r in table]
    return "\n".join(lines) + "\n"
