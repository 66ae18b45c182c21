"""ccaudit: per-day, per-hour reports from Confluent Cloud audit-log dumps.

The library API, usable without the command line::

    from ccaudit import Store, load_dumps, build
    store = Store("audit.db")
    stats = load_dumps(["dump.json.gz"], store)
    report = build(store)
"""
__version__ = "0.1.0"

from .ingest import LoadStats  # noqa: E402
from .load import load_dumps  # noqa: E402
from .report import Filters, Report, build  # noqa: E402
from .store import Store  # noqa: E402

__all__ = ["Filters", "LoadStats", "Report", "Store", "build", "load_dumps", "__version__"]
