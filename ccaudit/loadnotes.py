"""What a store remembers of the loads into it: a note in ``meta`` while one runs, which
one killed part way (or stopped by a full disk) leaves behind, so that a report of the part
it committed does not pass for a whole one (see ``Store.begin_load``)."""
from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timezone

from .storelock import writer_holds

PREFIX = "unfinished_load "  # + the loading process's id and a random part
NOTES = f"SELECT name, value FROM meta WHERE substr(name, 1, {len(PREFIX)}) = '{PREFIX}'"


def begun(inputs: list[str]) -> tuple[str, str]:
    """(name, value) of the note of a load of ``inputs`` beginning now."""
    began = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    return f"{PREFIX}{os.getpid()}-{os.urandom(4).hex()}", json.dumps({"began": began, "inputs": inputs})


def completed(notes: Iterable[tuple[str, str]], name: str, inputs: list[str]) -> list[str]:
    """The notes a load (``name``) of ``inputs`` that ended whole removes: its own, and those
    of loads of no other inputs, which it has completed."""
    whole = set(inputs)
    return [note for note, value in notes if note == name or set(_read(value)["inputs"]) <= whole]


def unfinished(conn: sqlite3.Connection, path: str) -> list[dict]:
    """Loads noted as begun and never ended, each {"began", "inputs"}; none while a command
    writes the store, whose own load it may be. The lock is asked about inside the
    transaction that reads the notes, which no load can commit during."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:  # gone meanwhile: its reading says so
        return []
    try:
        with conn:
            conn.execute("BEGIN")
            notes = conn.execute(NOTES).fetchall()
            return [] if not notes or writer_holds(fd) else [_read(value) for _, value in notes]
    except sqlite3.DatabaseError:  # a layout without meta, or damage, which reading the store names
        return []
    finally:
        os.close(fd)  # after the transaction: see writer_holds


def _read(value: object) -> dict:
    """A note, as ``begun`` wrote it (or as little of it as a hand-edited store keeps)."""
    try:
        note = json.loads(value)  # type: ignore[arg-type]
        began, inputs = str(note["began"]), [str(i) for i in note["inputs"]]
    except (TypeError, ValueError, KeyError):
        return {"began": "?", "inputs": []}
    return {"began": began, "inputs": inputs}
