"""What a store remembers of the loads into it: a note in ``meta`` while one runs, which
one killed part way (or stopped by a full disk) leaves behind, so that a report of the part
it committed does not pass for a whole one (see ``Store.begin_load``)."""
from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timezone

from . import storelock
from .numbering import blake2b
from .storelock import writer_holds
from .text import file_name, plural, printable

PREFIX = "unfinished_load "  # + the loading process's id and a random part
WHERE = f"substr(name, 1, {len(PREFIX)}) = '{PREFIX}'"  # a note's row of meta
NOTES = f"SELECT name, value FROM meta WHERE {WHERE}"


def begun(inputs: list[str]) -> tuple[str, str]:
    """(name, value) of the note of a load of ``inputs`` beginning now: the inputs as given,
    for people, and as files (``identity``), to tell when a later load has completed it."""
    began = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    return (f"{PREFIX}{os.getpid()}-{os.urandom(4).hex()}",
            json.dumps({"began": began, "inputs": [file_name(i) for i in inputs],
                        "files": [identity(i) for i in inputs], "sizes": [_size(i) for i in inputs],
                        "where": here()}))


def _size(path: str) -> int | None:
    """A file's size, which a load that completes a note of it must have read at least."""
    try:
        return os.path.getsize(path) if path != "-" and os.path.isfile(path) else None
    except OSError:
        return None


HEAD = 1 << 16  # bytes of a file that tell it from another written under its name


def identity(path: str, fd: int | None = None) -> str:
    """An input as a file: its real path, for people, and a digest of its first HEAD bytes
    (read from ``fd``, the file a load read, if given: another may have been renamed over it
    since), which ``completed`` matches wherever the file is now: a new dump written under a
    killed load's file name (a daily cron job's) is another dump, and took its note away.
    ``-`` for a stream (stdin, a pipe), which nothing tells from another."""
    if path == "-" or not os.path.isfile(path):
        return STREAM
    real = os.path.realpath(path)
    try:
        if fd is not None:
            head = os.pread(fd, HEAD, 0)
        else:
            with open(real, "rb") as f:
                head = f.read(HEAD)
    except OSError:  # unreadable: the load says so, and completes nothing
        return real
    return f"{real}\0{blake2b(head, digest_size=16).hexdigest()}"


def _path(identity: str) -> str:
    """The file's path of an ``identity`` (all of one an earlier version noted)."""
    return identity.split("\0")[0]


STREAM = "-"


def completed(notes: Iterable[tuple[str, str]], name: str, whole: dict[str, int | None]) -> list[str]:
    """The notes a load (``name``) removes: its own, and those of loads of no other files
    than those it read as far as they go (``whole``: ``identity`` -> the size it read): each
    at its path, of at least its size when the note was made (a copy cut short since is no
    longer all of it; a dump grown since holds all of it), or elsewhere of that very size.
    No stream completes another load: any load from stdin took the note of any killed one."""
    paths = {_path(f): size for f, size in whole.items()}  # a note of an earlier version holds the paths alone
    moved = {(_head(f), size) for f, size in whole.items() if size is not None}
    done = []
    for note, value in notes:
        files, sizes = (n := _read(value))["files"], n["sizes"]
        if note == name or files and STREAM not in files and all(
                _at_least(whole, f, size) or (_head(f), size) in moved if "\0" in f else _at_least(paths, f, size)
                for f, size in zip(files, sizes)):
            done.append(note)
    return done


def _head(identity: str) -> str:
    """The digest of a file's head: with its size, what tells the file wherever it is now
    (moved, linked or copied, it holds the same records; a new dump under its name does not)."""
    return identity.partition("\0")[2]


def _at_least(read: dict[str, int | None], file: str, size: int | None) -> bool:
    return file in read and (size is None or (read[file] or 0) >= size)


def unfinished(conn: sqlite3.Connection, path: str, own: str | None = None, held: int | None = None) -> list[dict]:
    """Loads noted as begun and never ended, each {"began", "inputs", "running"}:
    ``running`` while a command writes the store, whose own load it may be, and the note's
    process is there (a load killed while another writes is not running). The lock is
    asked about inside the transaction that reads the notes, which no load can commit
    during. ``own``: this command's load's note, which its own words tell of; ``held``:
    its own hold (``storelock.hold``), through which only others' holds are seen."""
    try:
        fd = held if held is not None else storelock.descriptor(path)
    except OSError:  # gone meanwhile: its reading says so
        return []
    try:
        with conn:
            conn.execute("BEGIN")
            notes = [(name, value) for name, value in conn.execute(NOTES) if name != own]
            holds = bool(notes) and writer_holds(fd)
            now = here() if holds else None  # (read once, not for each note)
            return [{**_shown(n := _read(value)), "running": holds and _alive(name, n["where"], now)}
                    for name, value in notes]
    except sqlite3.DatabaseError:  # a layout without meta, or damage, which reading the store names
        return []
    finally:
        if held is None:
            storelock.close(fd)  # after the transaction: see writer_holds


def _alive(note: str, where: str | None, now: str | None) -> bool:
    """May the process whose load the note is (its id begins the note's name) still run? One
    killed cannot, though another load holds the store now. Only a note made ``here`` tells:
    elsewhere (another container, another machine sharing the store) the id is another's.
    ``now``: ``here()`` of this process."""
    if where is None or where != now:
        return True
    try:
        pid = int(note[len(PREFIX):].split("-")[0])
        if pid > 0:
            os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (ValueError, OSError):  # a name of another shape; EPERM: another user's process
        pass
    return True


def here() -> str | None:
    """This boot of this machine and its process-id namespace, where a note's process id
    names a process (Linux's; None elsewhere, where no note is known to be of here)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            boot = f.read().strip()
        return f"{boot}/{os.stat('/proc/self/ns/pid').st_ino}"
    except (OSError, ValueError):
        return None


def dumps_of(load: dict) -> str:
    """A load's dumps in a few words: the first, and how many more."""
    inputs = ["standard input" if i == "-" else i for i in load["inputs"]]  # (a file named - is ./-)
    return (inputs[0] + (f" and {len(inputs) - 1} more" if len(inputs) > 1 else "")) if inputs else "dumps"


def warning(loads: list[dict]) -> str:
    """What a report file says of its store's loads that did not end ('' if none): read
    later, without the warnings on stderr, it would pass for a whole report. Printable, as
    names from others are."""
    said = "; ".join(f"{dumps_of(load)}, begun {load['began']}{', running' * load['running']}" for load in loads)
    return printable(f"Incomplete: the store holds part of {plural(len(loads), 'load')} that had not ended "
                     f"({said}): counts may be short") if loads else ""


def shown(value: str) -> dict:
    """The note ``value`` of a load that did not end, as ``unfinished`` gives it."""
    return {**_shown(_read(value)), "running": False}


def _shown(note: dict) -> dict:
    """A note with its files' paths, without the digests and sizes that tell them from other files."""
    return {"began": note["began"], "inputs": note["inputs"], "files": [file_name(_path(f)) for f in note["files"]]}


def _read(value: object) -> dict:
    """A note, as ``begun`` wrote it (or as little of it as a hand-edited store keeps)."""
    try:
        note = json.loads(value)  # type: ignore[arg-type]
        began, inputs = str(note["began"]), [str(i) for i in note["inputs"]]
        files = [str(f) for f in note["files"]] if "files" in note else _files_of(inputs)
    except (TypeError, ValueError, KeyError, RecursionError):
        return {"began": "?", "inputs": [], "files": [], "sizes": [], "where": None}
    sizes = note.get("sizes") if isinstance(note.get("sizes"), list) else []  # (none in an earlier version's)
    where = note.get("where") if isinstance(note.get("where"), str) else None
    return {"began": began, "inputs": inputs, "files": files, "where": where, "sizes": [
        n if type(n) is int else None for n in sizes[:len(files)]] + [None] * (len(files) - len(sizes))}


def _files_of(inputs: list[str]) -> list[str]:
    """The files of a note of the first versions that kept notes, which held the inputs as
    given alone: a file named by its full path is that file (a reload of it completes the
    note); any other input is as a stream, which no load completes (a relative name was
    relative to a folder no longer known, and /dev/stdin is no file)."""
    return [os.path.realpath(i) if os.path.isabs(i) and os.path.isfile(i) and not i.startswith("/dev/") else STREAM
            for i in inputs]
