"""The HTML report: structure and numbers (checked against the hand count of the sample in
conftest.py), escaping of hostile strings, no network fetches, the golden file, and a real
headless Chromium that runs the page's script under its Content Security Policy."""
from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.records import json_lines, kafka_auth, mds_authorize, request, signin, write_jsonl

H24 = [f"{h:02d}" for h in range(24)]


# -- a strict little DOM -----------------------------------------------------------------

class Node:
    def __init__(self, tag: str, attrs: dict):
        self.tag, self.attrs, self.children = tag, attrs, []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def all(self, tag: str | None = None, **attrs) -> list[Node]:
        """Descendants with this tag whose attributes contain these values (class: one of its classes)."""
        found = []
        for c in self.children:
            if isinstance(c, Node):
                if (tag is None or c.tag == tag) and all(_has(c, k, v) for k, v in attrs.items()):
                    found.append(c)
                found += c.all(tag, **attrs)
        return found

    def one(self, tag: str | None = None, **attrs) -> Node:
        (found,) = self.all(tag, **attrs)
        return found


def _has(node: Node, name: str, value) -> bool:
    name = name.rstrip("_").replace("_", "-")
    if name == "class":
        return value in (node.attrs.get("class") or "").split()
    return node.attrs.get(name) == value


class Tree(HTMLParser):
    """Builds Nodes and fails on any tag closed out of order: the page must be well-formed."""

    VOID = {"meta", "br", "img", "input", "link", "hr", "wbr", "source", "area", "base", "col", "embed"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]
        self.tags: list[tuple[str, dict]] = []
        self.doctype = None

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs))
        self.tags.append((tag, node.attrs))
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        raise AssertionError(f"self-closing <{tag}/> in HTML")

    def handle_endtag(self, tag):
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse(page: str) -> Tree:
    tree = Tree()
    tree.feed(page)
    tree.close()
    assert tree.stack == [tree.root], "unclosed: " + ", ".join(n.tag for n in tree.stack[1:])
    assert tree.doctype == "DOCTYPE html"
    return tree


ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "div",
                "section", "table", "thead", "tbody", "tr", "th", "td", "small", "span", "i", "a", "nav",
                "details", "summary", "ol", "li", "code", "footer", "script"}


def assert_safe(page: str) -> Tree:
    """Well-formed, only our tags, one script (ours), no event handlers, nothing fetched."""
    tree = parse(page)
    assert {t for t, _ in tree.tags} <= ALLOWED_TAGS
    assert [t for t, _ in tree.tags].count("script") == 1
    for tag, attrs in tree.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name not in ("src", "srcset", "action", "formaction", "data", "poster", "background"), (tag, name)
            if name == "href":
                assert value.startswith("#"), value
        if tag == "script":
            assert not attrs
    assert "<link" not in page and "@import" not in page and "url(" not in page
    for name in ("style", "script"):
        assert not re.search(r"https?://", tree.root.one(name).text())
    return tree


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# -- making reports ----------------------------------------------------------------------

def html_of(invoke, *args, tmp_path) -> str:
    out = tmp_path / "report.html"
    result = invoke("report", "-q", *args, "--format", "html", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    return out.read_text(encoding="utf-8")


@pytest.fixture
def sample_html(invoke, tmp_path, at_root) -> str:
    return html_of(invoke, "fixtures/sample-cli.txt", tmp_path=tmp_path)


def section_rows(tree: Tree, date: str, section: str) -> dict[str, Node]:
    day = tree.root.one("section", id=f"day-{date}")
    sec = day.one("section", data_section=section)
    return {tr.one("th").text(): tr for tr in sec.all("tr") if tr.all("th", scope="row")}


# -- the sample ---------------------------------------------------------------------------

def test_golden_sample(sample_html, golden):
    golden("report--sample-cli.html", sample_html)


def test_sample_is_safe_and_self_contained(sample_html):
    tree = assert_safe(sample_html)
    assert not re.search(r"https?://", sample_html)
    assert 'src=' not in sample_html
    csp = tree.root.one("meta", http_equiv="Content-Security-Policy").attrs["content"]
    assert "default-src 'none'" in csp
    assert _csp_hash(tree.root.one("script").text()) in csp
    assert _csp_hash(tree.root.one("style").text()) in csp
    assert "unsafe-inline" not in csp


def test_load_summary(sample_html):
    tree = parse(sample_html)
    load = tree.root.one("section", id="load")
    table = {tr.one("th").text(): tr.one("td").text() for tr in load.all("tr")}
    # conftest.py: 14 records, 13 new, 1 duplicate, 16 noise lines, 6 malformed (lines 31-36)
    assert table == {"Records read": "14", "Inserted (new)": "13", "Duplicates": "1",
                     "Noise lines skipped": "16", "Malformed": "6"}
    reasons = ["not a JSON object", "no data.methodName", "unparseable time", "text after the JSON object",
               "not valid JSON", "JSON cut short"]  # the load line's, each with its place (was the place alone)
    assert [li.text() for li in load.all("li")] == [f"fixtures/sample-cli.txt:{31 + i}: {why}"
                                                    for i, why in enumerate(reasons)]


def test_load_summary_counts_have_the_load_lines_separators(tmp_path, invoke):
    # was "1234" in the page where the load line said 1,234
    from tests.records import kafka_auth, write_jsonl

    dump = write_jsonl(tmp_path, [kafka_auth("2024-05-06T10:00:00Z", id=f"e{i}") for i in range(1234)])
    page = invoke("report", dump, "--format", "html", "-q").stdout
    load = parse(page).root.one("section", id="load")
    assert {tr.one("th").text(): tr.one("td").text() for tr in load.all("tr")}["Records read"] == "1,234"


def test_load_summary_names_an_input_read_in_part_past_the_first_malformed_places(tmp_path, invoke):
    # was: only the first 100 malformed places, so a cut input after them went unsaid, where
    # stderr and JSON's inputs_cut_short say it
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"garbage\n" * 150 + json_lines([kafka_auth("2024-05-06T10:00:00Z", id="b1")]))
    cut = tmp_path / "cut.jsonl.gz"
    packed = gzip.compress(json_lines(kafka_auth("2024-05-06T11:00:00Z", id=f"c{i}") for i in range(2000)))
    cut.write_bytes(packed[:len(packed) // 2])
    load = parse(html_of(invoke, bad, cut, tmp_path=tmp_path)).root.one("section", id="load")
    summaries = [s.text() for s in load.all("summary")]
    assert summaries == ["Malformed input (the first 100 listed)", "Inputs read in part (all listed)"]
    assert [li.text() for li in load.all("li")][100:] == [
        f"{cut}@end: input ends early (the compressed stream ends before its end marker)"]


def test_coverage(sample_html):
    tree = parse(sample_html)
    rows = tree.root.one("section", id="coverage").one("tbody").all("tr")
    got = [[td.text() for td in tr.all("td")] for tr in rows]
    for row in got:
        del row[4]  # the strip of hour boxes, checked below
    assert got == [
        ["2024-05-06", "7", "07:08:09", "23:59:59", "00-06, 10-22"],
        ["2024-05-07", "5", "00:00:00", "05:50:00", "01-04, 06-23"],
        ["2024-05-08", "0", "", "", "all"],
        ["2024-05-09", "1", "12:00:00", "12:00:00", "00-11, 13-23"],
    ]
    busy = [[i.attrs["title"] for i in tr.all("i", class_="y")] for tr in rows]
    assert busy == [["07", "08", "09", "23"], ["00", "05"], [], ["12"]]
    assert all(len(tr.all("i")) == 24 for tr in rows)


def test_day_picker(sample_html):
    tree = parse(sample_html)
    nav = tree.root.one("nav", id="days")
    assert [a.attrs["href"] for a in nav.all("a")] == [
        "#day-2024-05-06", "#day-2024-05-07", "#day-2024-05-08", "#day-2024-05-09", "#all"]
    assert [d.attrs["id"] for d in tree.root.all("section", class_="day")] == [
        "day-2024-05-06", "day-2024-05-07", "day-2024-05-08", "day-2024-05-09"]
    # without a script, no day is hidden
    assert not any("hidden" in d.attrs for d in tree.root.all("section", class_="day"))


def test_cells_match_the_hand_count(sample_html, expected_sample, section_ids):
    tree = parse(sample_html)
    for date, sections in expected_sample["cells"].items():
        day = tree.root.one("section", id=f"day-{date}")
        for sid in section_ids:
            sec = day.one("section", data_section=sid)
            want = sections.get(sid, {})
            if not want:
                assert sec.one("p", class_="none").text() == "(no events)"
                assert not sec.all("table")
                continue
            head = [th.text() for th in sec.one("thead").all("th")]
            assert head[1:] == H24 + ["Total"]
            rows = section_rows(tree, date, sid)
            assert list(rows) == sorted(want)  # initially sorted by key
            for key, hours in want.items():
                tds = rows[key].all("td")
                assert [int(td.text() or 0) for td in tds[:-1]] == hours
                assert int(tds[-1].text()) == sum(hours)
                for label, td, n in zip(H24, tds, hours):
                    if n:
                        assert td.attrs["title"] == f"hour {label}: {n}"
                    else:
                        assert td.text() == "" and not td.attrs


def test_shades(sample_html):
    tree = parse(sample_html)

    def level(date, sid, key, hour):
        td = section_rows(tree, date, sid)[key].all("td")[H24.index(hour)]
        (cls,) = td.attrs["class"].split()
        return int(cls[1:])

    # kafka_authentication's busiest hour over all days is 2: 2 is the darkest, 1 the lightest
    assert level("2024-05-06", "kafka_authentication", "sa-q1w2e3", "07") == 9
    assert level("2024-05-06", "kafka_authentication", "None:UNKNOWN_USER (UNAUTHENTICATED)", "08") == 1
    # all_events' busiest hour is 3 (mds.Authorize 09, SignIn 05): 3 darkest, 2 between, 1 lightest
    assert level("2024-05-06", "all_events", "mds.Authorize", "09") == 9
    assert level("2024-05-07", "all_events", "SignIn", "05") == 9
    assert 1 < level("2024-05-06", "all_events", "kafka.Authentication", "07") < 9
    assert level("2024-05-09", "all_events", "GetKafkaClusters", "12") == 1


def test_row_titles_carry_the_statistics(sample_html):
    tree = parse(sample_html)
    th = section_rows(tree, "2024-05-06", "mds_authorize")["u-8p71o5-AccessMetrics"].one("th")
    assert th.attrs["title"].split("\n") == ["u-8p71o5-AccessMetrics", "first seen 2024-05-06T09:10:11.222000Z",
                                             "last seen 2024-05-06T09:40:00.500000Z", "peak hour 09: 2"]


def test_stats_columns(invoke, tmp_path, sample_cli):
    tree = parse(html_of(invoke, sample_cli, "--stats", tmp_path=tmp_path))
    sec = tree.root.one("section", id="day-2024-05-06").one("section", data_section="kafka_authentication")
    assert [th.text() for th in sec.one("thead").all("th")][-5:] == [
        "Total", "First seen", "Last seen", "Peak hour", "Peak count"]
    row = section_rows(tree, "2024-05-06", "kafka_authentication")["sa-q1w2e3"]
    assert [td.text() for td in row.all("td")][-4:] == ["2024-05-06T07:08:09.123000Z", "2024-05-06T07:59:59Z",
                                                        "07", "2"]


def test_out_dir(invoke, tmp_path, sample_cli):
    out = tmp_path / "rep"
    result = invoke("report", "-q", sample_cli, "--format", "html", "--out", out)
    assert result.exit_code == 0
    assert sorted(os.listdir(out)) == [".ccaudit-manifest", "report.html", "summary.txt"]
    assert result.stdout.startswith("Audit Summary for 13 events spanning 4 days from 2024-05-06")
    assert_safe((out / "report.html").read_text(encoding="utf-8"))


# -- other shapes of report -----------------------------------------------------------------

def test_dst_day_has_25_columns(invoke, tmp_path):
    path = write_jsonl(tmp_path, [kafka_auth("2024-10-27T00:30:00Z"), kafka_auth("2024-10-27T01:30:00Z")])
    page = html_of(invoke, path, "--tz", "Europe/Zurich", tmp_path=tmp_path)
    tree = assert_safe(page)
    sec = tree.root.one("section", id="day-2024-10-27").one("section", data_section="kafka_authentication")
    head = [th.text() for th in sec.one("thead").all("th")]
    assert head[1:-1] == ["00", "01", "02+2", "02+1"] + H24[3:]
    row = section_rows(tree, "2024-10-27", "kafka_authentication")["sa-1"]
    assert [td.text() for td in row.all("td")][:5] == ["", "", "1", "1", ""]
    assert "days and hours in Europe/Zurich" in page
    assert "have 23 or 25 hour columns (22 to 26 where they change by half an hour or two hours, or twice);" in page
    cov = tree.root.one("section", id="coverage").one("tbody").one("tr")
    assert len(cov.all("i")) == 25


def test_no_events(invoke, tmp_path, sample_cli):
    page = html_of(invoke, sample_cli, "--since", "2030-01-01", tmp_path=tmp_path)
    tree = assert_safe(page)
    assert "No events." in page
    assert not tree.root.all("section", class_="day")


def test_top_keeps_the_sections_totals_and_says_what_it_cut(invoke, tmp_path):
    # sa-a 3 events, sa-b 2, sa-c 1: --top 1 shows sa-a, under the section's own 3 keys and 6 events
    path = write_jsonl(tmp_path, [kafka_auth(f"2024-05-06T0{h}:00:00Z", f"User:{who}")
                                  for who, n in (("sa-a", 3), ("sa-b", 2), ("sa-c", 1)) for h in range(n)])
    tree = Tree()
    tree.feed(html_of(invoke, path, "--top", "1", "--since", "2024-05-06T00:00:00Z", "--principal", "sa-*",
                      tmp_path=tmp_path))
    sec = tree.root.one("section", id="day-2024-05-06").one("section", data_section="kafka_authentication")
    assert sec.one("h3").one("small").text() == "3 keys, 6 events"
    assert list(section_rows(tree, "2024-05-06", "kafka_authentication")) == ["sa-a"]
    assert sec.one("p", class_="muted").text() == "The 1 busiest of 3 keys (--top 1)."
    assert tree.root.one("header").all("p")[1].text() == \
        "Selected: principal sa-*; from 2024-05-06T00:00:00Z; the 1 busiest key of each section and day."


def test_an_unfiltered_page_says_nothing_was_selected(sample_html):
    assert "Selected:" not in sample_html


def test_report_from_a_store_has_no_load_section_numbers(invoke, tmp_path, sample_cli):
    db = tmp_path / "s.db"
    invoke("load", "-q", sample_cli, "--db", db)
    page = html_of(invoke, "--db", db, tmp_path=tmp_path)
    assert "nothing was loaded in this run" in assert_safe(page).root.one("section", id="load").text()


# -- hostile strings -------------------------------------------------------------------------

PAYLOADS = {
    "script": "<script>alert(1)</script>",
    "attr": '"onmouseover="alert(2)" x="',
    "close": "</td></tr></table><img src=x onerror=alert(3)>",
    "quote": "'><svg onload=alert(4)>",
    "entity": "a&lt;b&amp;c&#60;",
    "comment": "<!-- x --><style>body{display:none}</style>",
    "cdata": "]]><![CDATA[<b>",
}


def test_hostile_strings_are_escaped(invoke, tmp_path):
    p = PAYLOADS
    bad_name = tmp_path / 'evil<b>"\'.jsonl'
    bad_name.write_text(json.dumps(kafka_auth("2024-05-06T12:00:00Z")) + "\n{not json <script>alert(5)</script>\n",
                        encoding="utf-8")
    path = write_jsonl(tmp_path, [
        kafka_auth("2024-05-06T07:00:00Z", "User:" + p["script"]),
        kafka_auth("2024-05-06T07:01:00Z", "User:" + p["entity"]),
        signin("2024-05-06T08:00:00Z", p["attr"] + "@example.com", "FAILURE"),
        signin("2024-05-06T08:01:00Z", p["comment"], "SUCCESS"),
        request("2024-05-06T09:00:00Z", p["close"]),
        request("2024-05-06T09:01:00Z", p["cdata"]),
        mds_authorize("2024-05-06T10:00:00Z", "User:u-1", p["quote"]),
        kafka_auth("2024-05-06T11:00:00Z", "User:ctl\x1b[31m\u202eevil\x07"),
    ])
    page = html_of(invoke, path, bad_name, tmp_path=tmp_path)
    for raw in [*PAYLOADS.values(), "<b>", "alert(5)</script>"]:
        assert raw not in page, raw
    tree = assert_safe(page)
    # every payload is shown as the text it is
    keys = {th.text() for th in tree.root.all("th", scope="row")}
    assert {p["script"], p["entity"], p["attr"] + "@example.com", p["comment"], p["close"], p["cdata"],
            "u-1-" + p["quote"]} <= keys
    # control and bidi characters are shown as escapes, never raw
    assert "ctl\\x1b[31m\\u202eevil\\x07" in keys
    assert "\x1b" not in page and "\u202e" not in page and "\x07" not in page
    # the hostile file name in the malformed list is text too
    assert [li.text() for li in tree.root.one("section", id="load").all("li")] == [f"{bad_name}:2: not valid JSON"]
    # the row statistics title holds the key as text
    titles = [th.attrs["title"].split("\n")[0] for th in tree.root.all("th", scope="row")]
    assert p["attr"] + "@example.com" in titles


def test_a_programs_row_has_its_statistics_escaped():
    # A stored row's times and hour labels need no escaping and are written as they are;
    # a Row that a program builds may hold any text in them.
    from ccaudit.html import render_html
    from ccaudit.report import Day, Report, Row, Section

    row = Row("k", [1] + [0] * 23, 1, '<img src=x onerror="alert(1)">', "a&b", "'00'\x1b", "<2>")  # type: ignore[arg-type]
    page = render_html(Report([Day("2024-05-06", 1, H24, {"all_events": Section("all_events", "All", [row])})]),
                       stats=True)
    assert "<img" not in page and "<2>" not in page and "\x1b" not in page
    tr = section_rows(assert_safe(page), "2024-05-06", "all_events")["k"]
    assert tr.one("th").attrs["title"].split("\n") == [
        "k", 'first seen <img src=x onerror="alert(1)">', "last seen a&b", "peak hour '00'\\x1b: <2>"]
    assert [td.text() for td in tr.all("td")][-4:] == ['<img src=x onerror="alert(1)">', "a&b", "'00'\\x1b", "<2>"]


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.integers()))
def test_text_is_escaped_as_html_escape_escapes_it(value):
    # The page's escaping, written inline for speed, is html.escape's (quotes too) of the
    # printable text.
    from html import escape

    from ccaudit.html import _e
    from ccaudit.text import printable

    assert _e(value) == escape(printable(str(value)), quote=True)


# -- a real browser -----------------------------------------------------------------------------

def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("Chromium is not installed (apt-get install chromium)")


def chromium(page: Path, tmp_path: Path, *args: str, fragment: str = "") -> subprocess.CompletedProcess:
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
           *args, page.as_uri() + fragment]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_renders_in_chromium(sample_html, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(sample_html, encoding="utf-8")
    result = chromium(page, tmp_path, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Content Security Policy" not in result.stderr, "the page's own script or style was refused"
    tree = Tree()
    tree.feed(result.stdout)  # the DOM as Chromium built it (lenient: no well-formedness check)
    root = tree.root
    # the script ran: it marks the body, and shows the first day with events, hiding the others
    assert "js" in root.one("body").attrs.get("class", "").split()
    days = {d.attrs["id"]: "hidden" in d.attrs for d in root.all("section", class_="day")}
    assert days == {"day-2024-05-06": False, "day-2024-05-07": True, "day-2024-05-08": True, "day-2024-05-09": True}
    assert root.one("nav").one("a", class_="on").attrs["href"] == "#day-2024-05-06"
    # every table and cell is there: 3 + 3 + 0 + 1 sections with rows
    tables = root.all("table", class_="heat")
    assert len(tables) == 7
    assert sum(len(t.one("tbody").all("tr")) for t in tables) == 2 + 3 + 2 + 2 + 2 + 2 + 1
    assert [td.text() for td in root.all("td", title="hour 07: 2")] == ["2", "2"]  # sa-q1w2e3, kafka.Authentication


def test_sorting_in_chromium(sample_html, tmp_path):
    # The page plus a test script (allowed by adding its hash to the policy) that clicks the
    # Total header of 2024-05-06's all_events table twice, noting the order after each click.
    probe = """
(function () {
  var sec = document.querySelector('#day-2024-05-06 section[data-section="all_events"]');
  var total = Array.prototype.filter.call(sec.querySelectorAll("thead th"), function (th) {
    return th.textContent === "Total"; })[0];
  function order() { return Array.prototype.map.call(sec.querySelectorAll("tbody th"), function (th) {
    return th.textContent; }).join(","); }
  var seen = [order()];
  total.click(); seen.push(order() + "/" + total.getAttribute("aria-sort"));
  total.click(); seen.push(order() + "/" + total.getAttribute("aria-sort"));
  var key = sec.querySelector("thead th"); key.click(); key.click();
  seen.push(order() + "/" + key.getAttribute("aria-sort"));
  var out = document.createElement("pre"); out.id = "probe"; out.textContent = seen.join("|");
  document.body.appendChild(out);
}());
""".strip()
    csp = re.search(r"script-src ('sha256-[^']+')", sample_html).group(1)
    page_text = sample_html.replace(csp, f"{csp} {_csp_hash(probe)}", 1).replace(
        "</body>", f"<script>{probe}</script>\n</body>", 1)
    page = tmp_path / "probe.html"
    page.write_text(page_text, encoding="utf-8")
    result = chromium(page, tmp_path, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'<pre id="probe">([^<]*)</pre>', result.stdout)
    assert found, result.stderr[-2000:]
    # all_events on 2024-05-06: kafka.Authentication 3, mds.Authorize 4
    assert found.group(1).split("|") == [
        "kafka.Authentication,mds.Authorize",
        "mds.Authorize,kafka.Authentication/descending",
        "kafka.Authentication,mds.Authorize/ascending",
        "mds.Authorize,kafka.Authentication/descending",
    ]


def test_screenshot_in_chromium(sample_html, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(sample_html, encoding="utf-8")
    shot = tmp_path / "shot.png"
    result = chromium(page, tmp_path, "--hide-scrollbars", "--window-size=1400,900", f"--screenshot={shot}")
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1400, 900)
    assert len(data) > 20_000  # a blank page compresses to a few kB


def test_no_network_in_chromium(tmp_path, invoke):
    """A hostile report opened in Chromium fetches nothing and runs no injected script."""
    path = write_jsonl(tmp_path, [
        kafka_auth("2024-05-06T07:00:00Z", "User:<img src=http://127.0.0.1:9/x onerror=alert(1)>"),
        request("2024-05-06T08:00:00Z", "<script>document.title='pwned'</script>")])
    page = tmp_path / "hostile.html"
    page.write_text(html_of(invoke, path, tmp_path=tmp_path), encoding="utf-8")
    result = chromium(page, tmp_path, "--dump-dom")
    assert result.returncode == 0
    tree = Tree()
    tree.feed(result.stdout)
    assert "pwned" not in tree.root.one("title").text()
    assert not tree.root.all("img")
    assert [t for t, _ in tree.tags].count("script") == 1
