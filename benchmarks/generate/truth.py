"""The exact report a dump must give, counted as the generator decides each record.

The truth never comes from parsing the output. Its shape is that of
``ccaudit report FILE --format json``; the section ids and titles are ccaudit's interface
(ccaudit.schema), everything counted here is the generator's own.
"""
from __future__ import annotations

import datetime as dt
import json

from ccaudit.schema import SECTIONS

ALL_EVENTS = "all_events"


class Counts:
    """Per (date, section, row key): 24 hourly counts; per date: the events."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], list[int]] = {}
        self.per_day: dict[str, int] = {}

    def add(self, date: str, hour: int, method: str, section: str | None, key: str | None) -> None:
        """One distinct event: in all_events under its method, and in its section under its key."""
        self._count((date, ALL_EVENTS, method), hour)
        if section is not None:
            self._count((date, section, key), hour)
        self.per_day[date] = self.per_day.get(date, 0) + 1

    def _count(self, row_id: tuple, hour: int) -> None:
        row = self.rows.get(row_id)
        if row is None:
            row = self.rows[row_id] = [0] * 24
        row[hour] += 1

    def report(self, load: dict) -> dict:
        return build_truth(self.rows, self.per_day, load)


def build_truth(rows: dict, per_day: dict, load: dict) -> dict:
    """Assemble the report JSON (same shape as `ccaudit report --format json`)."""
    if not per_day:
        raise ValueError("no events")
    first, last = min(per_day), max(per_day)
    d0, d1 = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    dates = [(d0 + dt.timedelta(days=i)).isoformat() for i in range((d1 - d0).days + 1)]
    by_day: dict[str, dict[str, list]] = {}
    for (date, section, key), hours in rows.items():
        by_day.setdefault(date, {}).setdefault(section, []).append((key, hours))
    days = []
    for date in dates:
        got = by_day.get(date, {})
        sections = {}
        for sid, title in SECTIONS.items():
            items = sorted(got.get(sid, []))
            sections[sid] = {"title": title,
                             "rows": [{"key": k, "hours": list(h), "total": sum(h)} for k, h in items]}
        days.append({"date": date, "events": per_day.get(date, 0), "sections": sections})
    return {"summary": {"events": sum(per_day.values()), "first_day": first, "last_day": last,
                        "per_day": {d: per_day.get(d, 0) for d in dates}, "load": load},
            "days": days}


def write_truth(truth: dict, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(truth, f, ensure_ascii=False, indent=1)
        f.write("\n")
