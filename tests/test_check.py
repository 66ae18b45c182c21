"""`ccaudit check`: rule parsing, evaluation against hand-built reports, the CLI's exit codes,
and golden text/json output for fixtures/sample-cli.txt (breaches worked out by hand from the
event list in conftest.py)."""
from __future__ import annotations

import fnmatch
import functools
import json

import pytest

from ccaudit.check import Breach, Rule, RuleError, evaluate, load_rules_file, parse_rule
from ccaudit.errors import CcauditError
from ccaudit.report import Day, Report, Row, Section
from ccaudit.text import printable
from tests.records import kafka_auth, request, signin, write_jsonl

# -- parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize("text, rule", [
    ("kafka_authentication:*=3600/h", Rule("kafka_authentication", "*", 3600, "hour")),
    ("signin_failure:*=5/h", Rule("signin_failure", "*", 5, "hour")),
    ("*:*=100/d", Rule("*", "*", 100, "day")),
    ("all_events:Get*=10/day", Rule("all_events", "Get*", 10, "day")),
    ("mds_authorize:sa-*=0/hour", Rule("mds_authorize", "sa-*", 0, "hour")),
    ("  signin_failure : bob@example.com (401)= 5 / H ", Rule("signin_failure", "bob@example.com (401)", 5, "hour")),
    # spaces around '=' as around ':' and '/': the key kept them, and matched nothing (a CI pass)
    ("all_events:mds.Authorize = 5/h", Rule("all_events", "mds.Authorize", 5, "hour")),
    (" all_events :mds.Authorize =5/h", Rule("all_events", "mds.Authorize", 5, "hour")),
    ("all_events:a b=5/h", Rule("all_events", "a b", 5, "hour")),
    ("*:*=9223372036854775807/h", Rule("*", "*", 2**63 - 1, "hour")),  # was: "too large", as TOML takes it
    ("*:*=0000000000000000005/h", Rule("*", "*", 5, "hour")),
    ("*:*=" + "0" * 5000 + "5/h", Rule("*", "*", 5, "hour")),  # was: int() refused 5,001 digits, exit 70
    ("*:*=000/h", Rule("*", "*", 0, "hour")),
    # the key may hold ':' and '=': the section ends at the first ':', the limit starts at the last '='
    ("kafka_authentication:None:UNKNOWN_USER*=0/h", Rule("kafka_authentication", "None:UNKNOWN_USER*", 0, "hour")),
    ("all_events:a=b=3/d", Rule("all_events", "a=b", 3, "day")),
    ("signin_*:*=1/h", Rule("signin_*", "*", 1, "hour")),
])
def test_parse_rule(text, rule):
    assert parse_rule(text) == rule


def test_rule_text_and_sections():
    assert parse_rule("kafka_authentication:*=3600/hour").text == "kafka_authentication:*=3600/h"
    assert parse_rule("signin_*:*=1/d").sections() == ["signin_failure", "signin_success"]
    assert len(parse_rule("*:x=1/d").sections()) == 5


@pytest.mark.parametrize("text, says", [
    ("", "expected SECTION:KEYGLOB=N/h"),
    ("kafka_authentication=1/h", "expected SECTION:KEYGLOB=N/h"),
    ("kafka_authentication:*=x/h", "expected SECTION:KEYGLOB=N/h"),
    ("kafka_authentication:*=-1/h", "expected SECTION:KEYGLOB=N/h"),
    ("kafka_authentication:*=1.5/h", "expected SECTION:KEYGLOB=N/h"),
    ("kafka_authentication:*=10", "expected SECTION:KEYGLOB=N/h"),
    ("kafka_authentication:*=10/w", "per hour (/h) or per day (/d)"),
    ("kafka_authentication:*=10/minute", "per hour (/h) or per day (/d)"),
    ("kafka_auth:*=10/h", "no section 'kafka_auth'"),
    ("all_events:*=\u0665/h", "expected SECTION:KEYGLOB=N/h"),  # an Arabic-Indic 5: was taken as 5
    ("all_events:*=\uff15/h", "expected SECTION:KEYGLOB=N/h"),  # a fullwidth 5
    ("*:*=9223372036854775808/h", "the limit is too large"),
    ("*:*=" + "9" * 5000 + "/h", "the limit is too large"),
    ("*:*=" + "0" * 5000 + "9223372036854775808/h", "the limit is too large"),
    ("all_events: =5/h", "empty key glob"),
    ("*:sa-\udcff*=1/h", "not UTF-8 text"),  # the byte 0xff of a --max, as Python holds it: matched no key
])
def test_bad_rules(text, says):
    with pytest.raises(RuleError) as e:
        parse_rule(text)
    assert isinstance(e.value, CcauditError) and e.value.exit_code == 2
    assert says in str(e.value)
    assert "\n" not in str(e.value)


def test_rules_file(tmp_path):
    path = tmp_path / "limits.toml"
    path.write_text("""
# comments are fine
[[rule]]
section = "kafka_authentication"
key = "sa-*"
max = 3600
per = "hour"

[[rule]]
section = "signin_failure"
max = 5
per = "day"

[[rule]]
max = 0
""", encoding="utf-8")
    assert load_rules_file(str(path)) == [
        Rule("kafka_authentication", "sa-*", 3600, "hour"),
        Rule("signin_failure", "*", 5, "day"),
        Rule("*", "*", 0, "hour"),
    ]


@pytest.mark.parametrize("body, says", [
    ("[[rule]]\nsection = 'kafka_authentication'\n", "'max' must be a whole number"),
    ("[[rule]]\nmax = -3\n", "'max' must be a whole number"),
    ("[[rule]]\nmax = 2.5\n", "'max' must be a whole number"),
    ("[[rule]]\nmax = true\n", "'max' must be a whole number"),
    ("[[rule]]\nmax = 3\nper = 'week'\n", "'per' must be"),
    ("[[rule]]\nmax = 3\nlimit = 4\n", "unknown field 'limit'"),
    ("[[rule]]\nmax = 3\nsection = 'nope'\n", "no section 'nope'"),
    ("[[rule]]\nmax = 3\nkey = 7\n", "must be strings"),
    ("[rule]\nmax = 3\n", "array of tables"),
    ("[[rules]]\nmax = 3\n", "unknown top-level key 'rules'"),
    ("[[rule]\nmax = 3\n", "not valid TOML"),
])
def test_bad_rules_file(tmp_path, body, says):
    path = tmp_path / "bad.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(RuleError) as e:
        load_rules_file(str(path))
    assert says in str(e.value)


@pytest.mark.parametrize("body, says", [
    # was "rule 2", the sixth line of the file
    (b'[[rule]]\nmax = 1\n\n\n\n[[rule]]\nsection = "all_events"\nmax = "3"\n', "bad.toml:6: rule 2: 'max' must be"),
    (b'[[rule]]\nmax = 1\nkey = "\xff"\n', "bad.toml:3: not UTF-8 text"),  # was "position 19", in bytes
    (b'\xef\xbb\xbfa = 1\n\xff = 2\n', "bad.toml:2: not UTF-8 text"),  # after a BOM
    ("# a \u2028 b\n[[rule]]\nmax = -1\n".encode(), "bad.toml:2: rule 1"),  # U+2028 ends no TOML line
])
def test_a_bad_rule_is_named_by_its_line(tmp_path, body, says):
    path = tmp_path / "bad.toml"
    path.write_bytes(body)
    with pytest.raises(RuleError, match=says):
        load_rules_file(str(path))


def test_a_rules_file_may_start_with_a_byte_order_mark(tmp_path):
    # as editors on Windows write it: was "Invalid statement (at line 1, column 1)"
    path = tmp_path / "limits.toml"
    path.write_bytes(b"\xef\xbb\xbf[[rule]]\r\nmax = 3\r\n")
    assert load_rules_file(str(path)) == [Rule("*", "*", 3, "hour")]


def test_missing_rules_file(tmp_path):
    with pytest.raises(RuleError, match="cannot read"):
        load_rules_file(str(tmp_path / "none.toml"))


# -- evaluation on hand-built reports ------------------------------------------------------


def _row(key, hours):
    return Row(key, hours, sum(hours), "", "", "", 0)


def _report():
    labels = [f"{h:02d}" for h in range(24)]
    h = lambda **kw: [kw.get(f"h{i:02d}", 0) for i in range(24)]  # noqa: E731
    day1 = Day("2024-05-06", 20, labels, {
        "kafka_authentication": Section("kafka_authentication", "Kafka Authentication", [
            _row("sa-1", h(h03=5, h04=6, h05=5)),
            _row("sa-2", h(h04=7)),
        ]),
        "signin_failure": Section("signin_failure", "Sign-In Failure", [_row("bob@example.com", h(h10=2))]),
    })
    day2 = Day("2024-05-07", 3, labels, {
        "kafka_authentication": Section("kafka_authentication", "Kafka Authentication", [_row("sa-1", h(h00=3))]),
    })
    return Report([day1, day2])


def test_the_report_is_read_once_whatever_the_number_of_rules():
    # was read once a rule (each day's rows made again from the store): 50 rules took 2.8 s
    # of a 2M-event store, and 4,000 rules 15 s of 3,000 events
    class Days(list):
        reads = 0

        def __iter__(self):
            Days.reads += 1
            return super().__iter__()

    rep = _report()
    rep.days = Days(rep.days)
    rules = [Rule("kafka_authentication", f"sa-{i}", 5, "hour") for i in range(50)]
    assert [b.key for b in evaluate(rep, rules)] == ["sa-1", "sa-2"]  # 6 and 7 at 04:00
    assert Days.reads == 1


def test_each_rules_glob_is_compiled_once_however_many_rules(monkeypatch):
    # fnmatch keeps 32,768 compiled globs: past that, each was compiled again for every row
    # (36,000 rules on a 32-event store: 24 s, against 1.7 s for 30,000). Its cache cut to 2
    # stands for that many.
    translated = []
    translate = fnmatch.translate

    def counted(pattern):
        translated.append(pattern)
        return translate(pattern)

    monkeypatch.setattr(fnmatch, "translate", counted)
    small = functools.lru_cache(maxsize=2)(fnmatch._compile_pattern.__wrapped__)
    monkeypatch.setattr(fnmatch, "_compile_pattern", small)
    rules = [Rule("kafka_authentication", f"sa-{i}", 5, "hour") for i in range(1, 6)]
    assert [b.key for b in evaluate(_report(), rules)] == ["sa-1", "sa-2"]
    assert sorted(p for p in translated if p.startswith("sa-")) == [f"sa-{i}" for i in range(1, 6)]


def test_limit_is_inclusive():
    rep = _report()
    # sa-1: 5, 6, 5 -> only the 6 is over 5; sa-2: 7 is over 5
    assert evaluate(rep, [Rule("kafka_authentication", "*", 5, "hour")]) == [
        Breach("kafka_authentication", "sa-1", "2024-05-06", "04", 6, 5, "hour", "kafka_authentication:*=5/h"),
        Breach("kafka_authentication", "sa-2", "2024-05-06", "04", 7, 5, "hour", "kafka_authentication:*=5/h"),
    ]
    assert evaluate(rep, [Rule("kafka_authentication", "*", 7, "hour")]) == []


def test_per_day_uses_the_row_total():
    rep = _report()
    # day totals: sa-1 16 and 3, sa-2 7
    got = evaluate(rep, [Rule("kafka_authentication", "sa-*", 7, "day")])
    assert [(b.key, b.day, b.hour, b.count, b.limit, b.per) for b in got] == [
        ("sa-1", "2024-05-06", None, 16, 7, "day")]
    got = evaluate(rep, [Rule("*", "*", 2, "day")])
    assert [(b.section, b.key, b.day, b.count) for b in got] == [
        ("kafka_authentication", "sa-1", "2024-05-06", 16),
        ("kafka_authentication", "sa-2", "2024-05-06", 7),
        ("kafka_authentication", "sa-1", "2024-05-07", 3),
    ]


def test_key_glob_and_section_glob():
    rep = _report()
    assert evaluate(rep, [Rule("kafka_authentication", "sa-2", 0, "hour")]) == [
        Breach("kafka_authentication", "sa-2", "2024-05-06", "04", 7, 0, "hour", "kafka_authentication:sa-2=0/h")]
    got = evaluate(rep, [Rule("signin_*", "*@example.com", 1, "hour")])
    assert [(b.section, b.key, b.hour, b.count) for b in got] == [("signin_failure", "bob@example.com", "10", 2)]
    # a glob is case-sensitive, like every glob of ccaudit
    assert evaluate(rep, [Rule("signin_*", "BOB*", 1, "hour")]) == []


def test_breach_order_is_day_hour_section_key():
    rep = _report()
    got = evaluate(rep, [Rule("kafka_authentication", "*", 1, "day"), Rule("*", "*", 1, "hour")])
    assert [(b.day, b.hour, b.section, b.key, b.rule) for b in got] == [
        ("2024-05-06", "03", "kafka_authentication", "sa-1", "*:*=1/h"),
        ("2024-05-06", "04", "kafka_authentication", "sa-1", "*:*=1/h"),
        ("2024-05-06", "04", "kafka_authentication", "sa-2", "*:*=1/h"),
        ("2024-05-06", "05", "kafka_authentication", "sa-1", "*:*=1/h"),
        ("2024-05-06", "10", "signin_failure", "bob@example.com", "*:*=1/h"),
        # per-day breaches come after the day's hours
        ("2024-05-06", None, "kafka_authentication", "sa-1", "kafka_authentication:*=1/d"),
        ("2024-05-06", None, "kafka_authentication", "sa-2", "kafka_authentication:*=1/d"),
        ("2024-05-07", "00", "kafka_authentication", "sa-1", "*:*=1/h"),
        ("2024-05-07", None, "kafka_authentication", "sa-1", "kafka_authentication:*=1/d"),
    ]


def test_printable():
    assert printable("alice@example.com") == "alice@example.com"
    assert printable("a\x1b[31mb") == "a\\x1b[31mb"
    assert printable("x\u202ey") == "x\\u202ey"
    assert printable("tab\there\n") == "tab\\x09here\\x0a"
    assert printable("Zürich ü 日本") == "Zürich ü 日本"


# -- the command ------------------------------------------------------------------------


def test_exit_codes(invoke, sample_cli):
    # sample: sa-q1w2e3 has 2 events in hour 07 of 2024-05-06, the busiest kafka hour
    ok = invoke("check", "-q", sample_cli, "--max", "kafka_authentication:*=2/h")
    assert ok.exit_code == 0, ok.stderr
    assert ok.stdout.startswith("OK: no breaches; checked 1 rule against 13 events, 4 days from 2024-05-06")
    bad = invoke("check", "-q", sample_cli, "--max", "kafka_authentication:*=1/h")
    assert bad.exit_code == 1
    assert "sa-q1w2e3" in bad.stdout and "2024-05-06" in bad.stdout
    # a bad rule is a usage error, with one line on stderr
    rule = invoke("check", "-q", sample_cli, "--max", "kafka_authentication:*=1/week")
    assert rule.exit_code == 2 and rule.stdout == ""
    assert rule.stderr.strip().splitlines()[-1].startswith("ccaudit: error: bad rule")
    # no rule, or nothing to check
    assert invoke("check", "-q", sample_cli).exit_code == 2
    assert invoke("check", "--max", "*:*=1/h").exit_code == 2


def test_strict_and_unreadable_inputs(invoke, sample_cli, tmp_path):
    # the sample has 6 malformed lines: --strict makes a clean check fail, and its verdict says
    # so (was: "OK: no breaches" and "ok": true, with exit 1)
    strict = invoke("check", "-q", sample_cli, "--max", "*:*=100/h", "--strict")
    assert strict.exit_code == 1
    assert strict.stdout.startswith("FAIL: no breaches, but the input had 6 malformed entries (--strict); ")
    as_json = invoke("check", "-q", sample_cli, "--max", "*:*=100/h", "--strict", "--format", "json")
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["ok"] is False
    assert json.loads(as_json.stdout)["checked"]["malformed"] == 6  # why, for a CI job reading it
    lenient = invoke("check", "-q", sample_cli, "--max", "*:*=100/h")
    assert lenient.exit_code == 0 and lenient.stdout.startswith("OK: no breaches; ")
    # an unreadable input is an error (2) and nothing is checked: a check without it would look complete
    missing = invoke("check", "-q", sample_cli, tmp_path / "missing.json", "--max", "*:*=0/h")
    assert missing.exit_code == 2
    assert missing.stdout == ""


def test_missing_or_empty_store(invoke, tmp_path):
    # a mistyped --db must not pass as an empty store, nor create one
    missing = invoke("check", "--db", tmp_path / "typo.db", "--max", "*:*=0/h")
    assert missing.exit_code == 2 and "no such store" in missing.stderr
    assert not (tmp_path / "typo.db").exists()
    empty = tmp_path / "empty.db"
    invoke("load", "-q", write_jsonl(tmp_path, [kafka_auth("2024-05-06T07:00:00Z")]), "--db", empty)
    nothing = invoke("check", "--db", empty, "--max", "*:*=0/h", "--since", "2030-01-01")
    assert nothing.exit_code == 0 and "no events to check" in nothing.stderr
    # for CI: what was asked could not be checked (was exit 0 with --strict too)
    assert invoke("check", "--db", empty, "--max", "*:*=0/h", "--since", "2030-01-01", "--strict").exit_code == 1


def test_a_rule_that_matches_no_key_is_said_and_fails_a_strict_check(invoke, sample_cli, tmp_path):
    # was: exit 0 and not a word, for a typo or a principal typed as the records spell it
    db = tmp_path / "a.db"
    assert invoke("load", "-q", sample_cli, "--db", db).exit_code == 0
    rules = ["--max", "kafka_authentication:User:sa-q1w2e3=0/h", "--max", "kafka_authentication:sa-*=5/h"]
    result = invoke("check", "--db", db, *rules, "--format", "json")
    assert result.exit_code == 0
    assert result.stderr == ("ccaudit: warning: rule kafka_authentication:User:sa-q1w2e3=0/h matched no key (keys "
                             "are matched as reports show them: sa-q1w2e3, not User:sa-q1w2e3)\n")
    assert [r["matched_a_key"] for r in json.loads(result.stdout)["rules"]] == [False, True]
    strict = invoke("check", "--db", db, *rules, "--strict")
    assert strict.exit_code == 1 and strict.stdout.startswith("FAIL: no breaches, but 1 rule matched no key (--strict)")
    assert json.loads(invoke("check", "--db", db, *rules, "--strict", "--format", "json").stdout)["ok"] is False
    assert invoke("check", "--db", db, "--max", "kafka_authentication:sa-*=5/h", "--strict").exit_code == 0
    nobody = invoke("check", "--db", db, "--max", "kafka_authentication:nobody=5/h")  # was: the hint of User:sa-1 too
    assert nobody.stderr == "ccaudit: warning: rule kafka_authentication:nobody=5/h matched no key\n"
    group = invoke("check", "--db", db, "--max", "mds_authorize:Group:ops-*=5/h")  # shown so: no hint to drop it
    assert group.stderr == "ccaudit: warning: rule mds_authorize:Group:ops-*=5/h matched no key\n"
    several = invoke("check", "--db", db, *[a for k in "abc" for a in ("--max", f"kafka_authentication:zz-{k}=1/h")])
    assert several.stderr.splitlines() == [f"ccaudit: warning: rule kafka_authentication:zz-{k}=1/h matched no key"
                                           for k in "abc"]  # in the order given (a review found them reversed)


def test_a_rule_copied_from_a_report_matches_the_key_it_shows(invoke, tmp_path):
    # was: "matched no key" for a key with a space at its end, which reports show as trail\x20
    dump = write_jsonl(tmp_path, [kafka_auth("2024-05-06T07:00:00Z", "User:trail "),
                                  kafka_auth("2024-05-06T07:10:00Z", "User:trail ")])
    result = invoke("check", dump, "--max", "kafka_authentication:trail\\x20=1/h", "--format", "json")
    assert result.exit_code == 1 and "matched no key" not in result.stderr
    assert [b["key"] for b in json.loads(result.stdout)["breaches"]] == ["trail "]


def test_rules_files_add_up(invoke, sample_cli, tmp_path):
    # was: the last --rules alone checked (click keeps the last value), and a breach of the first passed
    first, second = tmp_path / "r1.toml", tmp_path / "r2.toml"
    first.write_text('[[rule]]\nsection = "kafka_authentication"\nmax = 1\n', encoding="utf-8")
    second.write_text('[[rule]]\nsection = "signin_success"\nmax = 100\n', encoding="utf-8")
    result = invoke("check", "-q", sample_cli, "--rules", first, "--rules", second, "--format", "json")
    assert result.exit_code == 1
    assert [r["rule"] for r in json.loads(result.stdout)["rules"]] == ["kafka_authentication:*=1/h",
                                                                       "signin_success:*=100/h"]


def test_rules_from_standard_input(invoke, sample_cli):
    # was: "-: cannot read: No such file or directory", exit 2
    result = invoke("check", "-q", sample_cli, "--rules", "-", "--format", "json",
                    input='[[rule]]\nsection = "kafka_authentication"\nmax = 1\n')
    assert result.exit_code == 1
    assert [r["rule"] for r in json.loads(result.stdout)["rules"]] == ["kafka_authentication:*=1/h"]
    bad = invoke("check", "-q", sample_cli, "--rules", "-", input="max = ")
    assert bad.exit_code == 2 and bad.stderr.startswith("ccaudit: error: -: not valid TOML")


@pytest.mark.parametrize("args", [["check", "--db", "a.db", "--db", "b.db", "--max", "*:*=1/h"],
                                  ["report", "{dump}", "--format", "json", "--format", "csv"],
                                  ["diff", "{dump}", "{dump}", "--a-since", "2024-05-06", "--a-since", "2024-05-07"],
                                  ["export", "--db", "a.db", "--out", "x", "--out", "y"]])
def test_an_option_of_one_value_given_twice_is_refused(invoke, sample_cli, args):
    # was: the last one kept without a word (check --db a --db b checked b alone)
    result = invoke(*[a.format(dump=sample_cli) for a in args])
    assert result.exit_code == 2 and "is given 2 times; it takes one value" in result.stderr


def test_check_from_store_with_since(invoke, sample_cli, tmp_path):
    db = tmp_path / "a.db"
    assert invoke("load", "-q", sample_cli, "--db", db).exit_code == 0
    everything = invoke("check", "--db", db, "--max", "all_events:*=1/h", "--format", "json")
    doc = json.loads(everything.stdout)
    # all_events hours over 1: kafka.Authentication 07 (2), mds.Authorize 09 (3), SignIn 05 (3)
    assert [(b["key"], b["day"], b["hour"], b["count"]) for b in doc["breaches"]] == [
        ("kafka.Authentication", "2024-05-06", "07", 2),
        ("mds.Authorize", "2024-05-06", "09", 3),
        ("SignIn", "2024-05-07", "05", 3),
    ]
    later = invoke("check", "--db", db, "--max", "all_events:*=1/h", "--since", "2024-05-07", "--format", "json")
    assert later.exit_code == 1
    assert [b["key"] for b in json.loads(later.stdout)["breaches"]] == ["SignIn"]
    assert invoke("check", "--db", db, "--max", "all_events:*=1/h", "--since", "2024-05-08").exit_code == 0


def test_rules_file_and_max_together(invoke, sample_cli, tmp_path):
    rules = tmp_path / "r.toml"
    rules.write_text('[[rule]]\nsection = "signin_failure"\nmax = 1\nper = "day"\n', encoding="utf-8")
    # sign-in failures on 2024-05-07: one each for two keys -> no breach of 1/d
    assert invoke("check", "-q", sample_cli, "--rules", rules).exit_code == 0
    result = invoke("check", "-q", sample_cli, "--rules", rules, "--max", "signin_failure:bob*=0/d", "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    # --max rules first, then the file's
    assert [r["rule"] for r in doc["rules"]] == ["signin_failure:bob*=0/d", "signin_failure:*=1/d"]
    assert doc["breaches"] == [{"section": "signin_failure", "key": "bob@example.com", "day": "2024-05-07",
                                "hour": None, "count": 1, "limit": 0, "per": "day",
                                "rule": "signin_failure:bob*=0/d"}]
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rule]]\n", encoding="utf-8")
    assert invoke("check", "-q", sample_cli, "--rules", bad).exit_code == 2


def test_per_day_follows_the_time_zone(invoke, tmp_path):
    # One event at the start of every local hour of 2024-10-27 in Zurich: 25 hours (clocks go
    # back), from 2024-10-26T22:00Z to 2024-10-27T22:00Z. In UTC they split 2 + 23 over two days.
    path = write_jsonl(tmp_path, [kafka_auth(f"2024-10-{26 + (22 + i) // 24}T{(22 + i) % 24:02d}:00:00Z")
                                  for i in range(25)])
    zurich = invoke("check", "-q", path, "--max", "kafka_authentication:*=24/d", "--tz", "Europe/Zurich",
                    "--format", "json")
    assert zurich.exit_code == 1
    (b,) = json.loads(zurich.stdout)["breaches"]
    assert (b["day"], b["count"], b["hour"]) == ("2024-10-27", 25, None)
    assert invoke("check", "-q", path, "--max", "kafka_authentication:*=24/d").exit_code == 0
    # per hour, the two hours labelled 02 are separate columns
    hourly = invoke("check", "-q", path, "--max", "kafka_authentication:*=0/h", "--tz", "Europe/Zurich",
                    "--format", "json")
    hours = [b["hour"] for b in json.loads(hourly.stdout)["breaches"]]
    assert len(hours) == 25 and hours[2:4] == ["02+2", "02+1"]


def test_hostile_keys_are_printed_safely(invoke, tmp_path):
    path = write_jsonl(tmp_path, [signin("2024-05-06T10:00:00Z", "evil\x1b]0;pwned\x07\u202e@example.com",
                                         "FAILURE")])
    result = invoke("check", "-q", path, "--max", "signin_failure:*=0/h")
    assert result.exit_code == 1
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout and "\u202e" not in result.stdout
    assert "evil\\x1b]0;pwned\\x07\\u202e@example.com" in result.stdout
    # json keeps the exact key (escaped by JSON itself)
    doc = json.loads(invoke("check", "-q", path, "--max", "signin_failure:*=0/h", "--format", "json").stdout)
    assert doc["breaches"][0]["key"] == "evil\x1b]0;pwned\x07\u202e@example.com"


# -- golden output for the sample ------------------------------------------------------------

# Worked out by hand from the sample's events (conftest.py):
#   kafka_authentication:*=1/h  sa-q1w2e3 has 2 in 2024-05-06 hour 07          -> 1 breach
#   mds_authorize:u-*=1/d       u-8p71o5-AccessMetrics has 2 on 2024-05-06       -> 1 breach
#                               (u-8p71o5-CreateFlink... has 1: not over 1)
#   signin_failure:*=0/h        2024-05-07 hour 05: a.very.long... (401) and bob  -> 2 breaches
#   all_events:SignIn=3/d       SignIn has 4 on 2024-05-07                        -> 1 breach
#   *:GetKafka*=1/h             GetKafkaClusters has 1 on 2024-05-09              -> none
SAMPLE_RULES = ["kafka_authentication:*=1/h", "mds_authorize:u-*=1/d", "signin_failure:*=0/h",
                "all_events:SignIn=3/d", "*:GetKafka*=1/h"]
SAMPLE_BREACHES = [
    ("kafka_authentication", "sa-q1w2e3", "2024-05-06", "07", 2, 1),
    ("mds_authorize", "u-8p71o5-AccessMetrics", "2024-05-06", None, 2, 1),
    ("signin_failure", "a.very.long.email.address.for.testing@example-corporation.com (401)", "2024-05-07", "05", 1, 0),
    ("signin_failure", "bob@example.com", "2024-05-07", "05", 1, 0),
    ("all_events", "SignIn", "2024-05-07", None, 4, 3),
]


def _sample_check(invoke, fmt):
    args = ["check", "-q", "fixtures/sample-cli.txt", "--format", fmt]
    for rule in SAMPLE_RULES:
        args += ["--max", rule]
    result = invoke(*args)
    assert result.exit_code == 1, result.stderr
    return result.stdout


def test_sample_breaches_by_hand(invoke, at_root):
    doc = json.loads(_sample_check(invoke, "json"))
    assert [(b["section"], b["key"], b["day"], b["hour"], b["count"], b["limit"]) for b in doc["breaches"]] \
        == SAMPLE_BREACHES
    assert doc["checked"] == {"events": 13, "days": 4, "first_day": "2024-05-06", "last_day": "2024-05-09",
                              "tz": "UTC", "malformed": 6, "unfinished_loads": []}


def test_golden_text(invoke, at_root, golden):
    golden("check--sample-cli.txt", _sample_check(invoke, "text"))


def test_golden_json(invoke, at_root, golden):
    golden("check--sample-cli.json", _sample_check(invoke, "json"))


def test_days_checked_are_the_span_across_a_gap_of_weeks(invoke, tmp_path):
    # was "2 days": the week-long empty stretch between them is shown as one gap row, not days
    path = write_jsonl(tmp_path, [kafka_auth("2024-05-01T10:00:00Z"), kafka_auth("2024-05-11T10:00:00Z")])
    text = invoke("check", "-q", path, "--max", "kafka_authentication:*=5/h")
    assert text.stdout == "OK: no breaches; checked 1 rule against 2 events, 11 days from 2024-05-01\n"
    doc = json.loads(invoke("check", "-q", path, "--max", "kafka_authentication:*=5/h", "-f", "json").stdout)
    assert doc["checked"] == {"events": 2, "days": 11, "first_day": "2024-05-01", "last_day": "2024-05-11",
                              "tz": "UTC", "malformed": 0, "unfinished_loads": []}


def test_a_rule_given_twice_is_checked_once(invoke, tmp_path):
    # was "2 breaches of 1 rule; checked 2 rules", the one breach listed twice
    path = write_jsonl(tmp_path, [kafka_auth("2024-05-01T10:00:00Z"), kafka_auth("2024-05-01T10:30:00Z")])
    result = invoke("check", "-q", path, "--max", "kafka_authentication:*=1/h",
                    "--max", "kafka_authentication:*=1/hour")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == ("BREACH: 1 breach of 1 rule; checked 1 rule against 2 events, "
                                             "1 day from 2024-05-01")
    result = invoke("check", "-q", path, "--max", "kafka_authentication:*=1/h", "--max", "all_events:*=9/d",
                    "--max", "kafka_authentication:*=1/h", "--format", "json")
    assert [r["rule"] for r in json.loads(result.stdout)["rules"]] == ["kafka_authentication:*=1/h",
                                                                      "all_events:*=9/d"]  # where first given


def test_a_rules_files_key_with_a_space_at_an_end_is_named_as_a_report_shows_it(invoke, tmp_path):
    # was shown as "kafka_authentication:trail =0/d", which pasted into --max matches no key (the
    # space is cut), and checked apart from the same rule typed as trail\x20: two rows of one breach
    path = write_jsonl(tmp_path, [kafka_auth("2024-05-01T10:00:00Z", "User:trail ")])
    rules = tmp_path / "r.toml"
    rules.write_text('[[rule]]\nsection = "kafka_authentication"\nkey = "trail "\nmax = 0\nper = "day"\n')
    result = invoke("check", "-q", path, "--rules", rules, "--max", "kafka_authentication:trail\\x20=0/d",
                    "--format", "json")
    assert result.exit_code == 1
    assert [b["rule"] for b in json.loads(result.stdout)["breaches"]] == ["kafka_authentication:trail\\x20=0/d"]


def test_rules_of_one_text_that_match_different_keys_are_both_checked(invoke, tmp_path):
    # was OK, exit 0, "checked 1 rule": 'trail\x20' also matches the text trail\x20 (a report's
    # escape, typed), which "trail " does not, and was dropped as the same rule given twice
    path = write_jsonl(tmp_path, [kafka_auth("2024-05-06T10:00:00Z", "User:trail "),
                                  kafka_auth("2024-05-06T10:00:01Z", "User:trail\\x20"),
                                  kafka_auth("2024-05-06T10:00:02Z", "User:trail\\x20")])
    rules = tmp_path / "r.toml"
    rules.write_text('[[rule]]\nsection = "kafka_authentication"\nkey = "trail "\nmax = 1\nper = "day"\n'
                     "[[rule]]\nsection = \"kafka_authentication\"\nkey = 'trail\\x20'\nmax = 1\nper = \"day\"\n")
    result = invoke("check", "-q", path, "--rules", rules, "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert [(b["key"], b["count"], b["rule"]) for b in doc["breaches"]] == \
        [("trail\\x20", 2, "kafka_authentication:trail\\x20=1/d")]  # the text, not the space: once
    assert [r["key"] for r in doc["rules"]] == ["trail ", "trail\\x20"]
    assert all(r["matched_a_key"] for r in doc["rules"])
    text = invoke("check", "-q", path, "--rules", rules).stdout
    assert text.startswith("BREACH: 1 breach of 1 rule; checked 1 rule against 3 events"), text  # written alike


def test_rules_of_a_key_with_a_run_of_spaces_written_alike_are_one(invoke, tmp_path):
    # was "2 breaches of 2 rules", one breach twice, and a Rule cell of two spaces in a row:
    # the rule's text escaped a space only at an end, where a table escapes each of a run
    path = write_jsonl(tmp_path, [request("2024-05-06T10:00:00Z", "a  b")])
    rules = tmp_path / "r.toml"
    rules.write_text('[[rule]]\nsection = "all_events"\nkey = "a  b"\nmax = 0\nper = "day"\n')
    result = invoke("check", "-q", path, "--rules", rules, "--max", "all_events:a\\x20\\x20b=0/d")
    assert result.exit_code == 1
    assert result.stdout.startswith("BREACH: 1 breach of 1 rule; checked 1 rule against 1 event"), result.stdout
    assert result.stdout.splitlines()[-1].endswith("  all_events:a\\x20\\x20b=0/d")


@pytest.mark.parametrize("sent", ["pipe", "file"])
def test_rules_and_a_dump_both_from_stdin_are_refused(tmp_path, ccaudit_exe, sent):
    # was "OK", exit 0: the rules took standard input, and the dump (-) was read empty
    import subprocess

    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nsection = "*"\nkey = "*"\nmax = 1\nper = "hour"\n')
    with open(rules, "rb") as f:
        result = subprocess.run([ccaudit_exe, "check", "-", "--rules", "/dev/stdin"], capture_output=True, text=True,
                                **({"input": rules.read_text()} if sent == "pipe" else {"stdin": f}))
    assert result.returncode == 2
    assert "/dev/stdin and stdin (-) are one stream, which can be read only once" in result.stderr
