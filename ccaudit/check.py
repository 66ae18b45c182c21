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
23 or 25 hour columns (22 to 26 in a few zones) and a per-day limit covers the whole local day.
"""
from __future__ import annotations

import codecs
import contextlib
import fnmatch
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

from . import loadnotes, streamed
from .errors import CcauditError, spilling
from .files import read_small
from .report import Day, Report, Row
from .schema import SECTIONS
from .text import glob, plural, printable, quoted, table_cell

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pyproject pins tomli there
    import tomli as tomllib  # type: ignore[no-redef]

MAX_RULES_FILE = 1 << 20  # bytes: a rules file is a few lines; /dev/zero is not one
PER = {"h": "hour", "hour": "hour", "d": "day", "day": "day"}
_RULE = re.compile(r"(?P<section>[^:]+):(?P<key>.+?)\s*=\s*(?P<max>[0-9]+)\s*/\s*(?P<per>[A-Za-z]+)\s*\Z", re.S)
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
        """The rule as one would write it on the command line, to name it in a breach: its key
        as reports show it (a space at an end, and each of a run, as ``\\x20``), which the glob
        matches too; rules of one text are one rule."""
        return f"{self.section}:{table_cell(self.key)}={self.max}/{self.per[0]}"

    def sections(self) -> list[str]:
        """The section ids the glob covers, in report order: only these need counting."""
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
    """``SECTION:KEYGLOB=N/h`` (or ``/d``) as a Rule; a RuleError says what a rule looks like,
    since a --max value is typed by hand."""
    m = _RULE.match(text.strip())
    if not m:
        raise RuleError(f"bad rule {quoted(text)}: expected SECTION:KEYGLOB=N/h or SECTION:KEYGLOB=N/d, "
                        "e.g. 'signin_failure:*=5/h'")
    per = PER.get(m["per"].lower())
    if per is None:
        raise RuleError(f"bad rule {quoted(text)}: the limit must be per hour (/h) or per day (/d), not /{m['per']}")
    digits = m["max"].lstrip("0") or "0"
    if len(digits) > 19:  # int() refuses more than 4,300 digits; 2**63 - 1 has 19
        raise RuleError(f"bad rule {quoted(text)}: the limit is too large")
    return _checked(Rule(m["section"].strip(), m["key"].lstrip(), int(digits), per), quoted(text))


def _checked(rule: Rule, where: str) -> Rule:
    """A rule that can never match is a typo, not a pass: refuse it."""
    if not rule.sections():
        raise RuleError(f"bad rule {where}: no section {quoted(rule.section)}; sections are "
                        + ", ".join(SECTIONS) + " (or *)")
    if not rule.key:
        raise RuleError(f"bad rule {where}: empty key glob (use * for every key)")
    if rule.key.encode(errors="replace").decode() != rule.key:  # bytes of a --max that are not UTF-8
        raise RuleError(f"bad rule {where}: the key glob is not UTF-8 text, as every key is")
    if rule.max >= 2**63:
        raise RuleError(f"bad rule {where}: the limit is too large")
    return rule


def load_rules_file(path: str) -> list[Rule]:
    """The ``[[rule]]`` tables of a TOML file (``-``: standard input); anything else in it
    is refused, so that a misspelt table does not silently check nothing."""
    try:
        data = read_small(path, MAX_RULES_FILE, stdin_as_dash=True)
        text = data.decode("utf-8-sig")  # a BOM, from an editor
        doc = tomllib.loads(text)
    except OSError as e:
        raise RuleError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        line = data[:e.start + 3 * data.startswith(codecs.BOM_UTF8)].count(b"\n") + 1
        raise RuleError(f"{path}:{line}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise RuleError(f"{path}: not valid TOML: {e}") from None
    except ValueError:  # int() refuses more than 4,300 digits
        raise RuleError(f"{path}: not valid TOML: a number of too many digits") from None
    except RecursionError:
        raise RuleError(f"{path}: not valid TOML: nested too deeply") from None
    extra = set(doc) - {"rule"}
    if extra:
        raise RuleError(f"{path}: unknown top-level key {quoted(sorted(extra)[0])}; rules are [[rule]] tables")
    tables = doc.get("rule", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise RuleError(f"{path}: 'rule' must be an array of tables: [[rule]]")
    if not tables:  # checking nothing would pass
        raise RuleError(f"{path}: no rules; a rule is a [[rule]] table")
    lines = [n for n, line in enumerate(text.split("\n"), 1) if _RULE_TABLE.match(line)]  # TOML's lines, not U+2028's
    if len(lines) != len(tables):  # rule = [{...}], or a header TOML reads otherwise: numbered, not placed
        lines = [0] * len(tables)
    return [_rule_from_table(t, f"{path}:{n}: rule {i}" if n else f"{path}: rule {i}")
            for i, (t, n) in enumerate(zip(tables, lines), 1)]


_RULE_TABLE = re.compile(r"\s*\[\[\s*rule\s*\]\]")  # where a [[rule]] table begins


def _rule_from_table(t: dict, where: str) -> Rule:
    """TOML gives typed values, so each field is checked for its type as well as its value."""
    unknown = set(t) - _RULE_FIELDS
    if unknown:
        raise RuleError(f"bad rule {where}: unknown field {quoted(sorted(unknown)[0])} "
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


def _any(matchers: list[Callable[[str], object]]) -> Callable[[str], object]:
    return matchers[0] if len(matchers) == 1 else lambda name: any(m(name) for m in matchers)


class Breaches:
    """Every (rule, row, hour or day) over its limit, kept in a scratch database (an attack
    on sign-ins breaches a rule once per email typed), read in the order one reads a
    report: by day, then hour (a day's per-day breaches after its hours), section, key
    and rule."""

    def __init__(self, report: Report, rules: list[Rule]):
        if any(not isinstance(r, Rule) for r in rules):  # a rule's text: parse_rule makes one
            raise TypeError("check takes rules as ccaudit.check.Rule (parse_rule makes one of a text)")
        self.rules = rules
        # rules of one text (``"trail "`` and ``trail\x20``, which also matches the text
        # ``trail\x20``) are one rule of the union of their keys: one breach, one verdict
        self._first: dict[str, int] = {}  # (in the order given: warnings of unmatched rules follow it)
        for i, r in enumerate(rules):
            self._first.setdefault(r.text, i)
        self._matched: set[int] = set()
        self.conn = streamed.database()
        self.conn.execute("CREATE TABLE b (day TEXT, col INTEGER, rank INTEGER, key BLOB, rule INTEGER,"
                          " section TEXT, hour TEXT, count INTEGER)")
        with spilling():
            with self.conn:
                self.conn.executemany("INSERT INTO b VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self._found(report))
            self.count = self.conn.execute("SELECT count(*) FROM b").fetchone()[0]
            self.rules_breached = len({rules[i].text for i, in self.conn.execute("SELECT DISTINCT rule FROM b")})
        # a glob that matched no key (a typo, or User:sa-1 for sa-1) passed as if nothing were over its limit
        self.unmatched = [text for text, i in self._first.items() if i not in self._matched]

    def _found(self, report: Report) -> Iterator[tuple]:
        """The report read once, each row against every rule of its section: read once a
        rule, 50 rules took 2.8 s of a 2M-event store, and 4,000 rules 15 s of 3,000 events."""
        order = {sid: i for i, sid in enumerate(SECTIONS)}
        # each glob compiled once: fnmatch keeps 32,768, and past them compiled each again for
        # every row (36,000 rules: 24 s, against 1.7 s for 30,000)
        globs: dict[str, list[Callable[[str], object]]] = {}
        for rule in self.rules:
            globs.setdefault(rule.text, []).append(glob(rule.key))
        limiting = {sid: [(ri, self.rules[ri], _any(globs[text])) for text, ri in self._first.items()
                          if sid in self.rules[ri].sections()] for sid in SECTIONS}
        for day in report.days:
            for sid, section in day.sections.items():
                rules = limiting[sid]
                for row in section.rows if rules else ():
                    for ri, rule, matches in rules:
                        if not matches(row.key):
                            continue
                        self._matched.add(ri)
                        for col, hour, count in _cells(rule, day, row):
                            if count > rule.max:
                                yield day.date, col, order[sid], streamed.text(row.key), ri, sid, hour, count

    def __iter__(self) -> Iterator[Breach]:
        with spilling():
            found = self.conn.execute("SELECT section, key, day, hour, count, rule FROM b"
                                      " ORDER BY day, col, rank, key, rule")
        for sid, key, day, hour, count, ri in found:
            rule = self.rules[ri]
            yield Breach(sid, streamed.text_of(key), day, hour, count, rule.max, rule.per, rule.text)

    def close(self) -> None:
        self.conn.close()


def evaluate(report: Report, rules: list[Rule]) -> list[Breach]:
    """Every breach, in a list (see ``Breaches``, which does not hold them)."""
    with contextlib.closing(Breaches(report, rules)) as breaches:
        return list(breaches)


def _cells(rule: Rule, day: Day, row: Row) -> list[tuple[int, str | None, int]]:
    """(column, hour label, count) of what the rule limits: each hour, or the whole day, whose
    column sorts after the day's last hour."""
    if rule.per == "day":
        return [(len(day.hour_labels), None, row.total)]
    return list(zip(range(len(row.hours)), day.hour_labels, row.hours))


# -- output ---------------------------------------------------------------------------

def unchecked(breaches: Breaches, report: Report) -> str:
    """What the check could not look at ('' if nothing): a load killed part way, malformed
    records of the dumps it loaded, no events, or rules that matched no key (which
    ``--strict`` fails)."""
    said = [f"the store holds part of {plural(len(report.unfinished), 'unfinished load')}"] \
        if report.unfinished else []
    if malformed := _malformed(report):
        said.append(f"the input had {plural(malformed, 'malformed entry', 'malformed entries')}")
    if not report.days:
        said.append("no events")
    elif breaches.unmatched:
        said.append(f"{plural(len(breaches.unmatched), 'rule')} matched no key")
    return ", and ".join(said)


def _malformed(report: Report) -> int:
    """The malformed entries of the dumps the check loaded (0 if it loaded none)."""
    return (report.load or {}).get("malformed", 0)


def render(breaches: Breaches, rules: list[Rule], report: Report, fmt: str, strict: bool = False) -> Iterator[str]:
    """Text for people, or JSON for a CI job, which also says what was checked: an empty
    list of breaches alone cannot tell "fine" from "nothing looked at". With ``strict``,
    what could not be checked fails (``unchecked``): the verdict says so, not OK."""
    if fmt != "json":
        yield from _text(breaches, rules, report, strict)
        return
    first, last = report.span
    malformed = _malformed(report)
    yield from streamed.json_chunks({
        "ok": not breaches.count and not (strict and unchecked(breaches, report)),
        "breaches": [],
        "rules": [{"rule": r.text, **asdict(r), "matched_a_key": r.text not in breaches.unmatched} for r in rules],
        "checked": {"events": report.events, "days": report.span_days, "first_day": first, "last_day": last,
                    "tz": report.tz, "malformed": malformed, "unfinished_loads": report.unfinished},
    }, "breaches", map(asdict, breaches))


def _text(breaches: Breaches, rules: list[Rule], report: Report, strict: bool) -> Iterator[str]:
    """One verdict line (grep-able OK/BREACH), then a table of breaches; keys go through
    ``table_cell`` because the records choose them, rules through ``printable``."""
    days = f"{plural(report.span_days, 'day')} from {report.span[0]}" if report.days else "no events"
    zone = "" if report.tz == "UTC" else f" ({report.tz})"
    written = len({r.text for r in rules})  # (rules written alike are one)
    scope = f"checked {plural(written, 'rule')} against {plural(report.events, 'event')}, {days}{zone}\n"
    scope += f"{warned}\n" if (warned := loadnotes.warning(report.unfinished)) else ""  # (a CI log keeps stdout)
    if not breaches.count:
        why = strict and unchecked(breaches, report)
        yield f"FAIL: no breaches, but {why} (--strict); {scope}" if why else f"OK: no breaches; {scope}"
        return
    yield (f"BREACH: {plural(breaches.count, 'breach', 'breaches')} of {plural(breaches.rules_breached, 'rule')};"
           f" {scope}")

    def cells() -> Iterator[tuple[str, ...]]:
        for b in breaches:
            yield (b.section, table_cell(b.key), b.day, b.hour or "-", str(b.count), f"{b.limit}/{b.per[0]}",
                   printable(b.rule))

    yield from streamed.table_lines(("Section", "Key", "Day", "Hour", "Count", "Limit", "Rule"),
                                   (False, False, False, False, True, True, False), cells)
