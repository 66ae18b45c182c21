"""The five ccaudit crosstabs computed by DuckDB straight from a dump (benchmark baseline).

usage: python benchmarks/duckdb_crosstabs.py FILE OUTDIR [--tuned] [--no-dedup] [--json]

Writes OUTDIR/<section>.csv (date, key, h00..h23, total; one row per date and key),
OUTDIR/summary.json (events, per_day, schema, seconds) and, with --json, OUTDIR/report.json
in the shape of `ccaudit report --format json` (days and sections only, no load counts).
The row keys follow the same rules as ccaudit (ccaudit/classify.py; docs/design.md, "Row keys").

Two ways to read the dump:

- default, "auto": ``read_json(FILE, format='newline_delimited', ignore_errors=true)`` with *no*
  column list: DuckDB detects the schema from a sample (the first 20,480 records) - the one-off
  script a user would write. Detected here: ``time`` as TIMESTAMPTZ, ``id`` as UUID, the
  principal (a string or an object) as JSON, ``result.data`` as MAP(VARCHAR, JSON) (which
  json_extract_string reads like JSON).
- ``--tuned``: an explicit ``columns=`` list of only the fields the sections use, so DuckDB
  neither samples nor materialises the rest of each record (the fastest DuckDB we know).

What DuckDB cannot do like ccaudit (fine for the noise-free dumps the comparison uses):
- `ignore_errors=true` turns a line that is not JSON (`% Headers:`, `% Error:`, garbage, a cut
  last line) into an all-NULL row, which the `id IS NOT NULL` filter drops. It cannot strip a
  `Partition:N Offset:M<TAB>` / `Timestamp:` prefix, so such records are lost; a line holding
  two objects `{..}{..}` or an object plus trailing text may be read differently from ccaudit.
- With the auto schema, a record that does not fit the types detected from the sample (a rare
  shape first seen after record 20,480) is also an error, so it too becomes a NULL row and is
  silently dropped: compare its event count with the truth (benchmarks/compare.py does).
- Only plain and .gz/.zst input; DuckDB's JSON reader has no bz2/xz support.
- `time` is cast with TRY_CAST(... AS TIMESTAMPTZ) in a UTC session: offsets are applied, 9-digit
  fractions are truncated, unparseable times become NULL (the record is dropped, like ccaudit's
  "malformed"). Casting to plain TIMESTAMP would silently ignore the offset, so don't.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import duckdb

SECTIONS = (
    ("kafka_authentication", "Kafka Authentication"),
    ("mds_authorize", "MDS Authorize"),
    ("signin_failure", "Sign-In Failure"),
    ("signin_success", "Sign-In Success"),
    ("all_events", "All Audit Events"),
)

# Only the fields the sections use. `principal` is a string or an object, so it stays JSON;
# `result.data` is free-form, so JSON too.
COLUMNS = ("{id: 'VARCHAR', time: 'VARCHAR', data: 'STRUCT(methodName VARCHAR, "
           "authenticationInfo STRUCT(principal JSON, result VARCHAR), "
           "authorizationInfo STRUCT(operation VARCHAR), result STRUCT(status VARCHAR, data JSON))'}")

SQL = """
CREATE MACRO strip_user(x) AS CASE WHEN starts_with(x, 'User:') THEN substr(x, 6) ELSE x END;
-- principal as shown: a string loses a leading 'User:'; an object shows the first present id
CREATE MACRO shown(p) AS CASE json_type(p)
    WHEN 'VARCHAR' THEN strip_user(json_extract_string(p, '$'))
    WHEN 'OBJECT' THEN coalesce(strip_user(coalesce(
        json_extract_string(p, '$.confluentUser.resourceId'),
        json_extract_string(p, '$.confluentServiceAccount.resourceId'),
        json_extract_string(p, '$.externalAccount.subject'),
        json_extract_string(p, '$.identityPool.resourceId'),
        json_extract_string(p, '$.email'))), '(unknown)')
    ELSE '(unknown)' END;

CREATE TEMP TABLE ev AS
WITH src AS (
    SELECT id, try_cast(time AS TIMESTAMPTZ) AS ts, data.methodName AS method,
           data.authenticationInfo.principal AS p, data.authenticationInfo.result AS auth_result,
           data.authorizationInfo.operation AS op, data.result.status AS status, data.result.data AS rdata
    FROM read_json({src}, format = '{fmt}', ignore_errors = true{columns})
    WHERE id IS NOT NULL AND data.methodName IS NOT NULL
)
SELECT {distinct} CAST(ts AS DATE) AS day, hour(ts) AS hour, method,
    CASE WHEN method = 'kafka.Authentication' THEN 'kafka_authentication'
         WHEN method = 'mds.Authorize' THEN 'mds_authorize'
         WHEN method = 'SignIn' AND coalesce(auth_result, status) = 'FAILURE' THEN 'signin_failure'
         WHEN method = 'SignIn' AND coalesce(auth_result, status) = 'SUCCESS' THEN 'signin_success'
    END AS section,
    CASE WHEN method = 'kafka.Authentication' THEN
             shown(p) || CASE WHEN status IS NOT NULL AND status <> 'SUCCESS' THEN ' (' || status || ')' ELSE '' END
         WHEN method = 'mds.Authorize' THEN shown(p) || '-' || coalesce(op, '(none)')
         WHEN method = 'SignIn' THEN
             coalesce(CASE WHEN json_type(p) = 'OBJECT' THEN json_extract_string(p, '$.email') END, shown(p))
             || CASE WHEN coalesce(auth_result, status) = 'FAILURE' THEN coalesce(' (' ||
                    list_filter(json_extract_string(rdata, '$.errors[*].status'), lambda x: x IS NOT NULL)[1]
                    || ')', '') ELSE '' END
    END AS key
FROM src WHERE ts IS NOT NULL;

CREATE TEMP TABLE counts AS
SELECT 'all_events' AS section, day, hour, method AS key, count(*) AS n FROM ev GROUP BY ALL
UNION ALL
SELECT section, day, hour, key, count(*) AS n FROM ev WHERE section IS NOT NULL GROUP BY ALL;
"""


def sniff_format(path):
    """DuckDB format for the dump: 'array' for [..], 'unstructured' for pretty JSON, else lines."""
    if not path.endswith((".gz", ".zst")):
        with open(path, "rb") as f:
            head = f.read(4096).decode("utf-8", "replace")
        first = next((ln.strip() for ln in head.splitlines() if ln.strip()), "")
        if first.startswith("["):
            return "array"
        if first == "{":
            return "unstructured"
    return "newline_delimited"


def run(path, outdir, dedup=True, want_json=False, tuned=False):
    """Compute the crosstabs of ``path`` into ``outdir``; ``tuned``: explicit columns."""
    t0 = time.perf_counter()
    os.makedirs(outdir, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    lit = "'" + path.replace("'", "''") + "'"
    # DISTINCT ON (id) keeps one copy per id, like ccaudit's de-duplication (copies are
    # identical in generated dumps; with conflicting copies DuckDB keeps an arbitrary one).
    con.execute(SQL.format(src=lit, fmt=sniff_format(path), columns=(", columns = " + COLUMNS) if tuned else "",
                           distinct="DISTINCT ON (id)" if dedup else ""))
    hours = ", ".join("coalesce(sum(n) FILTER (WHERE hour = %d), 0) AS h%02d" % (h, h) for h in range(24))
    for sid, _ in SECTIONS:
        target = os.path.join(outdir, sid + ".csv").replace("'", "''")
        con.execute("COPY (SELECT day, key, %s, sum(n) AS total FROM counts WHERE section = '%s' "
                    "GROUP BY day, key ORDER BY day, key) TO '%s' (HEADER)" % (hours, sid, target))
    per_day = {str(d): n for d, n in con.execute("SELECT day, count(*) FROM ev GROUP BY day ORDER BY day").fetchall()}
    summary = {"events": sum(per_day.values()), "per_day": per_day, "dedup": dedup,
               "schema": "tuned" if tuned else "auto",
               "seconds": round(time.perf_counter() - t0, 3)}
    if want_json:
        summary["report"] = "report.json"
        rows = con.execute("SELECT section, day, key, hour, n FROM counts").fetchall()
        with open(os.path.join(outdir, "report.json"), "w", encoding="utf-8") as f:
            json.dump(to_report(rows, per_day), f, ensure_ascii=False, indent=1)
    with open(os.path.join(outdir, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    return summary


def to_report(rows, per_day):
    """Counts -> {"summary": {...}, "days": [...]} in ccaudit's JSON shape (all dates listed)."""
    import datetime as dt
    cells = {}
    for sec, day, key, hour, n in rows:
        cells.setdefault((str(day), sec, key), [0] * 24)[hour] += n
    first, last = min(per_day), max(per_day)
    d0, d1 = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    days = []
    for i in range((d1 - d0).days + 1):
        date = (d0 + dt.timedelta(days=i)).isoformat()
        secs = {}
        for sid, title in SECTIONS:
            keys = sorted(k for (d, s, k) in cells if d == date and s == sid)
            secs[sid] = {"title": title, "rows": [{"key": k, "hours": cells[(date, sid, k)],
                                                   "total": sum(cells[(date, sid, k)])} for k in keys]}
        days.append({"date": date, "events": per_day.get(date, 0), "sections": secs})
    return {"summary": {"events": sum(per_day.values()), "first_day": first, "last_day": last,
                        "per_day": {d["date"]: d["events"] for d in days}}, "days": days}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("outdir")
    ap.add_argument("--tuned", action="store_true",
                    help="explicit columns= (only the fields used) instead of the auto-detected schema")
    ap.add_argument("--no-dedup", action="store_true", help="count every copy (no DISTINCT ON id)")
    ap.add_argument("--json", action="store_true", help="also write report.json (ccaudit's JSON shape)")
    a = ap.parse_args(argv)
    if a.file.endswith((".bz2", ".xz")):
        sys.exit("duckdb_crosstabs: DuckDB cannot read %s (only plain, .gz and .zst)" % a.file)
    s = run(a.file, a.outdir, dedup=not a.no_dedup, want_json=a.json, tuned=a.tuned)
    print("%d events in %.2f s (%s schema)" % (s["events"], s["seconds"], s["schema"]))


if __name__ == "__main__":
    main()
