"""`ccaudit methods`: the catalogue, the rule of thumb for unknown methods, and the command."""
from __future__ import annotations

import csv
import io
import json

import pytest

from ccaudit.methods import CATALOGUE, FAMILIES, family, meaning
from tests.records import request, write_jsonl


@pytest.mark.parametrize("method, fam", [
    # from the catalogue
    ("kafka.Authentication", "authentication"),
    ("schema-registry.Authentication", "authentication"),
    ("ksql.Authenticate", "authentication"),
    ("flink.Authenticate", "authentication"),
    ("mds.Authorize", "authorization"),
    ("ip-filter.Authorize", "authorization"),
    ("flink.Authorize", "authorization"),
    ("SignIn", "sign-in"),
    ("CreateAPIKey", "management"),
    ("DeleteServiceAccount", "management"),
    ("BindRoleForPrincipal", "management"),
    ("kafka.CreateTopics", "management"),
    ("GetKafkaClusters", "read-only"),
    ("ListComputePools", "read-only"),
    ("schema-registry.GetAllTagDefs", "read-only"),
    ("LookUpSchemaUnderSubject", "read-only"),
    ("schema-registry.RegisterSchema", "management"),
    ("confluent.privileged.access", "management"),
    # not in the catalogue: the rule of thumb on the name
    ("something.Authentication", "authentication"),
    ("newservice.Authenticate", "authentication"),
    ("newservice.Authorize", "authorization"),
    ("GetSomethingNew", "read-only"),
    ("ListWidgets", "read-only"),
    ("DescribeWidget", "read-only"),
    ("SearchWidgets", "read-only"),
    ("LookupWidget", "read-only"),
    ("LoadWidget", "read-only"),
    ("schema-registry.GetSubjectVersions", "read-only"),
    ("kafka.ListOffsets", "read-only"),
    ("kafka.DescribeTopicPartitions", "read-only"),
    ("schema-registry.UpdateSomething", "management"),
    ("CreateWidget", "management"),
    ("flink.GetThing", "management"),  # only schema-registry. and kafka. prefixes are stripped
    ("", "management"),
])
def test_family(method, fam):
    assert family(method) == fam


def test_meanings():
    assert meaning("SignIn").startswith("a user signed in")
    assert meaning("kafka.Authentication").startswith("a client authenticated")
    assert meaning("mds.Authorize").startswith("RBAC authorization check")
    assert meaning("NotAMethod") == ""
    assert all(fam in FAMILIES and text and "\n" not in text for fam, text in CATALOGUE.values())


# -- the command ----------------------------------------------------------------------------

# The sample's methods, counted by hand (conftest.py): SignIn 4, mds.Authorize 4,
# kafka.Authentication 3, CreateAPIKey 1, GetKafkaClusters 1. Ties by name: 'S' < 'm'.
SAMPLE = [("SignIn", 4, "sign-in"), ("mds.Authorize", 4, "authorization"),
          ("kafka.Authentication", 3, "authentication"), ("CreateAPIKey", 1, "management"),
          ("GetKafkaClusters", 1, "read-only")]


def test_methods_json(invoke, sample_cli):
    result = invoke("methods", "-q", sample_cli, "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert [(m["method"], m["count"], m["family"]) for m in doc["methods"]] == SAMPLE
    assert doc["total"] == 13
    assert all(m["known"] and m["meaning"] for m in doc["methods"])


def test_methods_text_and_csv(invoke, sample_cli, tmp_path):
    db = tmp_path / "s.db"
    invoke("load", "-q", sample_cli, "--db", db)
    text = invoke("methods", "--db", db).stdout.splitlines()
    assert text[0].split() == ["Method", "Count", "Family", "Meaning"]
    assert [line.split()[:3] for line in text[2:7]] == [[m, str(n), f] for m, n, f in SAMPLE]
    assert text[2].endswith("a user signed in (or failed to) to Confluent Cloud, Console or CLI")
    assert text[-1] == "5 methods, 13 events"
    rows = list(csv.reader(io.StringIO(invoke("methods", "--db", db, "--format", "csv").stdout)))
    assert rows[0] == ["method", "count", "family", "meaning"]
    assert [(r[0], int(r[1]), r[2]) for r in rows[1:]] == SAMPLE


def test_unknown_and_hostile_methods(invoke, tmp_path):
    path = write_jsonl(tmp_path, [
        request("2024-05-06T10:00:00Z", "GetBrandNewThing"),
        request("2024-05-06T10:01:00Z", "GetBrandNewThing"),
        request("2024-05-06T10:02:00Z", "Evil\x1b[2J\u202eMethod"),
    ])
    doc = json.loads(invoke("methods", "-q", path, "--format", "json").stdout)
    assert doc["methods"] == [
        {"method": "GetBrandNewThing", "count": 2, "family": "read-only", "meaning": None, "known": False},
        {"method": "Evil\x1b[2J\u202eMethod", "count": 1, "family": "management", "meaning": None, "known": False},
    ]
    text = invoke("methods", "-q", path).stdout
    assert "\x1b" not in text and "\u202e" not in text
    assert "Evil\\x1b[2J\\u202eMethod" in text and "(not in the catalogue)" in text


def test_a_method_wider_than_its_column_has_a_line_of_its_own_above_its_row(invoke, tmp_path):
    # its row's counts were pushed 20 columns to the right of the others', in methods, check and diff
    long = "Get" + "a" * 117
    path = write_jsonl(tmp_path, [request("2024-05-06T10:00:00Z", long), request("2024-05-06T10:01:00Z")])
    commands = ((["methods"], "1"), (["check", "--max", "all_events:*=0/h"], "10"), (["diff", "/dev/null"], "0"))
    for args, count in commands:
        lines = invoke(*args, "-q", path).stdout.splitlines()
        below = lines[lines.index(long) + 1]  # the long name alone, then its row without it
        short = next(line for line in lines if "GetUsers" in line)
        assert below.index(f" {count} ") == short.index(f" {count} ") > 100, (args, lines)  # in line with the others


def test_methods_usage(invoke, tmp_path):
    assert invoke("methods").exit_code == 2
    assert invoke("methods", "-q", tmp_path / "missing.json").exit_code == 2
    assert invoke("methods", "--db", tmp_path / "typo.db").exit_code == 2
    assert not (tmp_path / "typo.db").exists()
    empty_db = tmp_path / "e.db"
    invoke("load", "-q", write_jsonl(tmp_path, [request("2024-05-06T10:00:00Z", "X")]), "--db", empty_db)
    assert invoke("methods", "--db", empty_db, "--format", "json").exit_code == 0
