"""A program that uses ccaudit's API as the README shows it, for mypy (``make lint``), never
run: the package is marked py.typed, so a program's checker must know its names and what
they take. Each line below was an error or went unchecked once (a misspelt name was Any)."""
from __future__ import annotations

from pathlib import Path

import ccaudit
from ccaudit import Filters, LoadStats, Store, build, load_dumps


def busiest_day(dump: Path) -> tuple[int, dict[str, str]]:
    stats: LoadStats = LoadStats()
    with Store("audit.db", loading=[dump]) as store:
        stats = load_dumps([dump], store)
        with build(store, filters=Filters(sections=["all_events"])) as report:
            day = max(report.days, key=lambda d: d.events)
            where: int = report.days.index(day)
    return where, stats.failed


def misspelt() -> object:
    return ccaudit.Stroe  # type: ignore[attr-defined]  # (unused, and so an error, while any name was Any)


def one_section_as_text() -> Filters:
    return Filters(sections="all_events")  # type: ignore[arg-type]  # (a TypeError when run: a str is no list)
