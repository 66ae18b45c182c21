"""The html page's style and script, inline, and the Content Security Policy that allows
exactly these two (by their hashes) and nothing else: a page read later, from anyone's
dump, loads nothing and runs nothing but this."""
from __future__ import annotations

import base64
import hashlib

CSS = """
:root{--ink:#1d2330;--muted:#5b6475;--line:#d9dde5;--bg:#fff;--panel:#f5f7fa;--heat:193,39,45}
*{box-sizing:border-box}
body{margin:0;padding:16px 24px 48px;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:24px 0 8px}h3{font-size:15px;margin:18px 0 6px}
.panel h2{margin:2px 0 6px}
small,.muted{color:var(--muted);font-weight:normal}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.panels{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.panel{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:8px 12px;max-width:100%;overflow-x:auto}
table{border-collapse:collapse}
.kv th{text-align:left;font-weight:normal;color:var(--muted);padding:1px 12px 1px 0}
.kv td{text-align:right;font-variant-numeric:tabular-nums}
.kv tr.bad td{color:#b00020;font-weight:600}
.malformed{max-height:10em;overflow:auto;margin:4px 0 0;padding-left:2.5em}
.coverage th,.coverage td{padding:2px 8px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
.coverage td.n{text-align:right;font-variant-numeric:tabular-nums}
.strip{display:inline-flex;gap:1px;vertical-align:middle}
.strip i{display:inline-block;width:7px;height:14px;background:#e6e8ec}
.strip i.y{background:rgb(var(--heat))}
nav#days{position:sticky;top:0;z-index:3;background:var(--bg);padding:8px 0;border-bottom:1px solid var(--line);display:flex;flex-wrap:wrap;gap:4px;max-height:min(25vh,9em);overflow-y:auto}
section.day{scroll-margin-top:var(--nav,56px)}
nav#days a{padding:2px 8px;border:1px solid var(--line);border-radius:12px;text-decoration:none;color:var(--ink);font-variant-numeric:tabular-nums}
nav#days a.on{background:var(--ink);border-color:var(--ink)}
nav#days a.empty{color:var(--muted)}
nav#days a.on,nav#days a.on small{color:#fff}
.scroll{overflow:auto;max-width:100%;max-height:calc(100vh - var(--nav,56px) - 8px);border:1px solid var(--line);border-radius:4px}
table.heat{font-variant-numeric:tabular-nums;font-size:12px}
table.heat th,table.heat td{border:1px solid #eceef2;padding:2px 4px;text-align:right;min-width:2.6em;white-space:nowrap}
table.heat thead th{position:sticky;top:0;background:var(--panel);cursor:pointer;user-select:none;z-index:1}
table.heat thead th[aria-sort=ascending]::after{content:" \\25B2"}
table.heat thead th[aria-sort=descending]::after{content:" \\25BC"}
table.heat .k{text-align:left;position:sticky;left:0;background:var(--bg);max-width:min(38em,40vw);overflow:hidden;text-overflow:ellipsis;font-weight:normal}
table.heat thead .k{background:var(--panel);z-index:2}
table.heat .t{font-weight:600;background:var(--panel)}
table.heat .s{text-align:left;color:var(--muted)}
.l1{background:rgba(var(--heat),.14)}.l2{background:rgba(var(--heat),.22)}.l3{background:rgba(var(--heat),.3)}
.l4{background:rgba(var(--heat),.4)}.l5{background:rgba(var(--heat),.5)}.l6{background:rgba(var(--heat),.6);color:#fff}
.l7{background:rgba(var(--heat),.7);color:#fff}.l8{background:rgba(var(--heat),.85);color:#fff}.l9{background:rgb(var(--heat));color:#fff}
.legend{display:inline-flex;gap:2px;vertical-align:middle;margin:0 4px}
.legend i{display:inline-block;width:16px;height:12px}
p.none{color:var(--muted);margin:4px 0 12px}
footer{margin-top:32px;color:var(--muted);font-size:12px}
""".strip()

JS = """
(function () {
  "use strict";
  var days = Array.prototype.slice.call(document.querySelectorAll("section.day"));
  var links = Array.prototype.slice.call(document.querySelectorAll("nav#days a"));
  var gaps = Array.prototype.slice.call(document.querySelectorAll("p.gap"));
  var nav = document.getElementById("days");
  document.body.classList.add("js");
  function fit() {  // a day's heading, and a table's header row, stop below the picker however tall it is
    if (nav) { document.documentElement.style.setProperty("--nav", nav.offsetHeight + "px"); }
  }
  window.addEventListener("resize", fit);
  fit();
  function show(id) {
    var known = id === "all" || days.some(function (d) { return d.id === id; });
    if (!known) {
      var busy = days.filter(function (d) { return d.getAttribute("data-events") !== "0"; });
      id = busy.length ? busy[0].id : (days.length ? days[0].id : "all");
    }
    days.forEach(function (d) { d.hidden = id !== "all" && d.id !== id; });
    gaps.forEach(function (g) { g.hidden = id !== "all"; });
    links.forEach(function (a) {
      var on = a.getAttribute("href") === "#" + id;
      a.classList.toggle("on", on);
      if (on && nav) { nav.scrollTop += a.getBoundingClientRect().top - nav.getBoundingClientRect().top - 8; }
    });
  }
  function go() {
    show(location.hash.slice(1));
    var day = location.hash && document.getElementById(location.hash.slice(1));
    if (day && !day.hidden) { day.scrollIntoView(); }  // the days before it may have just been hidden
  }
  window.addEventListener("hashchange", go);
  go();
  function cell(row, i, text) {
    var c = row.cells[i], t = c ? c.textContent : "";
    return text ? t : (parseInt(t, 10) || 0);
  }
  function sortBy(th) {
    var table = th.closest("table"), body = table.tBodies[0], i = th.cellIndex;
    var text = th.getAttribute("data-type") === "text";
    var first = text ? "ascending" : "descending";
    var state = th.getAttribute("aria-sort");
    var dir = state === first ? (first === "ascending" ? "descending" : "ascending") : first;
    var sign = dir === "ascending" ? 1 : -1;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cell(a, i, text), y = cell(b, i, text);
      var c = x < y ? -1 : x > y ? 1 : 0;
      if (c === 0) { x = cell(a, 0, true); y = cell(b, 0, true); return x < y ? -1 : x > y ? 1 : 0; }
      return c * sign;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
  }
  function header(ev) { return ev.target.closest ? ev.target.closest("table.heat thead th") : null; }
  Array.prototype.forEach.call(document.querySelectorAll("table.heat thead th"), function (th) { th.tabIndex = 0; });
  document.addEventListener("click", function (ev) {
    var th = header(ev);
    if (th) { sortBy(th); }
  });
  document.addEventListener("keydown", function (ev) {  // a header sorts from the keyboard too
    var th = header(ev);
    if (th && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); sortBy(th); }
  });
}());
""".strip()


def _hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


CSP = (f"default-src 'none'; script-src '{_hash(JS)}'; style-src '{_hash(CSS)}'; img-src 'none'; "
       "base-uri 'none'; form-action 'none'")
