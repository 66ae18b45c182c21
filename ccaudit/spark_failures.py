"""Spark's failures in one line: its exceptions carry JVM and Python tracebacks, and the
cause that matters (a full disk) is often the last of a chain."""
from __future__ import annotations

import contextlib
import re

from .tempdirs import temp_root

_JAVA_CLASS = re.compile(r"(?:[A-Za-z_$][\w$]*\.)+[A-Za-z_$][\w$]*: ")  # "org.apache.spark.SparkException: "


def spark_message(e: Exception) -> str:
    """One line of a Spark failure: the Java exception's own message rather than py4j's
    "An error occurred while calling ...", a Python worker's last line."""
    if isinstance(e, ConnectionError):  # the JVM went away (out of memory, killed)
        return (f"spark: lost the connection to Spark's JVM ({e.strerror or e}); did it run out of memory? A "
                "compressed file is read whole, in the JVM's heap (1 GiB unless given more: "
                "PYSPARK_SUBMIT_ARGS='--driver-memory 4g pyspark-shell'); CCAUDIT_DEBUG=1 shows its output")
    lines = [line.strip() for line in str(e).splitlines() if line.strip()] or [type(e).__name__]
    if lines[0].startswith("An exception was thrown from the Python worker"):
        return f"spark: {lines[-1][:500]}"
    text = lines[0]
    if text.startswith("An error occurred while calling") and len(lines) > 1 and lines[1].startswith(":"):
        java = lines[1].lstrip(": ")
        named = _JAVA_CLASS.match(java)
        text = java[named.end():] if named else java
    root = _root_cause(e)  # "[TASK_WRITE_FAILED] Task failed while writing rows" said nothing of why
    said = f"spark: {text[:500]}{f' ({root[:200]})' if root and root not in text else ''}"
    if "No space left on device" in text + root:  # was that alone, of a full TMPDIR
        said += f"; a disk is full: TMPDIR ({temp_root()}), which holds Spark's scratch files, or the one written"
    return said


def _root_cause(e: Exception) -> str:
    """The message of the last Java exception in ``e``'s causes ("No space left on device")."""
    cause = getattr(e, "_origin", None) or getattr(e, "java_exception", None)
    with contextlib.suppress(Exception):  # none, or the JVM is gone
        while cause.getCause() is not None:
            cause = cause.getCause()
        return str(cause.getMessage() or "")
    return ""
