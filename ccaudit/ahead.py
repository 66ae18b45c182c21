"""A generator run in a thread of its own, a couple of items ahead of its consumer: the
decompressed chunks of a gzip'd input or a pipe are spilled while the parse workers read
the ones before (zlib, bz2 and lzma release the GIL)."""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

from .errors import CcauditError
from .stops import block_stops

T = TypeVar("T")


def ahead(items: Iterator[T]) -> Iterator[T]:
    """``items``, made in a thread, a couple ahead of the consumer; the thread stops when the
    consumer does, even half-way (after an error)."""
    q: queue.Queue = queue.Queue(maxsize=2)
    done, stop = object(), threading.Event()

    def run() -> None:
        block_stops()  # so Ctrl-C goes to the main thread, where block_stops can hold it off
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put(item)
            q.put(done)
        except BaseException as e:  # handed to the consumer
            q.put(e)

    try:
        threading.Thread(target=run, daemon=True).start()
    except RuntimeError as e:  # "can't start new thread": a memory or process limit (ulimit -v, -u)
        raise CcauditError(f"cannot start a thread to read the input: {e} (is memory or the number of "
                           "processes limited: ulimit -v, ulimit -u?)") from None
    try:
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while not q.empty():  # unblock a producer waiting to put
            q.get_nowait()
