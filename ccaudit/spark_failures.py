"""Spark's failures in one line: its exceptions carry JVM and Python tracebacks, and the
cause that matters (a full disk) is often the last of a chain."""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator

from .errors import InputError
from .tempdirs import temp_root
from .text import printable

_JAVA_CLASS = re.compile(r"(?:[A-Za-z_$][\w$]*\.)+[A-Za-z_$][\w$]*: ")  # "org.apache.spark.SparkException: "
_USER = re.compile(r"//[^/]*@")  # a URL's user and password (to its last @), not to be shown
STARTING = "starting Spark at master "  # the note that a failure came as Spark started


def spark_message(e: Exception) -> str:
    """One line of a Spark failure: the Java exception's own message rather than py4j's
    "An error occurred while calling ...", a Python worker's last line."""
    if isinstance(e, (ConnectionError, EOFError)):  # the JVM went away (out of memory, killed)
        why = getattr(e, "strerror", None) or str(e) or "it closed"
        return (f"spark: lost the connection to Spark's JVM ({why}); did it run out of memory? A "
                "compressed file, and a line (one of 120 MiB is too long), is read whole, in the JVM's heap "
                "(1 GiB unless given more: "
                "PYSPARK_SUBMIT_ARGS='--driver-memory 4g pyspark-shell'); CCAUDIT_DEBUG=1 shows its output")
    lines = [line.strip() for line in str(e).splitlines() if line.strip()] or [type(e).__name__]
    if lines[0].startswith("An exception was thrown from the Python worker"):
        return f"spark: {lines[-1][:500]}"
    text = lines[0]
    if text.startswith("An error occurred while calling") and len(lines) > 1 and lines[1].startswith(":"):
        java = lines[1].lstrip(": ")
        named = _JAVA_CLASS.match(java)
        text = java[named.end():] if named else java
    root = _root_cause(e).strip().split("\n")[0]  # "[TASK_WRITE_FAILED] Task failed while writing rows" said
    if text.endswith(":") and root:  # a wrapper of nothing of its own ("Exception thrown in awaitResult:")
        text, root = root, ""
    said = f"spark: {text[:500]}{f' ({root[:200]})' if root and root not in text else ''}"  # nothing of why
    if "No space left on device" in text + root:  # was that alone, of a full TMPDIR
        said += f"; a disk is full: TMPDIR ({temp_root()}), which holds Spark's scratch files, or the one written"
    said = without_password(said)  # Spark's "Could not parse Master URL: 'bogus://user:pw@x'"
    if (master := _master(e)) and master not in said:  # a failure to start that does not say where
        said = f"spark: cannot start at master {master}: {said.removeprefix('spark: ')}"
    if "stopped SparkContext" in text:  # its stack of Java calls in the root cause, and no why
        said += "; Spark stopped: can it reach its master (--master, or spark-submit's)? CCAUDIT_DEBUG=1 shows why"
    if "Relative path in absolute URI" in text:  # a glob's folder holds a name with a colon (any file's)
        said += ("; Hadoop cannot list a folder that holds a name with a ':' in it: move that file, or name the "
                 "inputs without a glob")
    return said


def without_password(text: str) -> str:
    return _USER.sub("//", text)


def _master(e: Exception) -> str:
    """The master Spark failed to start at, as ``spark._start`` notes it (without a password)."""
    notes = [n for n in getattr(e, "__notes__", ()) if n.startswith(STARTING)]
    return printable(notes[0][len(STARTING):])[:200] if notes else ""


def _causes(e: Exception) -> Iterator:
    """The Java exception behind ``e``, then its causes, as far as the JVM still answers."""
    cause = getattr(e, "_origin", None) or getattr(e, "java_exception", None)
    with contextlib.suppress(Exception):  # none, or the JVM is gone
        while cause is not None:
            yield cause
            cause = cause.getCause()


def _root_cause(e: Exception) -> str:
    """The message of the last Java exception in ``e``'s causes ("No space left on device")."""
    causes = list(_causes(e))
    with contextlib.suppress(Exception):  # the JVM is gone
        return str(causes[-1].getMessage() or "") if causes else ""
    return ""


_UNREAD = ("FAILED_READ_FILE", "PATH_NOT_FOUND")  # a task's reading, the listing of a binaryFile read
_GONE = ("FAILED_READ_FILE.FILE_NOT_EXIST", "PATH_NOT_FOUND")


def unread_input(e: Exception, files: Iterable) -> InputError | None:
    """An input Spark failed to read, named as ccaudit names it (``Source.label``), or
    None. Spark names the path it was given: in local mode a link named by the file's
    rank (``file:///tmp/ccaudit-tmp-1-x/0``), which tells the user nothing. A file
    removed, cut short ("Cannot seek after EOF") or replaced while Spark read it."""
    from .spark_inputs import size_changed
    from .spark_job import file_key

    by_uri = {file_key(f.uri): f for f in files}
    for cause in _causes(e):
        with contextlib.suppress(Exception):  # not a SparkThrowable, or no path
            condition = str(cause.getCondition() or "")
            file = by_uri.get(file_key(str(cause.getMessageParameters().get("path"))))
            if file is None or not condition.startswith(_UNREAD):
                continue
            if condition in _GONE:
                return InputError(f"{file.label}: no such file (removed while Spark read it)")
            said = f"{file.label}: Spark could not read it ({_root_cause(e)[:200] or condition})"
            if (now := size_changed(file)) is not None:
                said += (f"; the file changed size while it was read ({file.size} bytes, then {now}): load it "
                         "again once it has stopped changing")
            return InputError(said)
    return None
