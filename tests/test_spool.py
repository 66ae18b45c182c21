"""A Spool reads its source once and gives it back as often as asked: the first items held,
the rest from a temporary file."""
from __future__ import annotations

import errno
import io
import itertools

import pytest

from ccaudit import spool
from ccaudit.spool import Spool


class Source:
    """Items 0..n-1 as (i, [i] * 3), counting how often it is read."""

    def __init__(self, n: int):
        self.n, self.readings = n, 0

    def __iter__(self):
        self.readings += 1
        return ((i, [i] * 3) for i in range(self.n))


def spool_of(source: Source) -> Spool:
    return Spool(source, pack=lambda item: (item[0], item[1]), unpack=lambda packed: (packed[0], packed[1]),
                 bulk=lambda item: item[1])


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(Spool, "IN_MEMORY", 5)
    monkeypatch.setattr(Spool, "BATCH", 4)


@pytest.mark.parametrize("n", [0, 1, 5, 6, 9, 10, 23])
def test_gives_every_item_back_in_order_reading_the_source_once(small, n):
    source = Source(n)
    s = spool_of(source)
    expected = [(i, [i] * 3) for i in range(n)]
    assert list(s) == expected
    assert list(s) == expected
    assert list(s) == expected
    assert source.readings == 1
    assert (s.file is not None) == (n > 5)  # a file only beyond the items held
    assert s.file is None or sum(s.file.sizes) == s.file.file.seek(0, 2)


def test_items_past_a_weight_go_to_the_file_whatever_their_number(monkeypatch):
    # A row's key may be megabytes long: what is held, and a batch, are bounded by weight
    # (here 3 an item) as well as by number.
    monkeypatch.setattr(Spool, "IN_MEMORY_WEIGHT", 7)  # reached by the third item
    monkeypatch.setattr(Spool, "BATCH_WEIGHT", 6)  # reached by every second
    source = Source(10)
    s = spool_of(source)
    expected = [(i, [i] * 3) for i in range(10)]
    assert list(s) == expected
    assert list(s) == expected
    assert (source.readings, len(s.items), len(s.file.sizes)) == (1, 3, 4)  # 7 in the file: 2, 2, 2, 1


def test_two_readings_of_a_filled_spool_can_interleave(small):
    s = spool_of(Source(23))
    list(s)
    a, b = iter(s), iter(s)
    pairs = list(zip(a, b))
    assert [x for x, _ in pairs] == [y for _, y in pairs] == [(i, [i] * 3) for i in range(23)]


def test_a_reading_stopped_early_leaves_the_next_to_read_the_source_again(small):
    source = Source(23)
    s = spool_of(source)
    assert list(itertools.islice(s, 12)) == [(i, [i] * 3) for i in range(12)]
    assert list(s) == [(i, [i] * 3) for i in range(23)]
    assert list(s) == [(i, [i] * 3) for i in range(23)]
    assert source.readings == 2


def test_a_file_that_cannot_be_written_is_dropped_and_the_source_read_again(small, monkeypatch):
    opened = []

    class FullDisk:  # takes the first batch, fails on the second
        def __init__(self, *args, **kwargs):
            self.writes, self.closed = 0, False
            opened.append(self)

        def write(self, data):
            self.writes += 1
            if self.writes == 2:
                raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

        def close(self):
            self.closed = True

    monkeypatch.setattr(spool.tempfile, "TemporaryFile", FullDisk)
    source = Source(23)
    s = spool_of(source)
    assert list(s) == [(i, [i] * 3) for i in range(23)]  # the reading that failed to spool is whole
    assert s.gave_up and s.file is None
    assert list(s) == [(i, [i] * 3) for i in range(23)]
    assert list(s) == [(i, [i] * 3) for i in range(23)]
    assert source.readings == 3
    assert [(f.writes, f.closed) for f in opened] == [(2, True)]  # tried once, and let go


@pytest.mark.parametrize("room", [0, 100, 5000, 40_000])
def test_a_full_folder_whose_file_holds_unwritten_bytes_is_dropped_too(small, monkeypatch, room):
    # was: the buffered file's close, in the fallback, flushed what the disk had refused and
    # raised ENOSPC again: text and markdown reports failed, blaming their output's disk
    class Full(io.RawIOBase):  # a disk with ``room`` bytes left
        def __init__(self):
            self.left = room

        def writable(self):
            return True

        def readable(self):
            return True

        def seekable(self):
            return True

        def write(self, data):
            if not self.left:
                raise OSError(errno.ENOSPC, "No space left on device")
            n = min(len(data), self.left)
            self.left -= n
            return n

    monkeypatch.setattr(spool.tempfile, "TemporaryFile", lambda *args, **kwargs: io.BufferedRandom(Full()))
    source = Source(23)
    s = spool_of(source)
    assert list(s) == [(i, [i] * 3) for i in range(23)] and s.gave_up and s.file is None
    assert list(s) == [(i, [i] * 3) for i in range(23)] and source.readings == 2


def test_the_file_is_made_in_sqlites_temporary_folder(small, monkeypatch, tmp_path):
    monkeypatch.setenv("SQLITE_TMPDIR", str(tmp_path))
    made = []
    real = spool.tempfile.TemporaryFile
    monkeypatch.setattr(spool.tempfile, "TemporaryFile", lambda **kw: made.append(kw["dir"]) or real(**kw))
    s = spool_of(Source(23))
    list(s)
    assert made == [str(tmp_path)]


def test_close_removes_the_file(small):
    s = spool_of(Source(23))
    list(s)
    s.close()
    assert s.file.file.closed


def test_an_item_is_kept_as_its_first_reading_left_it(small):
    # a text table works a row's stats out while sizing its columns: a row written to the
    # file must take them along, not have them worked out again
    source = Source(12)
    s = spool_of(source)
    for item in s:
        item[1].append("seen")
    assert list(s) == [(i, [i] * 3 + ["seen"]) for i in range(12)]
    assert source.readings == 1
    s.close()
