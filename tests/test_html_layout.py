"""The HTML page's layout in a real headless Chromium: a picker of many days, a day
picked, a section of 200 rows, a narrow window, the header from the keyboard. A probe
script (allowed by adding its hash to the page's policy) measures the page as Chromium
laid it out and writes what it found into the page, which Chromium then dumps."""
from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest

from tests.records import kafka_auth, write_jsonl
from tests.test_html import _csp_hash, chromium, html_of

LONG_KEY = "User:" + "sa-" * 100  # 305 characters, wider than a narrow window

PROBE = """
(function () {
  function box(el) { return el.getBoundingClientRect(); }
  var nav = document.getElementById("days"), day = document.getElementById(location.hash.slice(1));
  var out = {view: window.innerHeight, width: window.innerWidth, nav: box(nav).height,
             navBottom: box(nav).bottom, heading: box(day.querySelector("h2")).top,
             gapsShown: Array.prototype.filter.call(document.querySelectorAll("p.gap"),
                                                    function (g) { return !g.hidden; }).length};
  var scroll = day.querySelector('section[data-section="kafka_authentication"] .scroll');
  out.box = box(scroll).height;
  scroll.scrollTop = 1500;
  out.scrolled = scroll.scrollTop;
  out.header = box(scroll.querySelector("thead th")).top - box(scroll).top;
  out.key = box(scroll.querySelector("tbody th")).width;
  var total = Array.prototype.filter.call(scroll.querySelectorAll("thead th"),
                                          function (th) { return th.textContent === "Total"; })[0];
  total.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter", bubbles: true}));
  out.sorted = total.getAttribute("aria-sort");
  out.focusable = total.tabIndex;
  var pre = document.createElement("pre"); pre.id = "probe"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}());
""".strip()


@pytest.fixture(scope="module")
def many_days(tmp_path_factory) -> str:
    """60 days with an event each, a gap of 20 empty days, and a last day whose Kafka
    Authentication section has 250 keys (the page shows the 200 busiest)."""
    tmp = tmp_path_factory.mktemp("many-days")
    first = date(2024, 1, 1)
    records = [kafka_auth(f"{first + timedelta(days=d)}T10:00:00Z", "User:sa-daily") for d in range(60)]
    last = first + timedelta(days=80)
    records += [kafka_auth(f"{last}T{k % 24:02d}:00:00Z", f"User:sa-{k:03d}") for k in range(250)]
    records += [kafka_auth(f"{last}T12:00:00Z", LONG_KEY) for _ in range(2)]  # among the 200 shown
    return write_jsonl(tmp, records)


def measured(invoke, dump: str, tmp_path, size: str) -> dict:
    """The probe's findings for the page of ``dump`` opened at its last day, at window ``size``."""
    page_text = html_of(invoke, dump, tmp_path=tmp_path)
    csp = re.search(r"script-src ('sha256-[^']+')", page_text).group(1)
    page_text = page_text.replace(csp, f"{csp} {_csp_hash(PROBE)}", 1).replace(
        "</body>", f"<script>{PROBE}</script>\n</body>", 1)
    page = tmp_path / "probe.html"
    page.write_text(page_text, encoding="utf-8")
    result = chromium(page, tmp_path, "--dump-dom", f"--window-size={size}", fragment="#day-2024-03-21")
    found = re.search(r'<pre id="probe">([^<]*)</pre>', result.stdout)
    assert found, result.stderr[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"'))


def test_a_picked_day_shows_below_a_picker_of_many_days(invoke, many_days, tmp_path):
    m = measured(invoke, many_days, tmp_path, "1000,700")
    assert m["nav"] <= 0.25 * m["view"] + 1  # 61 days' links scroll inside the picker
    assert m["heading"] >= m["navBottom"] - 1  # the day's heading is not under the picker
    assert m["gapsShown"] == 0  # "no events from ... to ..." belongs to no picked day


def test_a_long_section_scrolls_in_its_box_under_its_header(invoke, many_days, tmp_path):
    m = measured(invoke, many_days, tmp_path, "1000,700")
    assert m["box"] <= m["view"] - m["nav"]
    assert m["scrolled"] > 0
    assert abs(m["header"]) <= 1  # the hour labels stay at the top of the box
    assert m["sorted"] == "descending" and m["focusable"] == 0  # Enter on a header sorts by it


def test_a_narrow_window_shows_counts_beside_a_long_key(invoke, many_days, tmp_path):
    m = measured(invoke, many_days, tmp_path, "500,800")
    assert m["width"] == 500
    assert m["key"] <= 0.45 * m["width"]
