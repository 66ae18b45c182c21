"""Load dumps into a store: pick the path for each input and keep the totals.

Small inputs and stdin are parsed here, batch by batch; large ones go to parse workers
(``parallel.py``).
"""
from __future__ import annotations

import contextlib
import inspect
import io
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator

from . import loadnotes
from .arguments import of_kind
from .collector import FewerCollections
from .errors import InputError, NoSpace, Stopped
from .files import read_twice
from .ingest import BUFFER, Dump, note_if_failed, read_rows, sniff
from .parallel import CHUNK, COMMIT_RECORDS, default_workers, load_parallel
from .stage import Merged, Stage
from .stats import LoadStats
from .store import Store
from .streams import Counted
from .tempdirs import check_temp_root
from .text import input_label, told_apart

BATCH = 10_000
BATCH_BYTES = 8 * 2**20
PARALLEL_MIN_BYTES = 16 * 2**20  # below this, starting workers costs more than it saves
AGAIN = "load the same dumps again, all of them, to complete the load"  # how a stopped load is completed
MAX_WORKERS = 64  # parse processes a program may ask for: each is a Python of about 40 MiB

Progress = Callable[[str, int, int | None, int], None]  # label, bytes done, total, records


def load_dumps(paths: Iterable[str | os.PathLike[str]], store: Store, *, progress: Progress | None = None,
               workers: int | None = None, chunk: int | None = None) -> LoadStats:
    """Load every input into ``store``. Inputs that cannot be read are noted in the
    stats (``failed``), not raised, so the others still load. A full disk, or a parse
    worker gone, stops the load (``stopped``): what was merged before it stays, and loading
    again later adds exactly the rest.

    ``workers``: parse processes for large line-oriented files (None: automatic, 0: none;
    at most MAX_WORKERS);
    ``chunk``: bytes of a file a worker parses at a time (None: automatic). Arguments no
    command would pass (a path alone, not in a list; stdin twice) raise TypeError or ValueError.
    """
    of_kind(store, Store, "load_dumps")
    inputs = _paths(paths)
    for name, value, lo, hi in (("workers", workers, 0, MAX_WORKERS), ("chunk", chunk, 1, 2**62)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise TypeError(f"load_dumps: {name} is None or an int, not {type(value).__name__}")
        if value is not None and not lo <= value <= hi:  # a million workers ran the machine out of memory
            raise ValueError(f"load_dumps: {name} is None or an int from {lo} to {hi:,}, not {value!r}")
    if progress is not None and not _takes_four(progress):  # was a TypeError once the load had begun
        raise TypeError("load_dumps: progress is None or a callable of (label, done, size, records), "
                        f"not {type(progress).__name__}")
    check_temp_root()  # before the load's note: refused later, it passed for a load that did not end
    stats = LoadStats()
    with store.holding():  # from the load's note to its end
        try:  # a temporary store goes with its command: no reader will ask how its load ended
            note = store.begin_load(inputs) if store.durable else None
        except NoSpace as e:
            stats.stopped = str(e)
            return stats
        carried = Carried(store)
        try:
            _load_all(inputs, carried, stats, note, progress, workers, chunk)
        except BaseException:  # Ctrl-C, a program's progress that raised: the load did not end, and says so
            try:
                carried.roll_back()
            finally:
                store.load_failed()
            raise
    return stats


class Carried:
    """The write transaction of inputs parsed here, carried from one input to the next until
    it holds COMMIT_RECORDS records, as the parse workers' are: each input committed on its
    own cost a load of many small files (a sink connector's) three syncs a file: 2,000 files
    of a record took 7 s here, 30 s on a slower disk. What it added is told once committed (a
    full disk rolls it back)."""

    def __init__(self, store: Store):
        self.store, self.merged = store, Merged(0, 0)
        self._open: contextlib.ExitStack | None = None

    def merge(self, batch: list[tuple], carry: bool = True) -> Merged:
        """Merge ``batch``: what the transaction added, if this committed it, else nothing yet.
        Not ``carry``: committed at once (a stream's: its next read may wait for minutes,
        and the store's write lock, and what was read, with it)."""
        if self._open is None:
            opened = contextlib.ExitStack()
            opened.enter_context(self.store.writing())  # (if it cannot begin, none is open)
            self._open, self.merged = opened, Merged(0, 0)
        stage = Stage()
        stage.add(batch)
        try:
            self.merged += self.store.merge(stage.staged())
        except BaseException:
            self.roll_back()
            raise
        return self.commit() if sum(self.merged) >= COMMIT_RECORDS or not carry else Merged(0, 0)

    def commit(self) -> Merged:
        """Commit the transaction, if one is open: what it added."""
        opened, self._open = self._open, None
        if opened is None:
            return Merged(0, 0)
        opened.close()
        return self.merged

    def roll_back(self) -> None:
        """Leave the transaction, if one is open, as the exception being handled does."""
        opened, self._open = self._open, None
        if opened is not None:
            opened.__exit__(*sys.exc_info())


def _load_all(inputs: list[str], carried: Carried, stats: LoadStats, note: str | None, progress: Progress | None,
              workers: int | None, chunk: int | None) -> None:
    whole: dict[str, int | None] = {}  # the inputs read as far as they go, as files (loadnotes.identity): size read
    store = carried.store
    for path, label in zip(inputs, told_apart(map(input_label, inputs), inputs)):
        dump = Dump(path, label)
        before = stats.records_read, stats.noise_lines, stats.malformed
        try:
            with FewerCollections():
                file, size = _load_one(dump, carried, stats, progress, workers, chunk)
        except InputError as e:
            stats.fail(dump.label, str(e))
            continue
        except Stopped as e:  # a full disk, a parse worker gone
            stats.stopped = f"{e}; what was loaded before it is kept: {AGAIN}" if e.again and store.durable else str(e)
            break
        note_if_failed(dump.label, stats, before, dump.binary)
        if stats.read_all_it_holds(dump.label):
            whole[file] = size
    try:  # the last transaction, committed before the load's end is noted
        stats.add_merged(carried.commit())
    except NoSpace as e:
        stats.stopped = str(e)
    if note is not None and not stats.stopped:
        try:
            store.end_load(note, whole)
        except NoSpace as e:
            stats.stopped = str(e)
    store.read_unfinished()  # (this load may have ended another's)


def _load_one(dump: Dump, carried: Carried, stats: LoadStats, progress: Progress | None,
              workers: int | None, chunk: int | None) -> tuple[str, int | None]:
    """Load ``dump``; the file it read, as ``loadnotes.identity`` names it, and its size then."""
    if dump.size is None:  # a stream: opening it (a FIFO) and its first read may wait for its producer
        stats.add_merged(carried.commit())
    shape, stream = sniff(dump.open())
    watched = _watch(dump)
    try:
        _load_shape(dump, shape, stream, carried, stats, progress, workers, chunk)
        size = os.fstat(watched).st_size if watched is not None else dump.size
        read = loadnotes.identity(dump.path, watched) if watched is not None else loadnotes.STREAM
    finally:
        if watched is not None:
            os.close(watched)
    if size != dump.size:
        stats.changed_size(dump.label, dump.size, size)  # type: ignore[arg-type]  # unequal: both are sizes
    return read, size


def _watch(dump: Dump) -> int | None:
    """The file as opened, to tell its size once read: a dump still being written, or
    truncated meanwhile, was loaded in part without a word (workers read the byte ranges
    of its size at the start)."""
    if dump.size is None:
        return None
    try:
        return os.dup(dump.fileno())
    except OSError:  # out of descriptors: the load itself says so, if it matters
        return None


def _load_shape(dump: Dump, shape: str, stream, carried: Carried, stats: LoadStats, progress: Progress | None,
                workers: int | None, chunk: int | None) -> None:
    n = _workers_for(dump, shape, workers)
    tell = _teller(dump, stats, progress)
    if n:
        stats.add_merged(carried.commit())  # the workers' merges make transactions of their own
    if not (n and load_parallel(dump, stream, carried.store, stats, shape=shape, workers=n, chunk=chunk or CHUNK,
                                progress=tell)):
        _load_here(dump, shape, stream, carried, stats, tell)
    if progress is not None:  # (a program's callable may be false: an empty mapping's)
        progress(dump.label, dump.size or dump.tell(), dump.size, stats.records_read)


def _load_here(dump: Dump, shape: str, stream, carried: Carried, stats: LoadStats,
               tell: Callable[[int], None] | None) -> None:
    """Parse ``dump`` in this process, batch by batch. A stream's batches are committed as
    they come, not carried, and so is what it gave so far whenever it pauses (``idle``)."""
    batch: list[tuple]  # rows read, not merged yet
    counted, batch, a_stream = Counted(stream), [], dump.size is None
    rows = read_rows(dump, stats, io.BufferedReader(counted, BUFFER), shape)  # type: ignore[arg-type]

    def idle() -> None:
        if batch:
            stats.add_merged(carried.merge(batch[:], carry=False))
            batch.clear()

    dump.on_idle(idle)
    with contextlib.closing(rows):  # now, if a signal stops the load: at exit, its module would be gone
        for full in _batches(rows, counted, tell, batch):
            stats.add_merged(carried.merge(full, carry=not a_stream))


def _workers_for(dump: Dump, shape: str, workers: int | None) -> int:
    """Parse processes for an input: none for small ones, nor for stdin unless asked
    (a worker cannot read it), and one for JSON arrays and objects (read front to back)."""
    if workers == 0 or dump.path == "-" and (workers is None or shape != "lines"):
        return 0
    if workers is None:
        big = (dump.size or 0) * (10 if dump.compressed else 1) >= PARALLEL_MIN_BYTES
        workers = default_workers() if big else 0
    return workers if shape == "lines" else min(workers, 1)


def _takes_four(progress: object) -> bool:
    """Whether ``progress`` can be called with four arguments, as far as its signature tells."""
    if not callable(progress):
        return False
    try:
        signature = inspect.signature(progress)
    except Exception:  # none to read (some builtins, a __getattr__ of its own): let it be
        return True
    try:
        signature.bind(None, None, None, None)
    except TypeError:
        return False
    return True


def _teller(dump: Dump, stats: LoadStats, progress: Progress | None) -> Callable[[int], None] | None:
    """A callback for the loaders that tells ``progress`` at most four times a second."""
    if progress is None:
        return None
    last = [0.0]

    def tell(_: int) -> None:
        if time.monotonic() - last[0] > 0.25:
            last[0] = time.monotonic()
            progress(dump.label, dump.tell(), dump.size, stats.records_read)

    return tell


def _batches(rows: Iterator[tuple], read: Counted, tell: Callable[[int], None] | None,
             batch: list[tuple]) -> Iterator[list[tuple]]:
    """``rows`` BATCH at a time, or fewer once they come from BATCH_BYTES of input: a
    record of a long name is a row of one, and 10,000 of them held gigabytes. Each is
    gathered in ``batch``, which a stream's ``idle`` may empty meanwhile."""
    start = read.given
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH or read.given - start >= BATCH_BYTES:
            full = batch[:]
            batch.clear()
            yield full
            if tell:
                tell(len(full))
            start = read.given
    if batch:
        yield batch[:]
        batch.clear()


def _paths(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """``paths`` as the list of names they are: one name alone would be read a character
    at a time, and a stream named twice read empty the second time."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(f"load_dumps takes a list of paths, not one path alone: [{str(paths)!r}]")
    if isinstance(paths, io.IOBase):  # its lines were read as paths
        raise TypeError("load_dumps takes a list of paths, not an open file (give [its name], or ['-'] for stdin)")
    inputs = [os.fspath(p) if isinstance(p, os.PathLike) else p for p in paths]
    if not all(isinstance(p, str) for p in inputs):
        raise TypeError("load_dumps takes paths as str or os.PathLike")
    if twice := read_twice(inputs):
        raise ValueError(f"load_dumps: {twice}")
    return inputs
