"""A generator run in a thread, ahead of its consumer: the decompressing of a compressed
input into chunk files, and the receiving of parse workers' answers while their stage
files are merged (parallel.py)."""
from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator

from .files import block_stops

STOP_WAIT = 2.0  # seconds a consumer that stops early waits for the thread to end


def background(items: Iterator) -> Iterator:
    """``items`` made in a thread, a couple ahead of the consumer."""
    with Ahead(items, 2) as ahead:
        yield from ahead


class Ahead:
    """A generator run in a thread, up to ``depth`` items ahead of the consumer, who may
    also take the items ready without waiting (``ready``). The thread stops when the
    consumer does, even half-way (after an error)."""

    def __init__(self, items: Iterator, depth: int):
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._done, self._stop, self._next = object(), threading.Event(), None
        self._thread = threading.Thread(target=self._run, args=(items,), daemon=True)
        self._thread.start()

    def _run(self, items: Iterator) -> None:
        block_stops()  # so Ctrl-C goes to the main thread, where block_stops can hold it off
        try:
            for item in items:
                if self._stop.is_set():
                    return
                self._q.put(item)
            self._q.put(self._done)
        except BaseException as e:  # handed to the consumer
            self._q.put(e)

    def __iter__(self) -> Ahead:
        return self

    def __next__(self):
        item, self._next = self._next if self._next is not None else self._q.get(), None
        if item is self._done:
            self._next = item
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item

    def ready(self) -> Iterator:
        """The items already made, in order, without waiting for more."""
        while self._next is None:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                return
            if item is self._done or isinstance(item, BaseException):
                self._next = item  # for __next__ to end or raise
                return
            yield item

    def __enter__(self) -> Ahead:
        return self

    def __exit__(self, *exc) -> None:
        """Unblock the thread if it waits to put, and let it see the stop; not for ever: it
        may be waiting for a worker, which the caller then kills."""
        self._stop.set()
        deadline = time.monotonic() + STOP_WAIT
        while self._thread.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                self._q.get(timeout=0.05)
