"""Generate realistic Confluent Cloud audit-log dumps, with the exact expected report beside them.

usage: python -m benchmarks.generate N FILE [--format cli|jsonl|array|pretty]
           [--gzip|--bz2|--xz] [--seed S] [--start 2024-05-06T00:00:00Z] [--days 7]
           [--dups FRACTION] [--noise] [--cut-last] [--gap-days 2,3] [--crowd]

Writes N distinct records (plus duplicates, noise and a cut last line when asked) to FILE and
the report that ``ccaudit report FILE --format json`` must print to ``FILE.truth.json``.
The truth comes from what the generator decided to write, never from parsing the output; of
ccaudit it uses only the section ids and titles (ccaudit.schema).

The mix follows audit-events.md §6: mostly ``mds.Authorize`` (one service account doing
AccessMetrics, users doing many operations), hourly bursts of ``kafka.Authentication`` from one
misbehaving service account (up to 3,600/hour), a few failed authentications, sign-ins
(successes, failures with and without error statuses), and cloud API requests with object
principals. Records are spread over 6 partitions, each time-ordered, interleaved with lag as a
consumer prints them. Output is streamed: memory stays constant whatever N is.

With --crowd the world is a large organization's instead (crowd.py): 3,000 service accounts
(one to three API keys each) and 2,000 users, which of them acts drawn Zipf-weighted; about 190
methods; 4,000 topics and 1,500 consumer groups in the authorization checks; 23,000 client
addresses; connection ids of 18 or 19 digits or 50 characters; records of about 1.2 KB. The
organization is the same whatever the seed (the seed draws the records), so crowd dumps loaded
together are one organization's. The kinds of record are the default's, with wider
vocabularies, and the truth is as exact. Without --crowd, nothing of it is drawn: the default
output is unchanged.

Modules: world (the organization, its users and service accounts), templates (record shapes),
records (the record kinds and their mix), times (the `time` field), plan (hours, bursts, forced
kinds, noise positions), noise (noise and malformed lines), writer (formats and compression),
truth (the expected report), dump (the run that ties them together), __main__ (the command line);
for --crowd, crowd (its world and draws), crowd_methods (its methods and record shapes) and
crowd_records (its builders and mix).
For the same arguments and seed, the output is the same, byte for byte.
"""
from .dump import generate
from .truth import build_truth
from .writer import FORMATS

__all__ = ["FORMATS", "build_truth", "generate"]
