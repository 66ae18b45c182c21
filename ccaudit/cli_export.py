"""``ccaudit export``: a store's tables as Parquet, partitioned by day (``export.py``).
``cli.py`` adds it to the command group, whose error boundary it shares."""
from __future__ import annotations

import click

from . import options as opt
from .export import TABLES
from .options import db_option


@click.command("export", cls=opt.Command, short_help="Write a store's tables as Parquet, one folder per day.", help="""
    Write the --db store's tables as Parquet into --out, Hive-partitioned by UTC day.

    Tables: all_events, auth_events, signin_failures, signin_successes (one row per
    event) and counts (events per UTC quarter hour and key). Times are UTC timestamps
    (microseconds), n an integer, other columns text. A later export into the same
    folder replaces the earlier one as a whole. Needs the extra: pip install
    '.[parquet]' in a clone.

    \b
    Examples:
      ccaudit export --db audit.db --out audit-parquet
      ccaudit export --db audit.db --out audit-parquet --table counts
    """)
@db_option("The store to export (nothing is added to it).", required=True)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), callback=opt.named,
              help="Folder for the Parquet files, <table>/day=<date>/part-0.parquet (created if its parent "
                   "exists); refused if it is neither empty nor an earlier export, which is replaced.")
@click.option("--table", "tables", multiple=True, type=click.Choice(TABLES),
              help="Only this table (repeatable; default: all five).")
def export_command(db_path, out_dir, tables):
    from . import export as exporter
    from .lean import require_arrow

    require_arrow(lean=True)  # a process of its own
    if db_path == "" or out_dir == "":
        raise click.UsageError("--db and --out need a name")
    opt.existing_store((), db_path)
    opt.refuse_journal_folder(out_dir, db_path)
    with opt.open_store(db_path, readonly=True) as store:
        result = exporter.export(store, out_dir, tables or TABLES)
    if result.skipped:
        opt.tell(f"{db_path} holds counts only (made by ccaudit spark): no events to export for "
                 f"{', '.join(result.skipped)}")
    opt.tell(result.summary_line(out_dir))
