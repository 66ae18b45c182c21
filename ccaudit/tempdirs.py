"""ccaudit's temporary folders in TMPDIR, each saying which process made it, so that a
later run can remove those of killed processes (SIGKILL leaves them; no cleanup runs).
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import time

from .errors import CcauditError, out_of_space, temp_full

TEMP_PREFIX = "ccaudit-tmp-"
OWNER = ".ccaudit-owner"  # in each temporary folder: who made it


def temp_root() -> str:
    """TMPDIR (if it is a folder), where SQLite writes its temporary files too. Python's
    ``tempfile`` would go on to /tmp when TMPDIR is full or not writable, silently: the
    user's choice of a folder with room, or a full one named in the error, would be lost."""
    folder = os.environ.get("TMPDIR")
    return folder if folder and os.path.isdir(folder) else tempfile.gettempdir()


def check_temp_root() -> None:
    """TMPDIR is a folder ccaudit may write in, found before a load begins: a load refused
    when it first needed a folder had made its store and noted itself in it, and the note
    then failed ``check --strict`` as a load that did not end."""
    _named_folder()
    folder = temp_root()
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CcauditError(f"{folder}: cannot make a temporary folder: it is not writable here (set TMPDIR to a "
                           "folder ccaudit may write in)")


def _named_folder() -> None:
    """A TMPDIR that is no folder (a mistyped one, a big disk meant) is refused, not passed
    over for /tmp."""
    named = os.environ.get("TMPDIR")
    if named and not os.path.isdir(named):
        what = "not a folder" if os.path.lexists(named) else "no such folder"
        raise CcauditError(f"{named}: {what}, given as TMPDIR; set TMPDIR to a folder ccaudit may write in")


def make_temp_dir() -> str:
    """A private folder in TMPDIR that says which process made it (its id, in which
    process namespace), so that a later run can tell those of killed processes apart."""
    _named_folder()
    path = None
    try:
        path = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=os.path.realpath(temp_root()))  # see
        # folders.unslashed
        with open(os.path.join(path, OWNER), "w", encoding="ascii") as f:
            f.write(f"{os.getpid()} {_pid_namespace()}\n")
    except BaseException as e:  # Ctrl-C, or a full disk: the caller never gets the folder to remove
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)
            with contextlib.suppress(OSError):  # rmtree needs descriptors: with none left (ulimit -n), the folder
                os.remove(os.path.join(path, OWNER))  # stayed, with an owner file made but not written
            with contextlib.suppress(OSError):
                os.rmdir(path)
        if isinstance(e, OSError):  # not standard output's, which the boundary takes an OSError for
            folder = temp_root()
            if out_of_space(e):
                raise temp_full(folder) from None
            hint = "raise ulimit -n" if e.errno in (errno.EMFILE, errno.ENFILE) else \
                "set TMPDIR to a folder ccaudit may write in"
            raise CcauditError(f"{folder}: cannot make a temporary folder: {e.strerror or e} ({hint})") from None
        raise
    return path


def remove_stale_temp_dirs() -> None:
    """Remove TMPDIR folders of ccaudit processes that no longer exist (killed with
    SIGKILL, which no cleanup can catch): stage files, spilled chunks, temporary stores.
    Only folders with ccaudit's owner file, of this user, from this process namespace (a
    TMPDIR shared between containers holds other namespaces' live folders)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(temp_root()):
            if (entry.name.startswith(TEMP_PREFIX) and entry.is_dir(follow_symlinks=False)
                    and entry.stat(follow_symlinks=False).st_uid == os.getuid() and _is_stale(entry.path)):
                shutil.rmtree(entry.path, ignore_errors=True)


def _is_stale(folder: str) -> bool:
    """Whether ``folder``'s process is gone; or its owner file was made but never written
    (the process failed, or was killed, in between) a minute ago or more, by a process that
    its name gives and that is gone."""
    owner = os.path.join(folder, OWNER)
    try:
        with open(owner, encoding="ascii") as f:
            said = f.read().split()
    except (OSError, ValueError):
        return False
    if not said:
        named = os.path.basename(folder)[len(TEMP_PREFIX):].split("-", 1)[0]
        return named.isdigit() and not pid_alive(int(named)) and _older(owner, UNWRITTEN)
    if len(said) != 2:
        return False
    pid, namespace = said
    return namespace == _pid_namespace() and pid.isdigit() and not pid_alive(int(pid))


UNWRITTEN = 60  # seconds after which an empty owner file is one its process never wrote


def _older(path: str, seconds: float) -> bool:
    try:
        return time.time() - os.stat(path).st_mtime >= seconds
    except OSError:
        return False


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return "-"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: no process has such a pid
        return False
    except PermissionError:
        return True
    return True
