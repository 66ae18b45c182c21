"""The ccaudit command line: parse options, call the core (boundary.py maps its errors to exit codes).

Commands are listed in the order a user meets them. Shared options and the steps between
click and the core live in ``options.py``, the time options in ``time_options.py``.
"""
from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import threading

import click

from . import __version__, asking, formats, interrupted_while_starting, time_options
from . import options as opt
from .boundary import EXIT_CODES, ClosedOutput, boundary, terminate
from .cli_analysis import check, diff, methods
from .cli_export import export_command
from .errors import CcauditError
from .files import is_device, present, same_file, unwritable_descriptor
from .filters import Filters
from .folders import check_dir, check_parent, check_writable, folder_of, unslashed
from .options import LOADING, SECTION, TZ, WINDOW, db_option, options
from .progress import on_terminal, redraw
from .report import build
from .sidefiles import side_names
from .stops import Program
from .storefile import looks_like_sqlite
from .text import operands, plural, printable, quoted


class Cli(click.Group):
    """Commands in a user's order, parsed and run within the error boundary."""

    ORDER = ("report", "load", "spark", "summary", "download", "check", "diff", "methods", "export", "clean")
    command_class = opt.Command

    def list_commands(self, ctx: click.Context) -> list[str]:
        """In the order a user needs them (those not in ORDER last)."""
        return sorted(self.commands, key=lambda name: (self.ORDER + (name,)).index(name))

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parses, and runs --version and --help, which write to standard output too."""
        if sys.stdout is None:
            sys.stdout = ClosedOutput()
        with boundary(ctx):
            if signal.getsignal(signal.SIGINT) is interrupted_while_starting:  # from here the boundary catches it:
                signal.signal(signal.SIGINT, signal.default_int_handler)  # before, click's "Aborted!" (exit 1)
            return super().parse_args(ctx, args)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        """A dump or store named where the command goes (``ccaudit dump.json``) is told
        the command that reads it."""
        name = args[0] if args else ""
        if name not in self.commands and (name == "-" or os.path.isfile(name)):
            usage = f"--db {shlex.quote(name)}" if looks_like_sqlite(name) else shlex.quote(name)
            ctx.fail(f"No such command {quoted(name)}. To report on it: ccaudit report {usage}")
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as e:  # click's repr wrote a byte not UTF-8 as \udcff
            raise click.UsageError(e.format_message().replace(repr(name), quoted(name)), e.ctx) from None

    def invoke(self, ctx: click.Context):
        with boundary(ctx):
            return super().invoke(ctx)


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES, help="""
    Per-day, per-hour reports of who did what, from Confluent Cloud audit-log dumps.

    \b
    Start with:  ccaudit report DUMP -o report.html
    Then:        ccaudit COMMAND --help
    """)
@click.version_option(__version__, prog_name="ccaudit")
def cli():
    if threading.current_thread() is not threading.main_thread():
        return  # a program calling ccaudit from a thread keeps its own handlers; Python allows no others
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup's SIGHUP stays ignored
            signal.signal(signum, terminate)


REPORT_OPTIONS = options(
    formats.format_option(formats.FORMATS, "Output format; html is one self-contained page."),
    click.option("--out", "out_dir", type=click.Path(file_okay=False), callback=opt.named,
                 help="Write one file per day and per section into this folder (created if its parent "
                      "exists; files of an earlier report there are replaced); stdout gets the summary."),
    click.option("-o", "--output", "out_file", type=click.Path(), callback=opt.a_report_file,
                 help="Write the whole report to this file instead of stdout (its folder must exist; - is "
                      "stdout); without --format, its extension (.html .htm .json .md .markdown .csv .txt "
                      ".text) picks the format, another is text; one of another format (.xlsx .pdf .db), a "
                      "mistyped one (.josn) and a compressed one (.gz) are refused."),
    TZ, WINDOW,
    click.option("--principal", metavar="GLOB", callback=opt.typed_text,
                 help="Only events of principals matching GLOB, e.g. 'sa-*'."),
    click.option("--method", metavar="GLOB", callback=opt.typed_text,
                 help="Only events whose methodName matches GLOB."),
    SECTION,
    click.option("--top", type=opt.TOP, help="Keep the N busiest rows per section and day."),
    click.option("--stats", is_flag=True, help="Add first seen, last seen and peak hour columns (text, "
                                               "markdown and html; csv and json always have them)."),
)


def _refuse_overwriting(out_file: str | None, out_dir: str | None, db_path: str | None,
                       dumps: tuple[str, ...]) -> None:
    """-o must not name the store or an input, nor --out hold one under a report file's
    name: the report would destroy what it reads."""
    from .output import a_report_file

    read = [("/dev/stdin" if p == "-" else p) for p in (db_path, *dumps) if p]  # the file behind stdin, if any
    named = [(p, "an input") for p in read[bool(db_path):]]
    if db_path:
        named += [(db_path, "the store"), *((p, "the store's journal") for p in side_names(db_path))]
    for path, what in named if out_file else ():  # SQLite deletes a journal it opens
        if same_file(out_file, path):  # type: ignore[arg-type]  # the loop runs only with out_file
            raise click.BadParameter(f"{out_file} is {what}; give another file", param_hint=["-o", "--output"])
    if out_file and looks_like_sqlite(out_file):  # -o audit.db, for --db audit.db: the store, lost
        raise click.BadParameter(f"{out_file} is an SQLite file (a store?), which the report would replace; give "
                                 f"another file, or --db {out_file} to report from it", param_hint=["-o", "--output"])
    if out_file and (why := unwritable_descriptor(out_file, "the report")):  # SQLite would open the store there
        raise click.BadParameter(f"{out_file}: {why}", param_hint=["-o", "--output"])
    opt.refuse_journal_folder(out_dir, db_path)
    if out_dir and (found := a_report_file(out_dir, read)):
        raise click.BadParameter(f"{found} is the store or an input, named as a report file in {out_dir}; give "
                                 "another folder", param_hint=["--out"])


def _check_output(out_file: str | None, out_dir: str | None) -> None:
    """Find out before a load, not after it, that the report could not be written."""
    if out_file and not is_device(out_file):
        check_parent(out_file, "the report")
        check_writable(folder_of(out_file), out_file, "the report")
    elif out_dir:
        check_writable(out_dir if check_dir(out_dir) else folder_of(unslashed(out_dir)), out_dir, "the report")
    if not out_file:  # --out writes the summary there
        opt.refuse_closed_output("the report's summary" if out_dir else "the report",
                                 " (>/dev/null drops it)" if out_dir else ": give -o FILE")


@cli.command(short_help="Load dumps and print hourly crosstabs per day.", help="""
    Load DUMPS (if any) and print every day's hourly crosstabs.

    Without --db the dumps go into a temporary store; with --db they are added to that
    store and the whole store is reported. With no DUMPS, --db is required. If an input
    is missing, unreadable or holds no record, no report is written (exit 2).

    \b
    Examples:
      ccaudit report dump.json -o report.html
      ccaudit report dump.json --section kafka_authentication --top 5
      ccaudit report week1.json.gz week2.json.gz --db audit.db --out reports/
      ccaudit report --db audit.db --format json --tz Europe/Zurich --top 10
    """)
@click.argument("dumps", nargs=-1, type=opt.DUMPS)
@db_option("Store to add the dumps to and report from (kept; created if missing). "
           "Without it, a temporary store is used and removed.")
@REPORT_OPTIONS
@LOADING
def report(dumps, db_path, fmt, out_dir, out_file, tz, since, until, principal, method, sections,
           top, stats, strict, quiet):
    from .output import check_report_folder, write_report

    if not dumps and not db_path:
        raise click.UsageError("give one or more DUMP files (- for standard input), or --db with a store to "
                               "report from")
    if out_dir and out_file:
        raise click.UsageError("give --out DIR (a folder of files) or -o FILE (one file), not both")
    out_file = None if out_file == "-" else out_file  # as a Unix tool reads it, not a file named -
    opt.existing_store(dumps, db_path)
    _refuse_overwriting(out_file, out_dir, db_path, dumps)
    _check_output(out_file, out_dir)
    if out_file:
        fmt = formats.format_of(out_file, fmt)
    elif out_dir:
        check_report_folder(out_dir, fmt)
    opt.check_inputs(dumps)
    zone = time_options.zone(tz)
    filters = time_options.filters(zone, since, until, principal, method, sections, top)
    with opt.loaded_report(db_path, dumps, quiet, zone, filters) as (loaded, rep):
        opt.tell_unmatched(rep, filters)
        write_report(rep, fmt, out_dir=out_dir, out_file=out_file, stats=stats)
    sys.exit(opt.exit_code(loaded, strict))


@cli.command(short_help="Add dumps to a store, without a report.", help="""
    Load DUMPS into the --db store (nothing twice), and print the load summary.

    \b
    Example:
      ccaudit load dump-monday.json dump-tuesday.json.gz --db audit.db
    """)
@click.argument("dumps", nargs=-1, required=True, type=opt.DUMPS)
@db_option("Store to add the dumps to (required; created if missing; an event already there is not added again).")
@formats.format_option(["text", "json"], "Format of the load summary on stdout (text prints none).")
@LOADING
def load(dumps, db_path, fmt, strict, quiet):
    if not db_path:
        store = next((d for d in dumps if looks_like_sqlite(d)), None)
        raise click.UsageError(f"{store} is a store: give it as --db: {_load_into(store, dumps)}" if store else
                               "give --db STORE, the store to add the dumps to (ccaudit report DUMP keeps none)")
    opt.refuse_closed_summary(fmt)
    opt.check_inputs(dumps)
    with opt.open_store(db_path, loading=dumps) as store:
        stats = opt.load(dumps, store, quiet)
    opt.echo_stats(stats, fmt)
    sys.exit(opt.exit_code(stats, strict))


def _load_into(store: str, dumps: tuple[str, ...]) -> str:
    """The load command that ``load DUMPS`` meant, ``store`` among them: a "--db" given
    after "--" and any other SQLite file dropped, and the dumps after "--" where a name
    would read as an option."""
    named = operands(d for d in dumps if d != "--db" and not looks_like_sqlite(d)) or "DUMP..."
    if named.startswith("-- "):
        return f"ccaudit load --db {shlex.quote(store)} {named}"
    return f"ccaudit load {named} --db {shlex.quote(store)}"


@cli.command(short_help="Events per day in a store, and the hours each covers.", help="""
    Print event counts per day (and the hours each day covers) from the --db store.

    \b
    Example:
      ccaudit summary --db audit.db
    """)
@click.argument("extra", nargs=-1, metavar="")
@db_option("The store to summarise (required; nothing is added to it).")
@formats.format_option(["text", "json", "markdown", "csv"])
@TZ
def summary(extra, db_path, fmt, tz):
    from .files import write_pieces
    from .render import summary_chunks

    if extra:
        hint = f"for a store: ccaudit summary --db {shlex.quote(extra[0])}" if looks_like_sqlite(extra[0]) else \
            f"for a dump: ccaudit report {operands(extra[:1])}"  # (hints to paste: "my dump.txt" was two names)
        raise click.UsageError(f"summary reads a store (--db STORE), not dumps; {hint}")
    if not db_path:
        raise click.UsageError("give --db STORE (a store made by report or load); for a dump use: ccaudit report DUMP")
    opt.existing_store((), db_path)
    opt.refuse_closed_output("the summary")
    with opt.open_store(db_path, readonly=True) as store:
        rep = build(store, time_options.zone(tz), Filters(sections=("all_events",)))  # the days' totals are enough
        rep.selected = ()  # (that section is the command's, not a filter to say under the title)
        write_pieces(sys.stdout, summary_chunks(rep, fmt))


@cli.command(short_help="Fetch the audit-log topic into a dump file.", help="""
    Fetch the audit-log topic up to its current end into --out, then stop.

    Needs the extra: pip install '.[download]' in a clone. The API key and secret come from
    --config or from CCAUDIT_API_KEY / CCAUDIT_API_SECRET. With --state each run starts
    where the last one ended, so a chain of runs yields every record once (a run killed
    between putting its file in place and saving the state leaves copies, which load drops).

    \b
    Example:
      ccaudit download --config audit.properties --state audit.state --out audit-$(date +%FT%H%M%S).jsonl
      ccaudit report audit-*.jsonl
    """)
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False), callback=opt.not_empty,
              help="client.properties of the audit-log cluster (chmod 600).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), callback=opt.not_empty,
              help="File to write, one record per line; it appears only when complete (- for standard "
                   "output; it, a pipe or a device such as /dev/stdout, is written to as the records come).")
@click.option("--state", "state_path", type=click.Path(dir_okay=False), callback=opt.not_empty,
              help="JSON offsets file: start after the last run, update it when done.")
@click.option("--topic", default="confluent-audit-log-events", show_default=True,
              help="The topic to fetch (the audit log's own, unless you mirror it).")
@click.option("--gzip", "compress", is_flag=True, help="Compress the output with gzip (a file's name ends in .gz).")
@click.option("--timeout", type=opt.Seconds(), default=300,
              show_default=True,
              help="Give up after this many seconds (exit 2, no file written; a pipe keeps what it got).")
@click.option("--insecure-config", is_flag=True, help="Accept a --config file other users can read.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
def download(config_path, out_path, state_path, topic, compress, timeout, insecure_config, quiet):
    from . import download as downloader

    show = on_terminal(quiet)
    progress = (lambda p: redraw(sys.stderr, p.line())) if show else None
    result = downloader.download(config_path, out_path, state_path=state_path, topic=topic, compress=compress,
                                 timeout=timeout, insecure_config=insecure_config, progress=progress,
                                 exits_after=Program.ends_with_command)
    if show:
        redraw(sys.stderr, "")
    opt.tell(result.summary_line())


for command in (check, diff, methods):
    cli.add_command(command)


@cli.command(short_help="Delete a store, a report folder's files, or both.", help="""
    Delete the --db store, the report files of an --out folder, or both.

    Everything is checked before anything is deleted: a file that is not a ccaudit
    store, or a folder without ccaudit's manifest (or export marker), is refused. Declining the question
    exits 1.

    \b
    Example:
      ccaudit clean --db audit.db --out reports/ --yes
    """)
@click.argument("extra", nargs=-1, metavar="")
@db_option("The store to delete (refused if the file is not a ccaudit store).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), callback=opt.named,
              help="The report folder whose files to delete (those its manifest lists), or an export folder.")
@click.option("--unfinished", is_flag=True, help="With --db: delete only the store's notes of loads that did not "
              "end, whose dumps are gone (and the warnings they give), not the store.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask (never asked when stdin is not a terminal).")
def clean(extra, db_path, out_dir, unfinished, yes):
    from .cleanfolder import check_report_dir, clean_dir
    from .storedelete import check_store_there, deletable, delete_store, fingerprint, forget_unfinished

    if extra:  # never a file named alone: the option says which kind of thing is deleted
        x, q = extra[0], shlex.quote(extra[0])
        if db_path or out_dir:
            raise click.UsageError(f"unexpected argument {x}: clean takes what to delete as options only "
                                   "(--db STORE, --out DIR)")
        hint = (f"--db {q}" if looks_like_sqlite(x) else f"--out {q}" if os.path.isdir(x) else
                f"--db {q} (a store) or --out {q} (a report folder)")
        raise click.UsageError(f"clean takes what to delete as an option: ccaudit clean {hint}")
    if not db_path and not out_dir:
        raise click.UsageError("--unfinished goes with --db STORE" if unfinished else
                               "give --db STORE, --out DIR or both")
    if unfinished:
        if not db_path or out_dir:
            raise click.UsageError("--unfinished goes with --db STORE alone (the store is kept)")
        check_store_there(db_path)  # before the question (and again after it)
        asking.go_on_if_agreed(f"Forget the unfinished loads of {printable(db_path)}?", yes)
        forgot = forget_unfinished(db_path, opt.tell)
        opt.tell(f"{db_path}: forgot {plural(forgot, 'unfinished load')} (the store is kept)")
        return
    found = bool(db_path) and deletable(db_path)  # checked before anything is deleted
    asked = found and fingerprint(db_path)  # the question may wait while the file is replaced
    folder = bool(out_dir) and present(out_dir) and check_report_dir(out_dir)  # (an empty one: nothing to ask of)
    if targets := [t for t, there in ((db_path, found), (out_dir, folder)) if there]:  # was asked of nothing
        asking.go_on_if_agreed(f"Delete {printable(' and '.join(targets))}?", yes)
    if db_path:
        if found:
            delete_store(db_path, asked=asked)
        opt.tell(f"deleted {db_path}" if found else f"no store at {db_path}")
    for line in clean_dir(out_dir) if out_dir else ():
        opt.tell(line)


cli.add_command(export_command)


@cli.command("spark", short_help="Load archived dumps with Apache Spark into a store.", help="""
    Read INPUTS with Apache Spark, by ccaudit's rules, into the --db store as counts.

    INPUTS are paths, folders, globs or Hadoop URIs (s3a://bucket/audit/2024/*/*.jsonl.gz; quote
    globs). Spark reads and de-duplicates; the store gets per-quarter-hour counts, which
    report, summary, check, diff, methods and export read (events themselves stay in the archive). Needs
    the extra: pip install '.[spark]' in a clone, and Java 17 or newer.

    \b
    Examples:
      ccaudit spark 'archive/2024-*.jsonl.gz' --db audit.db
      ccaudit spark 's3a://bucket/audit/2024/*/*.jsonl.gz' --db audit.db --master yarn
    """)
@click.argument("inputs", nargs=-1, required=True)
@db_option("New store to write the counts to (created if missing; refused if it already holds events).",
           required=True)
@click.option("--master", metavar="URL", callback=opt.not_empty,
              help="Spark master, e.g. local[4] or yarn (default: spark-submit's, else local[*], every core here).")
@click.option("--parquet", "parquet_dir", metavar="DIR", help="Also write the counts as Parquet, partitioned by "
                                                              "day, into this new folder (a path or Hadoop URI).")
@formats.format_option(["text", "json"], "Format of the load summary on stdout (text prints none).")
@LOADING
def spark(inputs, db_path, master, parquet_dir, fmt, strict, quiet):
    from .spark import require, run
    from .spark_inputs import check_inputs
    from .storedelete import delete_store

    if "-" in inputs:
        raise click.UsageError("ccaudit spark reads files, not stdin: for stdin use ccaudit load - --db STORE")
    opt.refuse_closed_summary(fmt)
    require()
    check_inputs(inputs, db_path, parquet_dir)  # before the store is made: a refused run leaves none
    made = not os.path.lexists(db_path)
    try:
        with opt.open_store(db_path, loading=inputs) as store:  # a kill leaves it noted, not empty and whole
            stats = run(inputs, store, master=master, parquet=parquet_dir)
    except BaseException:  # refused once Spark had read them (a URI's files), failed or stopped:
        if made:  # nothing was written, and a store made for this run is not left behind, unless
            with contextlib.suppress(CcauditError, OSError):  # another command filled it meanwhile
                delete_store(db_path, unused=True)
        raise
    opt.tell_loaded(stats, quiet)  # the lines load prints
    opt.echo_stats(stats, fmt)
    sys.exit(opt.exit_code(stats, strict))
