"""What the commands share: their common options, and the steps between the command
line and the core (opening a store, loading with messages). Click stays here, in
``formats.py``, ``time_options.py`` and the ``cli`` modules; the core never imports it."""
from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import shlex
import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import tzinfo

import click

from . import sqlraised
from .asking import interactive
from .boundary import ClosedOutput, say, signalled
from .clock import UTC
from .damage import check_counts, check_pages, check_text
from .errors import CcauditError, ExitCode, InputError
from .files import present, read_twice, refuse_output_onto, same_file
from .filters import Filters, in_words
from .folders import check_parent
from .loadnotes import STREAM, dumps_of
from .progress import Progress, on_terminal
from .report import Report, build
from .schema import SECTIONS
from .sidefiles import side_names, too_long_for_sqlite
from .stats import LoadStats
from .store import Store
from .storefile import looks_like_sqlite
from .tempdirs import check_temp_root, make_temp_dir, remove_stale_temp_dirs, temp_root
from .text import input_label, operands, plural, printable, typed

SHOWN_PROBLEMS = 10  # malformed places listed on stderr; the JSON report lists the first 100
DUMPS = click.Path(allow_dash=True, readable=False)  # check_inputs says, in one line, what cannot be read
class _Top(click.IntRange):
    """--top's N, made at most what SQLite can bind: a larger N keeps every row anyway."""

    def convert(self, value, param, ctx) -> int:
        return min(super().convert(value, param, ctx), 2**63 - 1)


TOP = _Top(min=1)
Decorator = Callable[[Callable], Callable]


class Command(click.Command):
    """A command that refuses an option of one value given twice: click keeps the last, so
    ``check --rules a.toml --rules b.toml`` checked b alone, and passed."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        _, _, order = self.make_parser(ctx).parse_args(args=list(args))
        once = [p for p in order if isinstance(p, click.Option) and not (p.multiple or p.count or p.is_flag)]
        if twice := next((p for p in once if once.count(p) > 1), None):
            raise click.UsageError(f"{twice.opts[-1]} is given {once.count(twice)} times; it takes one value", ctx)
        return super().parse_args(ctx, args)


def options(*decorators: Decorator) -> Decorator:
    """Several click options as one decorator, in the order given (as --help lists them)."""
    def apply(f: Callable) -> Callable:
        for d in reversed(decorators):
            f = d(f)
        return f
    return apply


def db_option(help: str, required: bool = False) -> Decorator:
    return click.option("--db", "db_path", type=click.Path(dir_okay=False), required=required, help=help,
                        callback=named)


def named(ctx, param, value: str | None) -> str | None:
    """A store or folder named ``""`` (an unset variable in a cron line), ``:memory:`` or ``-``
    is refused: a load went into a store that was not kept, and said it had loaded, or into
    ./-; a report folder went into ./-, after which ``-o -`` was refused as a folder."""
    value = not_empty(ctx, param, value)
    kind = "a file" if param.type.file_okay else "a folder"
    if value == "-" or value == ":memory:" and kind == "a file":  # (a folder may be called :memory:)
        what = "SQLite's name for a database that is not kept" if value == ":memory:" else "standard input or output"
        raise click.BadParameter(f"{value} is {what}; name {kind} (./{value} for one called that)")
    return value


def not_empty(ctx, param, value: str | None) -> str | None:
    """An empty name (``--state "$STATE"`` with STATE unset) is refused, never taken for no
    option: the run would do less than was asked and say it had done it."""
    if value == "":
        raise click.BadParameter("needs a name (it is empty)")
    return value


def a_report_file(ctx, param, value: str | None) -> str | None:
    """``-o``'s file, refused with a pointer to ``--out`` if it is a folder (click's own
    refusal, "File 'reports/' is a directory", left the user to find the option)."""
    if not_empty(ctx, param, value) not in (None, "-") and os.path.isdir(value):  # type: ignore[arg-type]  # not None
        raise click.BadParameter(f"{value} is a folder: name a file, or write a file per day into it with --out")
    return value


def typed_text(ctx, param, value: str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
    """A glob or a rule (once or many times) as typed: ``text.typed``."""
    if isinstance(value, tuple):
        return tuple(map(typed, value))
    return None if value is None else typed(value)


def none_empty(ctx, param, values: tuple[str, ...]) -> tuple[str, ...]:
    """``not_empty`` of each value of an option given many times (``--rules A --rules B``)."""
    for value in values:
        not_empty(ctx, param, value)
    return values


def tz_option(what: str = "days and hours") -> Decorator:
    return click.option("--tz", default="UTC", show_default=True, metavar="ZONE",
                        help=f"Time zone for {what}, e.g. Europe/Zurich (an IANA name).")


TZ = tz_option()
WINDOW = options(
    click.option("--since", metavar="WHEN", help="Only events at or after WHEN: a date or an RFC 3339 time."),
    click.option("--until", metavar="WHEN", help="Only events before WHEN (a date includes that whole day)."),
)
SECTION = click.option("--section", "sections", multiple=True, type=click.Choice(list(SECTIONS)),
                       help="Only this section (repeatable).")
def loading(strict: str = "Exit 1 if any input line is malformed.") -> Decorator:
    """--strict (what it fails on) and --quiet, of every command that loads dumps."""
    return options(click.option("--strict", is_flag=True, help=strict),
                   click.option("-q", "--quiet", is_flag=True, help="No progress or per-line warnings on stderr."))


LOADING = loading()


# -- stores and loading --------------------------------------------------------------------

@contextlib.contextmanager
def open_store(db_path: str | None, readonly: bool = False, loading: Sequence[str] = ()) -> Iterator[Store]:
    """The named store (read-only if ``readonly``: nothing is loaded into it), or a
    temporary one removed afterwards; ``loading``: the dumps to be loaded into it."""
    if db_path:
        refuse_output_onto(db_path, "the store", *((p, "the store's journal") for p in side_names(db_path)))
        check_parent(db_path, "the store")
        if not readonly:  # before the store is made for a load that cannot run
            check_temp_root()
    remove_stale_temp_dirs()
    tmp = None if db_path else make_temp_dir()
    try:
        if tmp and too_long_for_sqlite(os.path.join(tmp, "store.db")):
            raise CcauditError(f"{temp_root()}: the temporary folder's path is too long for SQLite to keep a "
                               "temporary store in it; set TMPDIR to a folder of a shorter path")
        store = Store(db_path or os.path.join(str(tmp), "store.db"), durable=tmp is None,
                      readonly=readonly and tmp is None, notify=tell, loading=loading)
        if readonly:
            tell_unfinished(store)
        try:
            yield store
        except (ValueError, TypeError, IndexError, OverflowError, AttributeError, OSError) as e:  # a misshapen row,
            if not isinstance(e, OSError) or e.errno == errno.EOVERFLOW:  # a time the C library cannot place, or a bug
                check_counts(store.conn, store.path, e)
            raise
        except sqlite3.DatabaseError as e:  # which store is damaged (a diff reads two), if it is this one
            raised = sqlraised.raised_in_sql()  # by a function daycounts.register added, on a misshapen row
            if not signalled() and (raised is not None or "user-defined function" in str(e)  # or its argument,
                                    or isinstance(e, sqlite3.IntegrityError)  # a NULL a column was edited to take,
                                    or "Could not decode" in str(e)  # text where a blob belongs,
                                    or "integer overflow" in str(e)):  # a count no load makes, summed
                check_counts(store.conn, store.path, raised or e)
            check_text(store.conn, store.path, e)
            check_pages(store.conn, store.path, e)
            raise
        finally:
            store.close()
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def tell(message: str) -> None:
    """One line on stderr; file names and keys in it come from others, so made printable."""
    say(f"ccaudit: {printable(message)}")


def tell_unfinished(store: Store) -> None:
    """A warning for each load into the store killed part way: a report would look whole."""
    for load in store.unfinished:
        what = f"{store.path}: a load of {dumps_of(load)}, begun {load['began']}"
        if load["running"]:  # or killed, while another command writes the store
            tell(f"warning: {what}, has not ended (it may be running now): the store may hold part of its records")
        else:
            forget = f"ccaudit clean --db {shlex.quote(store.path)} --unfinished"
            then = (f"once its records are loaded again (nothing tells one stream, folder or pattern from another), "
                    f"{forget}" if STREAM in load["files"] else
                    f"load the same dumps again to complete it (if they are gone: {forget})")
            tell(f"warning: {what}, did not end (interrupted, killed, or stopped by a full disk): the store may hold "
                 f"only part of its records; {then}")


def tell_unmatched(report: Report, f: Filters) -> None:
    """A warning when the filters left no event: an empty report says nothing of why. The
    usual cause is a principal typed as a record spells it (User:sa-1), not as shown (sa-1)."""
    if report.events or (f.principal, f.method, f.since, f.until) == (None,) * 4:
        return
    prefixed = f.principal is not None and re.match(r"[A-Za-z]+:", f.principal)
    email = f.principal is not None and "@" in f.principal
    tell("warning: no event matches " + "; ".join(in_words(Filters(f.since, f.until, f.principal, f.method)))
         + (" (a principal is shown and matched without its type, e.g. sa-1 for User:sa-1)" if prefixed else "")
         + (" (a sign-in's principal is its user, e.g. u-abc123, where the record names one, not the email its "
            "row shows)" if email else ""))


def existing_store(dumps: tuple[str, ...], db_path: str | None) -> None:
    """Without dumps, --db must name an existing store: a mistyped path would pass as empty."""
    if not dumps and db_path and not present(db_path, follow=True):
        raise click.BadParameter(f"{db_path}: no such store", param_hint=["--db"])


def refuse_journal_folder(out_dir: str | None, db_path: str | None) -> None:
    """--out made a folder there, and every command on the store then refused it."""
    if out_dir and db_path and any(same_file(out_dir, journal) for journal in side_names(db_path)):
        raise click.BadParameter(f"{out_dir} is where SQLite keeps the store's journal; give another folder",
                                 param_hint=["--out"])


def refuse_closed_output(what: str, instead: str = "") -> None:
    """Before a load, not after it: standard output closed with ``>&-`` takes no report."""
    if isinstance(sys.stdout, ClosedOutput):
        raise click.UsageError(f"standard output is closed (>&-?), so {what} would go nowhere{instead}")


def refuse_closed_summary(fmt: str) -> None:
    """``refuse_closed_output`` for a load's summary, which only ``-f json`` writes there."""
    if fmt == "json":
        refuse_closed_output("the load summary")


def check_inputs(dumps: tuple[str, ...]) -> None:
    """Refuse, before loading anything, inputs that are missing or cannot be read (a report
    without them would look complete and be wrong), and a stream given twice."""
    if not dumps:  # a report of a store: the readers' modules are a fiftieth of its time
        return
    from .ingest import check_readable

    if twice := read_twice(dumps):
        raise click.UsageError(twice)
    for path in dumps:
        refuse_output_onto(path, "an input")
        check_readable(path)
        if path != "-" and looks_like_sqlite(path):  # read as a dump, every line of it would be malformed
            hint = f"a store is given with --db {shlex.quote(path)}"  # (hints to paste: names as typed)
            if len(dumps) == 2 and all(map(looks_like_sqlite, dumps)):
                hint = f"two stores are compared with: ccaudit diff {operands(dumps)}"
            raise InputError(f"{input_label(path)}: is an SQLite file, not a dump ({hint})")


def load(dumps: tuple[str, ...], store: Store, quiet: bool) -> LoadStats:
    """Load with progress on a terminal, then the malformed places and the load line."""
    from .load import load_dumps  # reading, parsing and workers: only commands given dumps need them

    progress = Progress(sys.stderr) if on_terminal(quiet) else None
    if "-" in dumps and not quiet and interactive():  # else it waits without a word, as if stuck
        say("ccaudit: reading a dump from the terminal: paste or type it, then Ctrl-D")
    try:
        stats = load_dumps(dumps, store, progress=progress)
    finally:  # an error's or Ctrl-C's line is then a line of its own
        if progress:
            progress.done()
    tell_loaded(stats, quiet)
    tell_unfinished(store)
    return stats


def tell_loaded(stats: LoadStats, quiet: bool) -> None:
    """What a load says on stderr: its first malformed places (unless ``quiet``), the inputs read
    in part (each, however many malformed lines came first), not read, or why it stopped; its line."""
    for line in [] if quiet else malformed_lines(stats):
        tell(line)
    for line in stats.cut_lines():  # -q too: what to do about one (load a whole copy) is said there
        tell(f"read in part: {line}")
    for message in [*stats.damaged.values(), *stats.failed.values(), *filter(None, [stats.stopped])]:
        tell(f"error: {message}")
    tell(stats.summary_line())


def echo_stats(stats: LoadStats, fmt: str) -> None:
    """A load's totals on stdout with ``--format json`` (text prints none)."""
    if fmt == "json":
        from .jsontext import dumps as to_json

        click.echo(to_json(stats.as_dict()), nl=False)


def malformed_lines(stats: LoadStats) -> list[str]:
    """The first malformed places, for stderr, and where the rest are listed."""
    lines = [f"malformed: {problem}" for problem in stats.problem_lines(but_cut=True)[:SHOWN_PROBLEMS]]
    if stats.malformed > SHOWN_PROBLEMS:
        listed = "all" if stats.malformed <= len(stats.problems) else "the first"  # was "the first 20" of 20
        lines.append(f"{stats.malformed:,} malformed in all; {SHOWN_PROBLEMS} shown here, {listed} "
                     f"{min(stats.malformed, len(stats.problems))} with their reasons in the JSON output of load "
                     f"(malformed_entries) and report (summary.load.malformed_entries)")
    return lines


@contextlib.contextmanager
def loaded_report(db_path: str | None, dumps: tuple[str, ...], quiet: bool, tz: tzinfo = UTC,
                  filters: Filters | None = None) -> Iterator[tuple[LoadStats | None, Report]]:
    """The dumps loaded into the store (or a temporary one), and its report: what report, check, methods read."""
    with open_store(db_path, readonly=not dumps, loading=dumps) as store:
        loaded = load_all(dumps, store, quiet)
        yield loaded, build(store, tz, filters, load=loaded.as_dict() if loaded else None)


def load_all(dumps: tuple[str, ...], store: Store, quiet: bool) -> LoadStats | None:
    """Load the dumps, if any; exit 2 when one of them gave nothing, before any report
    is written: a report without an input would look complete and be wrong."""
    if not dumps:
        return None
    stats = load(dumps, store, quiet)
    if stats.input_error:
        sys.exit(ExitCode.USAGE)
    return stats


def exit_code(stats: LoadStats | None, strict: bool, told: bool = False) -> int:
    """The exit code a load gives; a failure --strict makes of it is said on stderr, unless
    the command says why it failed itself (``told``: check's FAIL line)."""
    if stats is None:
        return ExitCode.OK
    if stats.input_error:
        return ExitCode.USAGE
    if strict and stats.malformed:
        if not told:  # (the load line alone did not say why the exit was 1)
            tell(f"--strict: the input had {plural(stats.malformed, 'malformed entry', 'malformed entries')}; exit 1")
        return ExitCode.CHECK_FAILED
    return ExitCode.OK


def worst(*codes: int) -> int:
    """The exit code of several outcomes: usage/input errors (2) over failures (1) over 0."""
    return ExitCode.USAGE if ExitCode.USAGE in codes else max(codes)


class Seconds(click.ParamType):
    """A number of seconds above 0, refused without repeating the value: a secret typed after
    ``--timeout`` (a word left out of a command line) is never printed."""
    name = "seconds"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            seconds = math.nan
        if not 0 < seconds < math.inf:  # (NaN too)
            self.fail("not a finite number of seconds above 0 (the value is not repeated)", param, ctx)
        return seconds
