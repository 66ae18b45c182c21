"""One dump played out: hour by hour, records in time order go through six partitions and come
out as a lagging consumer prints them, with duplicates, noise and prefixes where planned.

Everything is drawn from one ``random.Random(seed)`` in a fixed order (the world, the plan,
then record by record), so a seed always gives the same bytes. Output is streamed: memory
stays constant whatever N is.
"""
from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable

from .crowd_records import crowd_records
from .noise import Noise
from .plan import PARTITIONS, Plan
from .records import Records
from .templates import compile_templates
from .times import HOUR_NS, Hour, parse_start, time_text
from .truth import Counts, write_truth
from .world import Draw, World
from .writer import FORMATS, LINE_FORMATS, DumpWriter, prefix

RESERVOIR = 4096  # bounded sample of emitted lines that duplicates are drawn from
RELEASE_EVERY = 64  # records made between two looks at the partitions
FETCH_MAX = 200  # records a consumer fetch takes from one partition while draining
BURST, BACKGROUND = -2, -1  # kinds of an hour's slots; at the same instant a burst record sorts first
FIRST_TIME = "2024-01-01T00:00:00Z"  # the time of noise written before the first record


def generate(n, path, fmt="cli", compression=None, seed=0, start="2024-05-06T00:00:00Z", days=7,
             dups=0.0, noise=False, cut_last=False, gap_days=(), truth_path=None, crowd=False):
    """Write the dump and its truth; return the truth dict (plus ``_bytes``: uncompressed size).
    ``crowd``: the many principals of a large organization (crowd.py) instead of the default world."""
    if fmt not in FORMATS:
        raise ValueError("format must be one of %s" % ", ".join(FORMATS))
    if noise and fmt not in LINE_FORMATS:
        raise ValueError("--noise is only for the line formats (cli, jsonl)")
    if n < 1 or days < 1:
        raise ValueError("N and --days must be at least 1")
    start_s = parse_start(start)
    if len(set(gap_days)) >= days:
        raise ValueError("every day is a gap day")
    out = DumpWriter(path, fmt, compression)
    dump = Dump(out, n, seed, start_s, days, set(gap_days), noise, ndups=int(round(dups * n)), crowd=crowd)
    truth = dump.write(cut_last)
    write_truth(truth, truth_path or (str(path) + ".truth.json"))
    truth["_bytes"] = out.bytes
    return truth


class Reservoir:
    """A bounded uniform sample of the lines emitted so far (algorithm R)."""

    def __init__(self, random_: Callable[[], float], size: int = RESERVOIR):
        self.random, self.size = random_, size
        self.lines: list[str] = []
        self.seen = 0

    def __len__(self) -> int:
        return len(self.lines)

    def offer(self, line: str) -> None:
        self.seen += 1
        if len(self.lines) < self.size:
            self.lines.append(line)
        else:
            j = int(self.random() * self.seen)
            if j < self.size:
                self.lines[j] = line

    def take(self) -> str:
        """Remove and return one line of the sample, drawn uniformly."""
        j = int(self.random() * len(self.lines))
        line = self.lines[j]
        self.lines[j] = self.lines[-1]
        self.lines.pop()
        return line


class Partitions:
    """Six time-ordered queues; each lets a record out once it trails the newest by its lag."""

    def __init__(self, rnd: random.Random, lags: list[float], offsets: list[int], emit):
        self.rnd, self.random = rnd, rnd.random
        self.lags, self.offsets, self.emit = lags, list(offsets), emit
        self.queues: list[deque] = [deque() for _ in range(PARTITIONS)]
        self.since_release = 0

    def add(self, t: float, line: str) -> None:
        self.queues[int(self.random() * PARTITIONS)].append((t, line))
        self.since_release += 1
        if self.since_release >= RELEASE_EVERY:
            self.since_release = 0
            self.release(t)

    def release(self, now: float) -> None:
        """Emit what every partition lets out at ``now``, partitions in a random order."""
        order = list(range(PARTITIONS))
        self.rnd.shuffle(order)
        for p in order:
            queue, cutoff = self.queues[p], now - self.lags[p]
            while queue and queue[0][0] <= cutoff:
                self._emit(p, *queue.popleft())

    def drain(self) -> None:
        """Emit what the lagging partitions still hold, a fetch batch at a time."""
        while any(self.queues):
            p = self.rnd.choice([p for p in range(PARTITIONS) if self.queues[p]])
            queue = self.queues[p]
            for _ in range(min(len(queue), 1 + int(self.random() * FETCH_MAX))):
                self._emit(p, *queue.popleft())

    def _emit(self, p: int, t: float, line: str) -> None:
        self.offsets[p] += 1
        self.emit(p, self.offsets[p], t, line)


class Dump:
    """The records of one dump and the truth counted as they are made."""

    def __init__(self, out: DumpWriter, n: int, seed: int, start: int, days: int, gap_days: set[int], noise: bool,
                 ndups: int, crowd: bool = False):
        self.out = out
        rnd = self.rnd = random.Random(seed)
        self.random = rnd.random
        if crowd:
            world, records, draw = crowd_records(rnd)
        else:
            world = World.create(rnd)
            draw = Draw(rnd)
            records = Records(world, compile_templates(world.org), draw)
        self.mix = records.mix()
        self.burst = records.kafka_auth("burst")
        self.noise = Noise(records.mds("user"), draw.uuid4, world.metrics_sa)
        self.uuid4 = draw.uuid4
        self.plan = Plan.make(rnd, n, start, days, gap_days, len(self.mix), noise)
        self.n, self.ndups = n, ndups
        self.counts = Counts()
        self.reservoir = Reservoir(self.random)
        self.emitted = self.duplicates = self.background_made = 0
        self.last_time = FIRST_TIME

    def write(self, cut_last: bool) -> dict:
        """Write every record (and what goes with it), close the dump; return the truth."""
        out = self.out
        partitions = Partitions(self.rnd, self.plan.lags, self.plan.partition_offsets, self._emit)
        for h in range(self.plan.hours):
            self._make_hour(h, partitions)
        partitions.drain()
        while self.duplicates < self.ndups:  # only if the reservoir ran dry
            if not self.reservoir:
                raise AssertionError("no records to duplicate")
            self._duplicate()
        assert self.emitted == self.n, (self.emitted, self.n)
        out.close(cut_record=self._cut_record() if cut_last else None)
        return self.counts.report({
            "records_read": self.n + self.duplicates, "inserted": self.n, "duplicates": self.duplicates,
            "noise_lines": out.noise_lines, "malformed": out.malformed})

    def _make_hour(self, h: int, partitions: Partitions) -> None:
        """The hour's records in time order: counted in the truth, then queued in a partition."""
        count = self.plan.background[h]
        bursts = self.plan.per_burst if h in self.plan.burst_hours else 0
        if not count and not bursts:
            return
        hour = Hour.at(self.plan.start + h * 3600)
        r, uuid4, counts = self.random, self.uuid4, self.counts
        slots = [(int(r() * HOUR_NS), BACKGROUND) for _ in range(count)]
        step = HOUR_NS / bursts if bursts else 0
        slots += [(int((k + r() * 0.9) * step), BURST) for k in range(bursts)]
        slots.sort()
        for offset, kind in slots:
            build = self.burst if kind == BURST else self._next_background()
            ts = time_text(r, hour, offset)
            line, method, section, key = build(uuid4(), ts)
            self.last_time = ts
            counts.add(hour.date, hour.hour, method, section, key)
            partitions.add(hour.start + offset / 1e9, line)

    def _next_background(self):
        """The builder of the next background record: forced by the plan, or drawn from the mix."""
        forced = self.plan.forced.pop(self.background_made, None)
        self.background_made += 1
        return self.mix.choose(self.random()) if forced is None else self.mix.builders[forced]

    def _emit(self, partition: int, offset: int, t: float, line: str) -> None:
        """A record as the consumer prints it: noise planned before it, its prefix, its duplicates."""
        i = self.emitted
        for kind in self.plan.noise.pop(i, ()):
            self.out.noise(self.noise.line(kind, self.last_time))
        prefix_kind = self.plan.prefixes.pop(i, None)
        if prefix_kind is None:
            self.out.record(line)
        else:
            self.out.prefixed(prefix(prefix_kind, partition, offset, t), line)
        self.emitted = i + 1
        self.reservoir.offer(line)
        if self.ndups:
            due = self.ndups * (i + 1) // self.n
            while self.duplicates < due and self.reservoir:
                self._duplicate()

    def _duplicate(self) -> None:
        self.out.record(self.reservoir.take())
        self.duplicates += 1

    def _cut_record(self) -> str:
        """The record the dump ends with, cut in half by the writer."""
        line = self.noise.fresh_line(self.last_time)
        if self.out.fmt == "pretty":  # a second record, as the seed's output has always drawn
            line = self.noise.fresh_line(self.last_time)
        return line
