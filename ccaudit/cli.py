"""The ccaudit command line: parse options, call the core, map errors to exit codes."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
import traceback
from datetime import datetime, timedelta, timezone
from typing import Iterator

import click

from . import __version__
from .schema import SECTIONS
from .errors import CcauditError, ExitCode
from .stats import LoadStats
from .load import load_dumps
from .progress import Progress
from .report import Filters, build
from .store import Store, looks_like_sqlite

FORMATS = ["text", "json", "markdown", "csv", "html"]
SHOWN_PROBLEMS = 10


class Cli(click.Group):
    """The one error boundary: core errors become one stderr line and an exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CcauditError as e:
            click.echo(f"ccaudit: error: {e}", err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("ccaudit: interrupted", err=True)
            ctx.exit(ExitCode.INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as e:  # a bug: say so in one line, trace only on request
            if os.environ.get("CCAUDIT_DEBUG"):
                traceback.print_exc()
            click.echo(f"ccaudit: internal error: {type(e).__name__}: {e} "
                       "(set CCAUDIT_DEBUG=1 for a traceback)", err=True)
            ctx.exit(ExitCode.INTERNAL)


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ccaudit")
def cli():
    """Per-day, per-hour reports of who did what, from Confluent Cloud audit-log dumps.

    Exit codes: 0 ok; 1 a check failed or --strict found malformed input;
    2 usage or input error (missing/unreadable file, nothing parseable).
    """


# -- shared options -------------------------------------------------------------------

def _db_option(required: bool):
    return click.option("--db", "db_path", type=click.Path(dir_okay=False), required=required,
                        help="SQLite store to load into and report from (kept).")


def _load_options(f):
    f = click.option("--strict", is_flag=True, help="Exit 1 if any input line is malformed.")(f)
    f = click.option("-q", "--quiet", is_flag=True, help="No progress or per-line warnings on stderr.")(f)
    return f


def _report_options(f):
    for opt in reversed([
        click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True),
        click.option("--out", "out_dir", type=click.Path(file_okay=False),
                     help="Write report files into this directory; stdout gets only the summary."),
        click.option("-o", "--output", "out_file", type=click.Path(dir_okay=False),
                     help="Write the whole report to this file instead of stdout."),
        click.option("--tz", default="UTC", show_default=True,
                     help="Time zone for days and hours, e.g. Europe/Zurich."),
        click.option("--since", help="Only events at or after this date or RFC 3339 time."),
        click.option("--until", help="Only events before this time (a date includes that whole day)."),
        click.option("--principal", help="Only events of principals matching this glob."),
        click.option("--method", help="Only events whose methodName matches this glob."),
        click.option("--section", "sections", multiple=True, type=click.Choice(list(SECTIONS)),
                     help="Only this section (repeatable)."),
        click.option("--top", type=click.IntRange(min=1), help="Keep the N busiest rows per section."),
        click.option("--stats", is_flag=True, help="Add first/last seen and peak columns to text and markdown."),
    ]):
        f = opt(f)
    return f


# -- helpers --------------------------------------------------------------------------

@contextlib.contextmanager
def _store(db_path: str | None) -> Iterator[Store]:
    """The named store, or a temporary one removed afterwards."""
    tmp = None if db_path else tempfile.mkdtemp(prefix="ccaudit-")
    store = Store(db_path or os.path.join(tmp, "store.db"), durable=tmp is None)
    try:
        yield store
    finally:
        store.close()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _load(dumps: tuple[str, ...], store: Store, quiet: bool) -> LoadStats:
    progress = None if quiet or not sys.stderr.isatty() else Progress(sys.stderr)
    stats = load_dumps(dumps, store, progress=progress)
    if progress:
        progress.done()
    if not quiet:
        for problem in stats.problem_lines()[:SHOWN_PROBLEMS]:
            click.echo(f"ccaudit: malformed: {problem}", err=True)
    for message in stats.failed.values():
        click.echo(f"ccaudit: error: {message}", err=True)
    click.echo(f"ccaudit: {stats.summary_line()}", err=True)
    return stats


def _existing_store(dumps: tuple[str, ...], db_path: str | None) -> None:
    """Without dumps, --db must name an existing store: a mistyped path would pass as empty."""
    if not dumps and db_path and not os.path.exists(db_path):
        raise click.BadParameter(f"{db_path}: no such store", param_hint="--db")


def _exit_code(stats: LoadStats | None, strict: bool) -> int:
    if stats is None:
        return ExitCode.OK
    if stats.failed:
        return ExitCode.USAGE
    if strict and stats.malformed:
        return ExitCode.CHECK_FAILED
    return ExitCode.OK


def _zone(name: str):
    if name.upper() in ("UTC", "Z"):
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {name!r}", param_hint="--tz") from None


def _instant(text: str | None, tz, end: bool, option: str) -> int | None:
    """Epoch seconds for a date (local midnight; the next one if ``end``) or an RFC 3339 time."""
    if text is None:
        return None
    try:
        if re.fullmatch(r"\d{4}-?\d{2}-?\d{2}", text):
            day = datetime.fromisoformat(text).replace(tzinfo=tz)
            return int((day + timedelta(days=1 if end else 0)).timestamp())
        t = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        return int((t if t.tzinfo else t.replace(tzinfo=tz)).timestamp())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date or RFC 3339 time", param_hint=option) from None


def _filters(tz, since, until, principal, method, sections, top) -> Filters:
    return Filters(since=_instant(since, tz, False, "--since"), until=_instant(until, tz, True, "--until"),
                   principal=principal, method=method, sections=tuple(sections), top=top)


# -- commands -------------------------------------------------------------------------

@cli.command()
@click.argument("dumps", nargs=-1, type=click.Path(allow_dash=True))
@_db_option(required=False)
@_report_options
@_load_options
def report(dumps, db_path, fmt, out_dir, out_file, tz, since, until, principal, method, sections,
           top, stats, strict, quiet):
    """Load DUMPS (if any) and print every day's hourly crosstabs.

    Without --db the dumps go into a temporary store; with --db they are added to that
    store and the whole store is reported. With no DUMPS, --db is required.

    \b
    Examples:
      ccaudit report dump.json
      ccaudit report week1.json.gz week2.json.gz --db audit.db --out reports/
      ccaudit report --db audit.db --format json --tz Europe/Zurich --top 10
    """
    from .output import write_report

    if not dumps and not db_path:
        raise click.UsageError("give one or more DUMP files, or --db with a store to report from")
    _existing_store(dumps, db_path)
    zone = _zone(tz)
    filters = _filters(zone, since, until, principal, method, sections, top)
    with _store(db_path) as store:
        loaded = _load(dumps, store, quiet) if dumps else None
        rep = build(store, zone, filters, load=loaded.as_dict() if loaded else None)
        write_report(rep, fmt, out_dir=out_dir, out_file=out_file, stats=stats)
    sys.exit(_exit_code(loaded, strict))


@cli.command()
@click.argument("dumps", nargs=-1, required=True, type=click.Path(allow_dash=True))
@_db_option(required=True)
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_load_options
def load(dumps, db_path, fmt, strict, quiet):
    """Load DUMPS into the --db store (nothing twice), and print the load summary.

    \b
    Example:
      ccaudit load dump-monday.json dump-tuesday.json.gz --db audit.db
    """
    with _store(db_path) as store:
        stats = _load(dumps, store, quiet)
    if fmt == "json":
        from .render import dumps as to_json

        click.echo(to_json(stats.as_dict()), nl=False)
    sys.exit(_exit_code(stats, strict))


@cli.command()
@_db_option(required=True)
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json", "markdown", "csv"]), default="text",
              show_default=True)
@click.option("--tz", default="UTC", show_default=True, help="Time zone for days and hours.")
def summary(db_path, fmt, tz):
    """Print event counts per day (and the hours each day covers) from the --db store.

    \b
    Example:
      ccaudit summary --db audit.db
    """
    from .render import render_summary

    _existing_store((), db_path)
    with _store(db_path) as store:
        click.echo(render_summary(build(store, _zone(tz)), fmt), nl=False)


@cli.command()
@_db_option(required=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Also delete this report directory.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask (never asked when stdin is not a terminal).")
def clean(db_path, out_dir, yes):
    """Delete the --db store (and an --out report directory written by ccaudit).

    \b
    Example:
      ccaudit clean --db audit.db --out reports/ --yes
    """
    from .output import clean as do_clean

    targets = [db_path] + ([out_dir] if out_dir else [])
    if not yes and sys.stdin.isatty():
        click.confirm(f"Delete {' and '.join(targets)}?", abort=True, err=True)
    for line in do_clean(db_path, out_dir):
        click.echo(line, err=True)


@cli.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="client.properties of the audit-log cluster (chmod 600).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="File to write, one record per line; it appears only when complete.")
@click.option("--state", "state_path", type=click.Path(dir_okay=False),
              help="JSON offsets file: start after the last run, update it when done.")
@click.option("--topic", default="confluent-audit-log-events", show_default=True)
@click.option("--gzip", "compress", is_flag=True, help="Compress the output with gzip.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=300, show_default=True,
              help="Give up after this many seconds (exit 2, nothing written).")
@click.option("--insecure-config", is_flag=True, help="Accept a --config file other users can read.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
def download(config_path, out_path, state_path, topic, compress, timeout, insecure_config, quiet):
    """Fetch the audit-log topic up to its current end into --out, then stop.

    Needs the extra: pip install 'ccaudit[download]'. The API key and secret come from
    --config or from CCAUDIT_API_KEY / CCAUDIT_API_SECRET. With --state each run starts
    where the last one ended, so a chain of runs yields every record exactly once.

    \b
    Example:
      ccaudit download --config audit.properties --state audit.state --out audit-$(date +%F).jsonl
      ccaudit report audit-*.jsonl
    """
    from . import download as downloader

    show = not quiet and sys.stderr.isatty()
    progress = (lambda p: click.echo(f"\r\x1b[K{p.line()}", err=True, nl=False)) if show else None
    result = downloader.download(config_path, out_path, state_path=state_path, topic=topic, compress=compress,
                                 timeout=timeout, insecure_config=insecure_config, progress=progress)
    if show:
        click.echo("\r\x1b[K", err=True, nl=False)
    click.echo(f"ccaudit: {result.summary_line()}", err=True)


# -- analysis commands: check, diff, methods ------------------------------------------

def _worst(*codes: int) -> int:
    """The exit code of several outcomes: usage/input errors (2) over failures (1) over 0."""
    return ExitCode.USAGE if ExitCode.USAGE in codes else max(codes)


@cli.command()
@click.argument("dumps", nargs=-1, type=click.Path(allow_dash=True))
@_db_option(required=False)
@click.option("--max", "max_rules", multiple=True, metavar="RULE",
              help="SECTION:KEYGLOB=N/h or =N/d: at most N events per key per hour or per day "
                   "(SECTION may be *). Repeatable.")
@click.option("--rules", "rules_file", type=click.Path(dir_okay=False),
              help="TOML file of [[rule]] tables: section, key, max, per = \"hour\"|\"day\".")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--tz", default="UTC", show_default=True, help="Time zone for days and hours.")
@click.option("--since", help="Only events at or after this date or RFC 3339 time.")
@click.option("--until", help="Only events before this time (a date includes that whole day).")
@_load_options
def check(dumps, db_path, max_rules, rules_file, fmt, tz, since, until, strict, quiet):
    """Exit 1 if any key is busier than a limit, for CI and cron.

    Every row of the section whose key matches the glob is checked on its own: each hour
    column against a per-hour limit, each day's total against a per-day limit. Each breach
    is printed (section, key, day, hour, count, limit, rule).

    Exit codes: 0 no breach; 1 a breach (or --strict and malformed input);
    2 a bad rule, an unreadable input or another usage error.

    \b
    Examples:
      ccaudit check dump.json --max 'kafka_authentication:*=3600/h' --max 'signin_failure:*=5/h'
      ccaudit check --db audit.db --since 2024-05-06 --rules limits.toml --format json
    """
    from . import check as checks

    if not dumps and not db_path:
        raise click.UsageError("give one or more DUMP files, or --db with a store to check")
    _existing_store(dumps, db_path)
    rules = [checks.parse_rule(r) for r in max_rules]
    if rules_file:
        rules += checks.load_rules_file(rules_file)
    if not rules:
        raise click.UsageError("give at least one --max RULE or a --rules FILE")
    zone = _zone(tz)
    filters = _filters(zone, since, until, None, None, (), None)
    sections = tuple(sorted({s for r in rules for s in r.sections()}))
    filters.sections = sections
    with _store(db_path) as store:
        loaded = _load(dumps, store, quiet) if dumps else None
        rep = build(store, zone, filters, load=loaded.as_dict() if loaded else None)
    breaches = checks.evaluate(rep, rules)
    if not rep.days:
        click.echo("ccaudit: warning: no events to check", err=True)
    click.echo(checks.render(breaches, rules, rep, fmt), nl=False)
    sys.exit(_worst(_exit_code(loaded, strict), ExitCode.CHECK_FAILED if breaches else ExitCode.OK))


@contextlib.contextmanager
def _source(name: str, paths: tuple[str, ...], quiet: bool):
    """(store, LoadStats or None) of one side of a diff: its store, or its dumps loaded."""
    stores = [p for p in paths if looks_like_sqlite(p)]
    if stores and len(paths) > 1:
        raise click.UsageError(f"{name}: give one store, or dump files, not both ({stores[0]})")
    with _store(stores[0] if stores else None) as store:
        loaded = None
        if not stores:
            if not quiet:
                click.echo(f"ccaudit: loading {name}", err=True)
            loaded = _load(paths, store, quiet)
        yield store, loaded


def _label(name: str, paths: tuple[str, ...], since: str | None, until: str | None) -> str:
    window = " ".join(w for w in (since and f"from {since}", until and f"until {until}") if w)
    return f"{name} = {', '.join(paths)}" + (f" ({window})" if window else "")


@cli.command()
@click.argument("stores_or_dumps", nargs=-1, metavar="[A B]", type=click.Path(allow_dash=True))
@click.option("--a", "a_paths", multiple=True, type=click.Path(allow_dash=True),
              help="A dump (repeatable) or one store for side A, instead of the A argument.")
@click.option("--b", "b_paths", multiple=True, type=click.Path(allow_dash=True),
              help="A dump (repeatable) or one store for side B, instead of the B argument.")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json", "markdown", "csv"]), default="text",
              show_default=True)
@click.option("--section", "sections", multiple=True, type=click.Choice(list(SECTIONS)),
              help="Only this section (repeatable).")
@click.option("--top", type=click.IntRange(min=1), help="Keep the N largest changes per section.")
@click.option("--all", "show_same", is_flag=True, help="Also list keys whose count did not change.")
@click.option("--a-since", help="Only A's events at or after this date or time.")
@click.option("--a-until", help="Only A's events before this time (a date includes that day).")
@click.option("--b-since", help="Only B's events at or after this date or time.")
@click.option("--b-until", help="Only B's events before this time (a date includes that day).")
@click.option("--tz", default="UTC", show_default=True, help="Time zone of the --a-/--b- dates.")
@_load_options
def diff(stores_or_dumps, a_paths, b_paths, fmt, sections, top, show_same, a_since, a_until, b_since, b_until,
         tz, strict, quiet):
    """Compare A with B per section and key: counts, change, new and vanished keys.

    A and B are each a ccaudit store (SQLite file) or a dump file; for several dumps per
    side use --a FILE --b FILE (repeatable) instead. Counts are totals over each side's
    whole period; the largest changes come first. The same store can be both sides, each
    with its own window (--a-since/--a-until, --b-since/--b-until).

    \b
    Examples:
      ccaudit diff last-week.db this-week.db
      ccaudit diff --a mon.json --a tue.json --b mon2.json --b tue2.json --format markdown
      ccaudit diff audit.db audit.db --a-until 2024-05-12 --b-since 2024-05-13 --top 10
    """
    from . import diff as differ

    if stores_or_dumps and (a_paths or b_paths):
        raise click.UsageError("give A and B as arguments, or with --a/--b, not both")
    if stores_or_dumps:
        if len(stores_or_dumps) != 2:
            raise click.UsageError("give exactly two arguments, A and B (or use --a/--b)")
        a_paths, b_paths = (stores_or_dumps[0],), (stores_or_dumps[1],)
    if not a_paths or not b_paths:
        raise click.UsageError("give A and B: two stores or dumps, or --a FILE and --b FILE")
    if list(a_paths).count("-") + list(b_paths).count("-") > 1:
        raise click.UsageError("stdin (-) can be read only once")
    zone = _zone(tz)
    window_a = _filters(zone, a_since, a_until, None, None, sections, None)
    window_b = _filters(zone, b_since, b_until, None, None, sections, None)
    with contextlib.ExitStack() as stack:
        store_a, load_a = stack.enter_context(_source("A" if a_paths != b_paths else "A and B", a_paths, quiet))
        if a_paths == b_paths:  # one store (or one set of dumps) seen through two windows
            store_b, load_b = store_a, None
        else:
            store_b, load_b = stack.enter_context(_source("B", b_paths, quiet))
        rep_a, rep_b = build(store_a, zone, window_a), build(store_b, zone, window_b)
    label_a, label_b = _label("A", a_paths, a_since, a_until), _label("B", b_paths, b_since, b_until)
    every = differ.diff_reports(rep_a, rep_b)
    rows = differ.diff_reports(rep_a, rep_b, top=top, same=show_same)
    click.echo(differ.render(rows, rep_a, rep_b, fmt, labels=(label_a, label_b), every=every), nl=False)
    sys.exit(_worst(_exit_code(load_a, strict), _exit_code(load_b, strict)))


@cli.command()
@click.argument("dumps", nargs=-1, type=click.Path(allow_dash=True))
@_db_option(required=False)
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True)
@_load_options
def methods(dumps, db_path, fmt, strict, quiet):
    """List every methodName seen, busiest first, with its family and meaning.

    Families: authentication, authorization, sign-in, management, read-only. Methods not in
    the catalogue get a family from their name (Get*/List*/... read-only, *.Authorize
    authorization, ...) and no meaning.

    \b
    Examples:
      ccaudit methods dump.json
      ccaudit methods --db audit.db --format csv
    """
    from . import methods as catalogue

    if not dumps and not db_path:
        raise click.UsageError("give one or more DUMP files, or --db with a store")
    _existing_store(dumps, db_path)
    with _store(db_path) as store:
        loaded = _load(dumps, store, quiet) if dumps else None
        rep = build(store, filters=Filters(sections=("all_events",)))
    click.echo(catalogue.render(catalogue.count_methods(rep), fmt), nl=False)
    sys.exit(_exit_code(loaded, strict))
