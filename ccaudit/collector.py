"""Python's cycle collector during a load or a report (see ``FewerCollections``)."""
from __future__ import annotations

import gc
import threading

COLLECT_EVERY = 20_000  # allocations between two garbage collections during a load or report (Python: 700)


class FewerCollections:
    """Python's cycle collector run every COLLECT_EVERY allocations, not 700, and the
    objects made before (modules, click) frozen out of its sweeps, unless the program
    froze objects of its own: those it keeps frozen, and nothing more is.

    A load makes and frees millions of small tuples and none of them is in a cycle: at the
    default the collector took 11 % of the main process's CPU and 5 % of a worker's. It
    still runs, so a cycle made meanwhile is still freed. A class, not a generator: a
    Ctrl-C as the ``with`` ends left the generator suspended, and its clean-up then ran at
    exit, after ``gc`` was gone, printing a traceback.
    """

    _lock = threading.Lock()
    _depth = 0  # loads and reports of the process's threads in one: the first saves, the last restores
    _before: tuple = ()
    _frozen = 0

    def __enter__(self) -> None:
        cls = FewerCollections
        with cls._lock:
            if not cls._depth:
                cls._before, cls._frozen = gc.get_threshold(), gc.get_freeze_count()
                if not cls._frozen:  # else what it froze would stay frozen for good (only all can be unfrozen)
                    gc.freeze()
                gc.set_threshold(COLLECT_EVERY, *cls._before[1:])
            cls._depth += 1

    def __exit__(self, *exc: object) -> None:
        cls = FewerCollections
        with cls._lock:
            cls._depth -= 1
            if not cls._depth:
                gc.set_threshold(*cls._before)
                if not cls._frozen:
                    gc.unfreeze()
                cls._before = ()  # kept, a program's gc.freeze() froze it: the next load freed it
