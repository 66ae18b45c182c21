"""Load progress on a terminal: bytes read of total, records, records per second."""
from __future__ import annotations

import time
from typing import TextIO


class Progress:
    """Called by the loader a few times a second; redraws one stderr line."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.start = time.monotonic()
        self.shown = False

    def __call__(self, label: str, done: int, total: int | None, records: int) -> None:
        elapsed = max(time.monotonic() - self.start, 1e-6)
        where = f"{done / 2**20:,.0f} MiB"
        if total:
            where = f"{100 * done / total:3.0f}% of {total / 2**20:,.0f} MiB"
        self.stream.write(f"\r\x1b[K{label}: {where}, {records:,} records, {records / elapsed:,.0f}/s")
        self.stream.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
