"""The analysis commands: ``check`` (rate limits for CI), ``diff`` (week over week) and
``methods`` (what happened, by kind). ``cli.py`` adds them to the command group, whose
error boundary they share."""
from __future__ import annotations

import contextlib
import os
import sys

import click

from . import options as opt
from . import time_options
from .boundary import say
from .errors import ExitCode
from .filters import Filters
from .formats import format_option
from .options import LOADING, SECTION, TZ, WINDOW, db_option, tz_option
from .report import build
from .storefile import looks_like_sqlite
from .text import file_name, printable

DB_HELP = "Store to read (and to add the DUMPS to, if any). Without it, a temporary store is used."


@click.command(cls=opt.Command, short_help="Exit 1 if a key is busier than a limit (for CI).", help="""
    Exit 1 if any key is busier than a limit, for CI and cron.

    Every row of the section whose key matches the glob is checked on its own: each hour
    column against a per-hour limit, each day's total against a per-day limit. Each breach
    is printed (section, key, day, hour, count, limit, rule).

    Exit codes: 0 no breach; 1 a breach (or --strict and malformed input, no
    events, a rule that matched no key, or part of a load that did not end); 2 a bad
    rule, an unreadable input or another usage error.

    \b
    Examples:
      ccaudit check dump.json --max 'kafka_authentication:*=3600/h' --max 'signin_failure:*=5/h'
      ccaudit check --db audit.db --since 2024-05-06 --rules limits.toml --format json
    """)
@click.argument("dumps", nargs=-1, type=opt.DUMPS)
@db_option(DB_HELP)
@click.option("--max", "max_rules", multiple=True, metavar="RULE", callback=opt.typed_text,
              help="SECTION:KEYGLOB=N/h or =N/d: at most N events per key per hour or per day "
                   "(SECTION may be * or a glob). Repeatable.")
@click.option("--rules", "rules_files", type=click.Path(dir_okay=False), multiple=True, callback=opt.none_empty,
              help="TOML file of [[rule]] tables: section, key, max, per = \"hour\"|\"day\" (- for standard input). "
                   "Repeatable.")
@format_option(["text", "json"])
@TZ
@WINDOW
@opt.loading("Exit 1 on malformed input too, and on no events, a rule that matched no key, or part of a load "
             "that did not end.")
def check(dumps, db_path, max_rules, rules_files, fmt, tz, since, until, strict, quiet):
    from . import check as checks
    from .files import read_twice

    if not dumps and not db_path:
        raise click.UsageError("give one or more DUMP files (- for standard input), or --db with a store to check")
    opt.existing_store(dumps, db_path)
    opt.refuse_closed_output("the check's results")
    opt.check_inputs(dumps)
    if twice := read_twice((*rules_files, *dumps)):  # --rules /dev/stdin and -: the dump was read empty, "OK"
        raise click.UsageError(twice)
    rules = [checks.parse_rule(r) for r in max_rules]
    for rules_file in rules_files:
        rules += checks.load_rules_file(rules_file)
    if not rules:
        raise click.UsageError("give at least one --max RULE or a --rules FILE")
    rules = list(dict.fromkeys(rules))  # a rule given twice (--max and --rules) is checked once, where first given
    by_text = {r.text: r for r in rules}
    zone = time_options.zone(tz)
    sections = tuple(sorted({s for r in rules for s in r.sections()}))
    filters = time_options.filters(zone, since, until, sections=sections)
    with opt.loaded_report(db_path, dumps, quiet, zone, filters) as (loaded, rep):
        if not rep.days:
            say("ccaudit: warning: no events to check")
        with contextlib.closing(checks.Breaches(rep, rules)) as breaches:
            for rule in breaches.unmatched if rep.days else ():  # the hint for a principal typed as records spell it
                key = printable(by_text[rule].key)
                hint = f" (keys are matched as reports show them: {key[5:]}, not {key})" * key.startswith("User:")
                opt.tell(f"warning: rule {rule} matched no key{hint}")
            sys.stdout.writelines(checks.render(breaches, rules, rep, fmt, strict))
    failed = breaches.count or strict and checks.unchecked(breaches, rep)  # what was asked could not be checked
    sys.exit(opt.worst(opt.exit_code(loaded, strict, told=True), ExitCode.CHECK_FAILED if failed else ExitCode.OK))


@contextlib.contextmanager
def _source(name: str, paths: tuple[str, ...], quiet: bool):
    """(store, LoadStats or None) of one side of a diff: its store, or its dumps loaded."""
    stores = [p for p in paths if looks_like_sqlite(p) or _empty_store(p)]
    if len(stores) > 1:
        raise click.UsageError(f"{name}: give one store, not {len(stores)} ({', '.join(stores)})")
    if stores and len(paths) > 1:
        raise click.UsageError(f"{name}: give one store, or dump files, not both ({stores[0]})")
    with opt.open_store(stores[0] if stores else None, readonly=bool(stores)) as store:
        if not stores and not quiet:
            say(f"ccaudit: loading {name}")
        yield store, opt.load_all(() if stores else paths, store, quiet)


def _same_files(a_paths: tuple[str, ...], b_paths: tuple[str, ...]) -> bool:
    """Whether both sides name the same files, however spelled (``a.db`` and ``./a.db``)."""
    def same(a: str, b: str) -> bool:
        with contextlib.suppress(OSError):
            return a == b or "-" not in (a, b) and os.path.samefile(a, b)
        return False
    return len(a_paths) == len(b_paths) and all(map(same, a_paths, b_paths))


def _empty_store(path: str) -> bool:
    """An empty file named as a store (a load into it stopped as it began): read as an empty
    dump, every key was "vanished", and the diff exited 0."""
    return path.lower().endswith((".db", ".sqlite", ".sqlite3")) and os.path.isfile(path) \
        and not os.path.getsize(path)


def _label(name: str, paths: tuple[str, ...], since: str | None, until: str | None) -> str:
    window = " ".join(w for w in (since and f"from {since}", until and f"until {until}") if w)
    return f"{name} = {', '.join(map(file_name, paths))}" + (f" ({window})" if window else "")


@click.command(cls=opt.Command, short_help="Compare two stores or dumps, key by key.", help="""
    Compare A with B per section and key: counts, change, new and vanished keys.

    A and B are each a ccaudit store (SQLite file) or a dump file; for several dumps per
    side use --a FILE --b FILE (repeatable) instead. Counts are totals over each side's
    whole period; the largest changes come first. The same store can be both sides, each
    with its own window (--a-since/--a-until, --b-since/--b-until).

    \b
    Examples:
      ccaudit diff last-week.db this-week.db
      ccaudit diff --a mon.json --a tue.json --b mon2.json --b tue2.json --format markdown
      ccaudit diff audit.db audit.db --a-until 2024-05-12 --b-since 2024-05-13 --top 10
    """)
@click.argument("stores_or_dumps", nargs=-1, metavar="[A B]", type=opt.DUMPS)
@click.option("--a", "a_paths", multiple=True, type=opt.DUMPS,
              help="A dump (repeatable) or one store for side A, instead of the A argument.")
@click.option("--b", "b_paths", multiple=True, type=opt.DUMPS,
              help="A dump (repeatable) or one store for side B, instead of the B argument.")
@format_option(["text", "json", "markdown", "csv"])
@SECTION
@click.option("--top", type=opt.TOP, help="Keep the N largest changes per section.")
@click.option("--all", "show_same", is_flag=True, help="Also list keys whose count did not change.")
@click.option("--a-since", metavar="WHEN", help="Only A's events at or after this date or time.")
@click.option("--a-until", metavar="WHEN", help="Only A's events before this time (a date includes that day).")
@click.option("--b-since", metavar="WHEN", help="Only B's events at or after this date or time.")
@click.option("--b-until", metavar="WHEN", help="Only B's events before this time (a date includes that day).")
@tz_option("the dates and times of --a-since, --a-until, --b-since and --b-until")
@LOADING
def diff(stores_or_dumps, a_paths, b_paths, fmt, sections, top, show_same, a_since, a_until, b_since, b_until,
         tz, strict, quiet):
    from . import diff as differ

    if stores_or_dumps and (a_paths or b_paths):
        raise click.UsageError("give A and B as arguments, or with --a/--b, not both")
    if stores_or_dumps:
        if len(stores_or_dumps) != 2:
            raise click.UsageError("give exactly two arguments, A and B (or use --a/--b)")
        a_paths, b_paths = (stores_or_dumps[0],), (stores_or_dumps[1],)
    if not a_paths or not b_paths:
        raise click.UsageError("give A and B: two stores or dumps, or --a FILE and --b FILE")
    zone = time_options.zone(tz)
    window_a = time_options.filters(zone, a_since, a_until, sections=sections, prefix="--a-")
    window_b = time_options.filters(zone, b_since, b_until, sections=sections, prefix="--b-")
    opt.refuse_closed_output("the comparison")
    if folder := next((p for p in (*a_paths, *b_paths) if os.path.isdir(p)), None):  # (not check_inputs' DIR/*)
        raise click.UsageError(f"{folder}: is a directory; give each dump in it with --a FILE or --b FILE")
    opt.check_inputs(tuple(p for p in (*a_paths, *b_paths) if not looks_like_sqlite(p)))  # stores are opened
    with contextlib.ExitStack() as stack:
        same = _same_files(a_paths, b_paths)
        store_a, load_a = stack.enter_context(_source("A and B" if same else "A", a_paths, quiet))
        if same:  # one store (or one set of dumps) seen through two windows: opened, checked or loaded once
            store_b, load_b = store_a, None
        else:
            store_b, load_b = stack.enter_context(_source("B", b_paths, quiet))
        rep_a, rep_b = build(store_a, zone, window_a), build(store_b, zone, window_b)
        comparison = differ.Comparison(rep_a, rep_b)
        stack.callback(comparison.close)
        labels = _label("A", a_paths, a_since, a_until), _label("B", b_paths, b_since, b_until)
        sys.stdout.writelines(differ.render(comparison, rep_a, rep_b, fmt, labels, top=top, same=show_same))
    sys.exit(opt.worst(opt.exit_code(load_a, strict), opt.exit_code(load_b, strict)))


@click.command(cls=opt.Command, short_help="Every methodName seen, busiest first, with its meaning.", help="""
    List every methodName seen, busiest first, with its family and meaning.

    Families: authentication, authorization, sign-in, management, read-only. Methods not in
    the catalogue get a family from their name (Get*/List*/... read-only, *.Authorize
    authorization, ...) and no meaning.

    \b
    Examples:
      ccaudit methods dump.json
      ccaudit methods --db audit.db --format csv
    """)
@click.argument("dumps", nargs=-1, type=opt.DUMPS)
@db_option(DB_HELP)
@format_option(["text", "json", "csv"])
@LOADING
def methods(dumps, db_path, fmt, strict, quiet):
    from . import methods as catalogue

    if not dumps and not db_path:
        raise click.UsageError("give one or more DUMP files (- for standard input), or --db with a store")
    opt.existing_store(dumps, db_path)
    opt.refuse_closed_output("the list")
    opt.check_inputs(dumps)
    with opt.loaded_report(db_path, dumps, quiet, filters=Filters(sections=("all_events",))) as (loaded, rep):
        with contextlib.closing(catalogue.MethodCounts(rep)) as counted:
            sys.stdout.writelines(catalogue.render(counted, fmt))
    sys.exit(opt.exit_code(loaded, strict))
