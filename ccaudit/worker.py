"""A parse worker, run as ``python -m ccaudit.worker`` by ``parallel.py``.

It reads one task per stdin line (JSON) and answers each stage file it fills with one
JSON line of counts (``"last": true`` on a task's final answer). Two kinds of task:

* lines: parse the lines that start in a byte range of a file into one stage file;
* json: stream a whole JSON array / concatenated-objects input (jsondoc.py), into a new
  stage file every JSON_PART records (it cannot start mid-file, but the store can
  merge one part while the worker parses the next).

It imports only what parsing needs, so each worker stays small.
"""
from __future__ import annotations

import json
import os
import sys
from itertools import islice
from typing import Iterator

from .ingest import MAX_LINE, Dump, LoadStats, iter_lines, json_rows, line_rows, until_broken, without_bom
from .stage import Stage, open_file

BATCH = 1000
JSON_PART = 50_000


def run(task: dict) -> Iterator[dict]:
    """The answers to one task."""
    if task.get("shape", "lines") == "lines":
        yield parse_range(task)
    else:
        yield from parse_json(task)


def parse_range(task: dict) -> dict:
    """Fill ``task['stage']`` from the lines that start in [start, end) of ``task['path']``."""
    stats = LoadStats()
    with open(task["path"], "rb", buffering=1 << 20) as f:
        if task["start"]:
            _skip_partial_line(f, task["start"])
        else:
            without_bom(f)
        _fill(task["stage"], line_rows(iter_lines(f, task["end"]), "", stats))
    if task.get("delete"):
        os.remove(task["path"])
    return _answer(task["stage"], stats)


def parse_json(task: dict) -> Iterator[dict]:
    stats = LoadStats()
    dump = Dump(task["path"])
    rows = until_broken(json_rows(dump.open(), "", stats, array=task["shape"] == "array"), "", stats)
    for part in range(sys.maxsize):
        before = (stats.records_read, stats.noise_lines, stats.malformed, len(stats.problems))
        path = f"{task['stage']}-{part}"
        last = _fill(path, islice(rows, JSON_PART)) < JSON_PART
        yield _answer(path, stats, before, last)
        if last:
            return


def _fill(path: str, rows) -> int:
    """Stage ``rows`` into a new stage file and count them there too, so the store's
    merge is mostly plain copies; return how many rows came."""
    conn = open_file(path)
    stage = Stage(conn)
    conn.execute("BEGIN")
    n = 0
    while batch := list(islice(rows, BATCH)):
        stage.add(batch)
        n += len(batch)
    stage.write_counts()
    conn.execute("COMMIT")
    conn.close()
    return n


def _answer(path: str, stats: LoadStats, before: tuple = (0, 0, 0, 0), last: bool = True) -> dict:
    """What this stage file added to the counts (``before``: records, noise, malformed and
    problems listed when it began)."""
    read, noise, malformed, listed = before
    return {
        "stage": path, "last": last, "lines": stats.lines,
        "offered": stats.records_read - read,
        "noise": stats.noise_lines - noise,
        "malformed": stats.malformed - malformed,
        "problems": [[pos, why] for _, pos, why in stats.problems[listed:]],
    }


def _skip_partial_line(f, start: int) -> None:
    """Move to the first line that starts at or after ``start``: a line that starts
    earlier belongs to the previous range."""
    f.seek(start - 1)
    while (piece := f.readline(MAX_LINE)) and not piece.endswith(b"\n"):
        pass


def main() -> None:
    try:
        for line in sys.stdin:
            task = json.loads(line)
            try:
                for answer in run(task):
                    sys.stdout.write(json.dumps(answer) + "\n")
                    sys.stdout.flush()
            except Exception as e:  # reported by the parent as an input error
                sys.stdout.write(json.dumps({"error": f"{type(e).__name__}: {e}", "last": True}) + "\n")
                sys.stdout.flush()
    except (KeyboardInterrupt, BrokenPipeError):
        os._exit(130)


if __name__ == "__main__":
    main()
