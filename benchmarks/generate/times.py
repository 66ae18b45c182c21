"""The `time` field of generated records: hours of the dump and the text of one instant."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

UTC = dt.timezone.utc
NS = 1_000_000_000
HOUR_NS = 3600 * NS

# Fraction digits of `time`: 3 (most), 9, 6 and 0, as seen in real dumps.
DIGITS = [3] * 10 + [9] * 7 + [6] * 2 + [0]
# A few records carry an offset instead of Z; the truth still buckets them by UTC.
OFFSETS = ("+02:00", "-05:00", "+05:30", "+00:00", "-03:30", "+09:00")
OFFSET_RATE = 0.003
_MINUTE_SECOND = ["%02d:%02d" % divmod(s, 60) for s in range(3600)]


def parse_start(text: str) -> int:
    """--start as epoch seconds; it must be a full hour (UTC if no offset is given)."""
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    t = t.astimezone(UTC)
    if t.minute or t.second or t.microsecond:
        raise ValueError("--start must be on a full hour")
    return int(t.timestamp())


@dataclass(frozen=True)
class Hour:
    start: int  # epoch seconds
    date: str  # YYYY-MM-DD (UTC)
    hour: int  # of the day, 0-23 (UTC)
    prefix: str  # YYYY-MM-DDTHH:

    @classmethod
    def at(cls, start: int) -> Hour:
        t = dt.datetime.fromtimestamp(start, UTC)
        return cls(start, t.strftime("%Y-%m-%d"), t.hour, t.strftime("%Y-%m-%dT%H:"))


def time_text(random: Callable[[], float], hour: Hour, offset_ns: int) -> str:
    """The `time` of an instant ``offset_ns`` into ``hour``: drawn precision, mostly Z."""
    sec, frac = divmod(offset_ns, NS)
    digits = DIGITS[int(random() * len(DIGITS))]
    fraction = ("" if digits == 0 else ".%03d" % (frac // 1_000_000) if digits == 3
                else ".%06d" % (frac // 1000) if digits == 6 else ".%09d" % frac)
    if random() >= OFFSET_RATE:
        return hour.prefix + _MINUTE_SECOND[sec] + fraction + "Z"
    zone = OFFSETS[int(random() * len(OFFSETS))]
    sign = -1 if zone[0] == "-" else 1
    shift = sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    local = dt.datetime.fromtimestamp(hour.start + sec + shift, UTC)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + fraction + zone
