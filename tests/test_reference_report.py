"""ccaudit's JSON reports, ``check``'s breaches and ``diff``'s rows, against
tests/reference_report.py, an independent computation of the same report, under random
mixes of zone (half-hour and 45-minute offsets, days of 23 to 26 hours), window (at odd
µs, on and off quarter hours, local times the clocks skip or repeat), principal and method
globs, ``--section``, ``--top`` and ``--stats``: on dumps of days when clocks change, and
on records made to sit at the edges (a µs either side of a quarter hour, an hour, a change
of offset; odd principals; copies of an id)."""
from __future__ import annotations

import json
import operator
import random
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from benchmarks.generate import generate
from tests import reference_report as ref
from tests.conftest import FIXTURES

US = ref.US
ZONES = ("UTC", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Eucla", "America/New_York", "Europe/Zurich",
         "Pacific/Chatham", "America/St_Johns")
PRINCIPALS = ("sa-*", "u-*", "*@*", "[!s]*", "*", "s?-*", "*(*", "None:*", "(unknown)", "*[0-9]", "trail ",
              "trail\\x20", "*\\x20", "12345", "User:*", "ünï", "[(]*")
METHODS = ("kafka.*", "mds.Authorize", "SignIn", "*Key*", "[A-Z]*", "Get*", "*.*", "?ign*", "[!k]*", "*Topic*")
COMBINATIONS = 40  # a store


def edge_records(seed: int = 11) -> list[dict]:
    """Records a µs either side of the edges a report cuts at, around 2024's changes of
    offset in the zones above, with odd principals, statuses and times, and copies of ids:
    in the same UTC hour (dropped, whatever they say) and in the next (kept)."""
    rng = random.Random(seed)
    principals = ["User:sa-abc123", "User:u-xyz9", "sa-plain", "User:", 12345, {"confluentUser": {"resourceId": "u-1"}},
                  {"email": "bob@example.com"}, {"identityPool": {"resourceId": "pool-1"}}, "User:trail ", "User:ünï",
                  "None:UNKNOWN_USER", "User:User:x", {}, None]

    def record(ts: int, offset_minutes: int = 0) -> dict:
        method = rng.choice(["kafka.Authentication"] * 3 + ["mds.Authorize"] * 2 + ["SignIn"] * 3 +
                            ["CreateAPIKey", "GetKafkaClusters", "weird method"])
        p = rng.choice(principals)
        authn: dict = {} if p is None else {"principal": p}
        data: dict = {"methodName": method, "authenticationInfo": authn}
        if method == "kafka.Authentication":
            result = rng.choice([{"status": "SUCCESS"}, {"status": ""}, {"status": "UNAUTHENTICATED"},
                                 {"status": ["UNAUTHENTICATED"]}, None, {}])
            if result is not None:
                data["result"] = result
        elif method == "mds.Authorize":
            data["authorizationInfo"] = rng.choice([{"operation": "Alter", "granted": True}, {}, {"operation": ""},
                                                   {"operation": "Describe Configs"}])
        elif method == "SignIn":
            authn["principal"] = rng.choice([{"email": "alice@example.com"}, "User:u-dan", {"email": ""},
                                             {"email": "carol@x.org", "confluentUser": {"resourceId": "u-carol"}}])
            if outcome := rng.choice(["SUCCESS", "FAILURE", None, "OTHER"]):
                authn["result"] = outcome
            result = rng.choice([{"status": rng.choice(["SUCCESS", "FAILURE"])}, None,
                                 {"status": "FAILURE", "data": {"errors": [{"detail": "x"}, {"status": "401"}]}},
                                 {"data": {"errors": [{"status": ""}, {"status": 429}]}}])
            if result is not None:
                data["result"] = result
        time = written(ts, offset_minutes, rng.choice(["", f"{rng.randint(0, 999):03d}"]))
        return {"id": str(uuid.UUID(int=rng.getrandbits(128))), "time": time, "data": data}

    def at(text: str) -> int:
        return int(datetime.fromisoformat(text).timestamp()) * US

    edges = [at(t + ":00+00:00") for t in ("2024-03-31T01:00", "2024-10-27T01:00", "2024-03-10T07:00",
                                            "2024-11-03T06:00", "2024-04-06T14:00", "2024-09-28T14:00",
                                            "2024-03-10T05:30", "2024-11-03T04:30", "2024-03-30T18:30",
                                            "2024-03-30T18:15", "2024-03-31T00:00", "2024-02-20T23:59")]
    steps = (-US - 1, -1, 0, 1, 15 * 60 * US - 1, 15 * 60 * US, 45 * 60 * US - 1, 3600 * US - 1, 3600 * US, -3600 * US)
    records = [record(edge + step + k, rng.choice([0, 0, 0, 330, -300, 765]))
               for edge in edges for step in steps for k in range(rng.randint(1, 2))]
    records += [record(rng.choice(edges) + rng.randint(-30 * 3600 * US, 30 * 3600 * US)) for _ in range(600)]
    copies = []
    for r in rng.sample(records, 40):
        hour = ref.record_time(r["time"]) // ref.HOUR * ref.HOUR
        copies.append({**r, "time": written(hour + rng.randint(0, ref.HOUR - 1)),
                       "data": {**r["data"], "methodName": "CopyNotCounted"}})
        copies.append({**r, "time": written(hour + ref.HOUR + rng.randint(0, 10 * US))})
    records += [{"id": 777, "time": "2024-03-31T05:10:00Z", "data": {"methodName": "NumberId"}},
                {"id": "ABC", "time": "2024-03-31T05:10:00Z", "data": {"methodName": "CaseId"}},
                {"id": "abc", "time": "2024-03-31T05:10:00Z", "data": {"methodName": "CaseId"}},
                {"id": "leap", "time": "2024-03-31T05:59:60.5Z", "data": {"methodName": "Leap"}}]
    rng.shuffle(records)
    return records + copies + [{"id": "777", "time": "2024-03-31T05:50:00Z", "data": {"methodName": "CopyNotCounted"}}]


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict:
    """name -> (store, the reference's events of what was loaded into it)."""
    from click.testing import CliRunner

    from ccaudit.cli import cli

    folder = tmp_path_factory.mktemp("reference")
    dumps = {"spring": folder / "spring.txt", "autumn": folder / "autumn.jsonl", "edges": folder / "edges.jsonl"}
    generate(3000, dumps["spring"], "cli", seed=61, start="2024-03-29T00:00:00Z", days=4, dups=0.02, noise=True)
    generate(3000, dumps["autumn"], "jsonl", seed=62, start="2024-10-25T00:00:00Z", days=11, dups=0.03, gap_days=(3,))
    dumps["edges"].write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in edge_records()),
                              encoding="utf-8")
    made = {}
    for name, files in {**{n: [p] for n, p in dumps.items()},
                        "samples": [FIXTURES / "sample-cli.txt", FIXTURES / "sample-week2.jsonl"]}.items():
        db = folder / f"{name}.db"
        result = CliRunner().invoke(cli, ["load", *map(str, files), "--db", str(db), "-q"])
        assert result.exit_code == 0, result.output
        made[name] = (db, ref.events(r for f in files for r in ref.lines_records(f)))
    return made


def written(ts: int, offset: int = 0, digits: str = "") -> str:
    """``ts`` (µs) in RFC 3339 at ``offset`` minutes from UTC (``Z`` at 0), with ``digits``
    after the µs, which a time read drops."""
    local = (ref.EPOCH + timedelta(microseconds=ts)).astimezone(timezone(timedelta(minutes=offset)))
    fraction = f".{local.microsecond:06d}{digits}" if local.microsecond or digits else ""
    sign = "+" if offset >= 0 else "-"
    zone = f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}" if offset else "Z"
    return local.strftime("%Y-%m-%dT%H:%M:%S") + fraction + zone


def bound(rng: random.Random, events: list, zone: str, until: bool) -> tuple[str, int | None]:
    """A --since or --until as a user may write it, and the µs it means (None: refused, a
    local time the clocks skip)."""
    tz = timezone.utc if zone == "UTC" else ZoneInfo(zone)
    ts = rng.choice(events)[0]
    kind = rng.choice(["event", "event", "quarter", "hours", "date", "local"])
    if kind == "date":
        d = ref._local(ts, tz).date() + timedelta(days=rng.choice([-1, 0, 0, 1]))
        return d.isoformat(), ref.midnight(d + timedelta(days=1 if until else 0), tz)
    if kind == "local":  # a local time without an offset: the first of a repeated hour's (README, Filters)
        naive = ref._local(ts + rng.randint(-3 * ref.HOUR, 3 * ref.HOUR), tz).replace(tzinfo=None)
        first = naive.replace(tzinfo=tz, fold=0)
        if first.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None) != naive:
            return naive.isoformat(), None
        return naive.isoformat(sep=rng.choice("T ")), (first - ref.EPOCH) // timedelta(microseconds=1)
    t = {"event": ts + rng.choice([0, 0, 1, -1, 1000, -999_999, 3 * US]),
         "quarter": ts - ts % ref.QUARTER + rng.choice([0, ref.QUARTER, -1, 1]),
         "hours": ts + rng.randint(-6 * ref.HOUR, 6 * ref.HOUR)}[kind]
    offset = rng.choice([0, 0, 330, -150, 345, 765])
    return written(t, offset, f"{rng.randint(0, 999):03d}" if t % US else ""), t


def window(rng: random.Random, events: list, zone: str | None = None) -> tuple[list[str], dict, bool]:
    """Arguments of a zone (``zone``, or one at random) and a window, the reference's
    options for them, and whether they are refused."""
    zone = zone or rng.choice(ZONES)
    args, opts, refused = ["--tz", zone], {"tz_name": zone}, False
    for option, until in (("--since", False), ("--until", True)):
        if rng.random() < 0.5:
            written, t = bound(rng, events, zone, until)
            args += [option, written]
            opts[option[2:]] = t
            refused |= t is None
    if not refused and "since" in opts and "until" in opts:  # an empty window
        refused = opts["until"] <= opts["since"]
    return args, opts, refused


def combination(rng: random.Random, events: list) -> tuple[list[str], dict, bool]:
    """Arguments of a report, the reference's options for it, and whether it is refused."""
    args, opts, refused = window(rng, events)
    if rng.random() < 0.3:
        p = rng.choice(events)[2]  # a principal of the store, whole or in part
        glob = rng.choice(PRINCIPALS if rng.random() < 0.5 else (p, p[:len(p) // 2 + 1] + "*", f"*{p[-3:]}"))
        args, opts["principal"] = [*args, "--principal", glob], glob
    if rng.random() < 0.3:
        glob = rng.choice(METHODS)
        args, opts["method"] = [*args, "--method", glob], glob
    if rng.random() < 0.3:
        chosen = rng.sample(ref.SECTIONS, rng.randint(1, 3))
        args += [a for s in chosen for a in ("--section", s)]
        opts["sections"] = chosen
    if rng.random() < 0.35:
        opts["top"] = rng.choice([1, 2, 3, 10])
        args += ["--top", str(opts["top"])]
    if rng.random() < 0.3:
        args.append("--stats")
    return args, opts, refused


def compared(doc: dict) -> dict:
    """The parts of ccaudit's JSON report the reference computes."""
    summary = doc["summary"]
    if not summary["events"]:
        return {"summary": {"events": 0}, "days": []}
    fields = ("key", "hours", "total", "first_seen", "last_seen", "peak_hour", "peak_count")
    return {"summary": {k: summary[k] for k in ("events", "first_day", "last_day", "per_day", "gaps")},
            "days": [{"date": d["date"], "events": d["events"], "hour_labels": d["hour_labels"],
                      "coverage": d["coverage"],
                      "sections": {s: [{f: r[f] for f in fields} for r in v["rows"]] for s, v in d["sections"].items()}}
                     for d in doc["days"]]}


@pytest.mark.parametrize("name", ["spring", "autumn", "edges", "samples"])
def test_reports_equal_an_independent_computation(stores, invoke, name):
    db, events = stores[name]
    rng = random.Random(name)
    for _ in range(COMBINATIONS):
        args, opts, refused = combination(rng, events)
        result = invoke("report", "--db", db, "--format", "json", "-q", *args)
        if refused:
            assert result.exit_code == 2, (args, result.stdout[:300])
            continue
        assert result.exit_code == 0, (args, result.stderr)
        assert compared(json.loads(result.stdout)) == ref.report(events, **opts), args


def rules(rng: random.Random, events: list) -> list[tuple[str, str, int, str]]:
    """A few distinct rules of ``check``: section globs, key globs (a key of the store,
    whole or in part, or any; written as reports show it: a space at either end is not
    the rule's), and limits near the store's counts."""
    made: dict = {}
    for _ in range(rng.randint(1, 4)):
        e = rng.choice(events)
        key = ref.shown(rng.choice(["*", e[4] or e[1], (e[4] or e[1])[:3] + "*", "sa-*", "*@*"]))
        section = rng.choice(["*", "*", "signin_*", e[3] or "all_events"])
        per = rng.choice(["hour", "day"])
        made[section, key] = (section, key, rng.choice([1, 2, 3, 5]) if per == "hour" else rng.choice([3, 10, 50]), per)
    return list(made.values())


@pytest.mark.parametrize("name", ["spring", "autumn", "edges", "samples"])
def test_checks_equal_an_independent_computation(stores, invoke, name):
    db, events = stores[name]
    rng = random.Random(f"check {name}")
    for _ in range(COMBINATIONS // 2):
        args, opts, refused = window(rng, events)
        chosen = rules(rng, events)
        if refused:  # (as reports are: test_reports_equal_an_independent_computation)
            continue
        result = invoke("check", "--db", db, "--format", "json", *args,
                        *[a for r in chosen for a in ("--max", f"{r[0]}:{r[1]}={r[2]}/{r[3][0]}")])
        want, matched = ref.breaches(ref.report(events, **opts), chosen)
        doc = json.loads(result.stdout)
        assert result.exit_code == (1 if want else 0), (args, chosen, result.stderr)
        key = operator.itemgetter("section", "key", "day", "rule", "count")  # (hour: None or a label)
        assert sorted(doc["breaches"], key=key) == sorted(want, key=key), (args, chosen)
        assert [r["matched_a_key"] for r in doc["rules"]] == matched, (args, chosen)


@pytest.mark.parametrize("name", ["spring", "autumn", "edges", "samples"])
def test_diffs_equal_an_independent_computation(stores, invoke, name):
    db, events = stores[name]
    rng = random.Random(f"diff {name}")
    for _ in range(COMBINATIONS // 4):
        zone = rng.choice(ZONES)  # both sides' windows are read in it
        (a_args, a_opts, a_refused), (b_args, b_opts, b_refused) = window(rng, events, zone), window(rng, events, zone)
        if a_refused or b_refused:
            continue
        sides = [f"--{side}-{a[2:]}" if a.startswith("--") else a
                 for side, args in (("a", a_args[2:]), ("b", b_args[2:])) for a in args]  # (past --tz ZONE)
        result = invoke("diff", db, db, "--tz", zone, "--all", "--format", "json", *sides)
        assert result.exit_code == 0, (sides, result.stderr)
        want = ref.diff_rows(ref.totals(ref.report(events, **a_opts)), ref.totals(ref.report(events, **b_opts)))
        key = operator.itemgetter("section", "key")
        assert sorted(json.loads(result.stdout)["rows"], key=key) == sorted(want, key=key), (zone, sides)
