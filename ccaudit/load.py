"""Load dumps into a store: read rows from each input and insert them in batches.

With ``parallel=True`` (the default for large inputs) parsing runs in a forked worker
process while this process writes to SQLite, so the two halves of the work share the two
cores; batches cross over a bounded queue, so memory stays flat.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import time
from typing import Callable, Iterable, Iterator

from .errors import InputError
from .ingest import Dump, LoadStats, read_rows
from .store import Store

BATCH = 10_000
PARALLEL_MIN_BYTES = 8 * 2**20  # below this a worker process costs more than it saves

Progress = Callable[[str, int, int | None, int], None]  # label, bytes done, total, records


def load_dumps(paths: Iterable[str], store: Store, *, progress: Progress | None = None,
               parallel: bool | None = None) -> LoadStats:
    """Load every input into ``store``; inputs that fail are noted in the stats, not raised."""
    stats = LoadStats()
    for path in paths:
        dump = Dump(path)
        use_worker = parallel if parallel is not None else _worth_a_worker(dump)
        batches = _worker_batches(dump, stats) if use_worker else _batches(dump, stats)
        try:
            store.load(_reporting(batches, dump, stats, progress), stats)
        except InputError as e:
            stats.failed_inputs.append(dump.label)
            stats.errors.append(str(e))
    return stats


def _worth_a_worker(dump: Dump) -> bool:
    return (dump.size or 0) >= PARALLEL_MIN_BYTES and "fork" in mp.get_all_start_methods()


def _batches(dump: Dump, stats: LoadStats) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for row in read_rows(dump, stats):
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _reporting(batches: Iterator[list[tuple]], dump: Dump, stats: LoadStats,
               progress: Progress | None) -> Iterator[list[tuple]]:
    """Pass batches through, telling ``progress`` at most a few times a second."""
    last = 0.0
    for batch in batches:
        yield batch
        if progress is not None and time.monotonic() - last > 0.25:
            last = time.monotonic()
            progress(dump.label, dump.tell(), dump.size, stats.records_read)
    if progress is not None:
        progress(dump.label, dump.size or dump.tell(), dump.size, stats.records_read)


# -- worker process -------------------------------------------------------------------

def _worker_batches(dump: Dump, stats: LoadStats) -> Iterator[list[tuple]]:
    """Batches parsed by a forked child; its counts are merged into ``stats`` at the end."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue(maxsize=4)
    child = ctx.Process(target=_parse_into, args=(dump, queue), daemon=True)
    child.start()
    try:
        while True:
            kind, payload, position = queue.get()
            dump.position = position
            if kind == "rows":
                stats.records_read += len(payload)
                yield payload
            elif kind == "error":
                raise InputError(payload)
            else:
                child_stats: LoadStats = payload
                child_stats.records_read = 0  # already counted batch by batch
                stats.merge(child_stats)
                return
    finally:
        if child.is_alive():
            child.terminate()
        child.join()


def _parse_into(dump: Dump, queue) -> None:
    stats = LoadStats()
    try:
        for batch in _batches(dump, stats):
            queue.put(("rows", batch, dump.tell()))
        queue.put(("done", stats, dump.tell()))
    except InputError as e:
        queue.put(("error", str(e), 0))
    except KeyboardInterrupt:
        pass
    finally:
        queue.close()
        queue.join_thread()
        os._exit(0)
