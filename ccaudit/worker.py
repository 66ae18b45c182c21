"""A parse worker, run as ``python -m ccaudit.worker`` by ``parallel.py``.

It reads one task per stdin line (JSON: a byte range of a file and a stage file to
fill), parses and classifies those lines into the stage file, and answers with one JSON
line of counts. It imports only what parsing needs, so each worker stays small.
"""
from __future__ import annotations

import json
import os
import sys

from .ingest import MAX_LINE, LoadStats, iter_lines, line_rows
from .stage import COUNT_SELECT, Stage, open_file

BATCH = 5000


def parse_chunk(task: dict) -> dict:
    """Fill ``task['stage']`` from the lines that start in [start, end) of ``task['path']``,
    and count them there too, so the store's merge is mostly plain copies."""
    stats = LoadStats()
    conn = open_file(task["stage"])
    stage = Stage(conn)
    with open(task["path"], "rb", buffering=1 << 20) as f:
        if task["start"]:
            _skip_partial_line(f, task["start"])
        conn.execute("BEGIN")
        batch: list = []
        for row in line_rows(iter_lines(f, task["end"]), "", stats):
            batch.append(row)
            if len(batch) >= BATCH:
                stage.add(batch)
                batch = []
        stage.add(batch)
        conn.execute(f"CREATE TABLE counts AS {COUNT_SELECT.format(events='all_events')}")
        conn.execute("COMMIT")
    conn.close()
    if task.get("delete"):
        os.remove(task["path"])
    return {
        "seq": task["seq"], "stage": task["stage"], "offered": stats.records_read,
        "lines": stats.lines, "noise": stats.noise_lines, "malformed": stats.malformed,
        "problems": [[pos, why] for _, pos, why in stats.problems],
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
                reply = parse_chunk(task)
            except Exception as e:  # reported by the parent as an input error
                reply = {"seq": task["seq"], "error": f"{type(e).__name__}: {e}"}
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
    except (KeyboardInterrupt, BrokenPipeError):
        os._exit(130)


if __name__ == "__main__":
    main()
