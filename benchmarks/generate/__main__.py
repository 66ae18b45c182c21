"""python -m benchmarks.generate N FILE [options]: see the package's docstring."""
from __future__ import annotations

import argparse
import sys
import time

from . import __doc__ as package_doc
from .dump import generate
from .writer import FORMATS


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.generate", description=package_doc.split("\n\n")[0])
    ap.add_argument("n", type=int, metavar="N", help="number of distinct records")
    ap.add_argument("file", metavar="FILE")
    ap.add_argument("--format", choices=FORMATS, default="cli")
    comp = ap.add_mutually_exclusive_group()
    comp.add_argument("--gzip", dest="compression", action="store_const", const="gzip")
    comp.add_argument("--bz2", dest="compression", action="store_const", const="bz2")
    comp.add_argument("--xz", dest="compression", action="store_const", const="xz")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", default="2024-05-06T00:00:00Z", help="first hour (UTC, full hour)")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--dups", type=float, default=0.0, metavar="FRACTION",
                    help="re-emit this fraction of records later in the stream")
    ap.add_argument("--noise", action="store_true", help="noise and malformed lines (cli/jsonl only)")
    ap.add_argument("--cut-last", action="store_true", help="end with a record cut in half")
    ap.add_argument("--gap-days", default="", help="comma-separated day indexes (0-based) with no events")
    ap.add_argument("--crowd", action="store_true",
                    help="a large organization: 3,000 service accounts and 2,000 users acting Zipf-weighted, "
                         "about 190 methods, 4,000 topics, 1,500 groups, 23,000 client addresses")
    return ap


def main(argv=None) -> None:
    ap = parser()
    a = ap.parse_args(argv)
    gaps = tuple(int(x) for x in a.gap_days.split(",") if x.strip())
    t0 = time.perf_counter()
    try:
        truth = generate(a.n, a.file, a.format, a.compression, a.seed, a.start, a.days, a.dups,
                         a.noise, a.cut_last, gaps, crowd=a.crowd)
    except ValueError as e:
        ap.error(str(e))
    elapsed = time.perf_counter() - t0
    s, load = truth["summary"], truth["summary"]["load"]
    print("wrote %s: %d events (+%d duplicates, %d noise, %d malformed) %s..%s, %.1f MB uncompressed in %.1f s; "
          "truth in %s.truth.json" % (a.file, s["events"], load["duplicates"], load["noise_lines"],
                                      load["malformed"], s["first_day"], s["last_day"],
                                      truth["_bytes"] / 1e6, elapsed, a.file), file=sys.stderr)


if __name__ == "__main__":
    main()
