"""The plan of a dump, decided before the first record: how many records each hour gets, the
burst hours, which variants are forced in where, and (with noise) where noise lines and
prefixed lines go. ``Plan.make`` draws in a fixed order; the records are drawn after it.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

PARTITIONS = 6
BURST_CAP = 3600  # kafka.Authentication records per burst hour: one a second at most
BURST_SHARE = 0.05  # of all records, split over the burst hours
LAGS = (0.0, 2.0, 15.0, 45.0, 90.0, 150.0)  # seconds a partition may trail the newest record

# Noise lines (cli and jsonl only); every kind occurs at least twice when noise is asked for.
NOISE_KINDS = ("error", "rdkafka", "blank", "spaces", "headers", "notjson", "starting", "brace", "broken",
               "javamap", "trailing", "two", "no_id", "no_time", "bad_time", "no_method")
PREFIX_KINDS = 4  # see writer.prefix


@dataclass
class Plan:
    start: int  # epoch seconds of the first hour
    background: list[int]  # records of the mix in each hour
    burst_hours: set[int]
    per_burst: int  # kafka.Authentication records of the burst service account per burst hour
    forced: dict[int, int]  # background record number -> index of the variant forced there
    partition_offsets: list[int]  # the offset before each partition's first record
    noise: dict[int, list[str]] = field(default_factory=dict)  # emitted record number -> noise kinds before it
    prefixes: dict[int, int] = field(default_factory=dict)  # emitted record number -> prefix kind
    lags: list[float] = field(default_factory=list)  # per partition

    @property
    def hours(self) -> int:
        return len(self.background)

    @classmethod
    def make(cls, rnd: random.Random, n: int, start: int, days: int, gap_days: set[int], variants: int,
             noise: bool) -> Plan:
        bursts = _burst_hours(rnd, [d for d in range(days) if d not in gap_days], days)
        per_burst = min(BURST_CAP, int(BURST_SHARE * n / len(bursts))) if bursts else 0
        n_background = n - per_burst * len(bursts)
        background = largest_remainder(_hour_weights(rnd, days, gap_days), n_background)
        forced = {}
        if n_background >= 25 * variants:
            for j, slot in enumerate(rnd.sample(range(n_background), 2 * variants)):
                forced[slot] = j % variants
        offsets = [rnd.randrange(10_000, 5_000_000) for _ in range(PARTITIONS)]
        plan = cls(start, background, set(bursts), per_burst, forced, offsets)
        if noise:
            plan.noise = _noise_positions(rnd, n)
            plan.prefixes = _prefix_positions(rnd, n)
        plan.lags = [rnd.choice(LAGS) for _ in range(PARTITIONS)]
        return plan


def _burst_hours(rnd: random.Random, active_days: list[int], days: int) -> list[int]:
    """4 to 8 consecutive hours from some hour of each of two active days, within the
    ``days``: one begun late on the last day ran past its end, and its records were never
    written (the dump's count then failed its own check)."""
    hours = []
    for day in sorted(rnd.sample(active_days, min(2, len(active_days)))):
        first = rnd.randrange(0, 19)
        hours += [day * 24 + h for h in range(first, first + rnd.randint(4, 8)) if day * 24 + h < days * 24]
    return hours


def _hour_weights(rnd: random.Random, days: int, gap_days: set[int]) -> list[float]:
    """Office hours (07-18 UTC) get 2.2 times the night's share, each hour +-15 %; gap days nothing."""
    weights = []
    for h in range(days * 24):
        day, hour = divmod(h, 24)
        if day in gap_days:
            weights.append(0.0)
        else:
            weights.append((1.0 + (1.2 if 7 <= hour <= 18 else 0.0)) * rnd.uniform(0.85, 1.15))
    return weights


def largest_remainder(weights: list[float], total: int) -> list[int]:
    """``total`` split in proportion to ``weights`` into whole numbers that add up to it."""
    s = sum(weights)
    if s <= 0 or total <= 0:
        return [0] * len(weights)
    raw = [w * total / s for w in weights]
    out = [int(x) for x in raw]
    rest = total - sum(out)
    order = sorted(range(len(raw)), key=lambda i: raw[i] - out[i], reverse=True)
    for i in order[:rest]:
        out[i] += 1
    return out


def _noise_positions(rnd: random.Random, n: int) -> dict[int, list[str]]:
    """Record number -> the noise kinds written before it (one in 400 records, every kind twice)."""
    kinds = list(NOISE_KINDS)
    count = min(max(2 * len(kinds), n // 400), n - 1)
    positions = rnd.sample(range(1, n), count) if n > 1 else []
    rnd.shuffle(kinds)
    planned: dict[int, list[str]] = {}
    for j, p in enumerate(positions):
        planned.setdefault(p, []).append(kinds[j % len(kinds)])
    return planned


def _prefix_positions(rnd: random.Random, n: int) -> dict[int, int]:
    """Record number -> the kind of the consumer prefix written before it (one in 300 records)."""
    count = min(max(8, n // 300), n - 1)
    positions = rnd.sample(range(1, n), count) if n > 1 else []
    return {p: j % PREFIX_KINDS for j, p in enumerate(positions)}
