"""README.md is run, not just read: every command in its ```sh and ```console blocks runs, and
every output it shows is what ccaudit prints.

* ```console blocks are sessions, in the README's order, each in a fresh folder holding a copy of
  the repository's fixtures (what a reader who follows along in a clone has): one session for
  the Quick start, one for the rest (which does not use what the Quick start wrote). Each
  `$ command` must print exactly the lines below it, stderr then stdout (what a terminal shows:
  ccaudit loads, and warns, before it reports). `$ echo $?` shows the previous command's exit
  code; any other command must exit 0. Only the temporary folder's path is normalised away.
* ```sh blocks are examples with the names a user would have. Each block runs in its own folder
  where those names exist (SH_NAMES, e.g. dump.txt is fixtures/sample-cli.txt; audit.db is a
  store of it; limits.toml and client.properties are the README's own toml and properties
  blocks), and every command in it must exit 0.
* Commands that need Confluent Cloud carry a marker comment in the README (MARKERS) and are not
  run; the files they would write are stood in for by a fixture, so the commands after them run.
  The marked commands must be exactly the `confluent ...` and `ccaudit download ...` ones.
* The setup lines (SETUP: the virtualenv and pip) are not run: this test runs inside the
  installed virtualenv, with its bin folder first on PATH, so `ccaudit` is its executable.
* Outputs the README shows outside those blocks (the text excerpt, the JSON shape, the load
  lines, exit codes, file modes, the store, completion, performance figures) are checked below
  against the program or the documents they come from.

All commands run concurrently at module start (they are subprocesses), to keep this fast.
"""
from __future__ import annotations

import gzip
import json
import lzma
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_PATH = ROOT / "README.md"
README = README_PATH.read_text(encoding="utf-8")
BIN = Path(sys.executable).parent
CCAUDIT = BIN / "ccaudit"
FIXTURES = ROOT / "fixtures"
PREDECESSOR = "https://github.com/markteehan/analyze_cc_audit_logs"

MARKERS = ("# needs a Kafka cluster", "# needs Confluent Cloud", "# needs Apache Spark", "# reads the store spark made")

# Lines of the README's blocks that are not run, and why.
SETUP = {
    "python3 -m venv .venv": "creates the virtualenv this test already runs in",
    ". .venv/bin/activate": "the test puts the virtualenv's bin folder first on PATH instead",
    "pip install .": "ccaudit is installed in this virtualenv",
    "pip install '.[download]'": "the optional Kafka client; tests/test_download.py covers the command",
    "pip install '.[parquet]'": "pyarrow, installed with the test dependencies",
    "pip install '.[spark]'": "the spark extra; `make test-spark` installs it and runs tests/test_spark.py",
}


def _week2() -> Path:
    """The second week of the diff example: wherever the repository keeps it."""
    for path in sorted(FIXTURES.glob("*week2*.jsonl")) + [ROOT / "tests" / "golden" / "diff--week2.jsonl"]:
        if path.is_file():
            return path
    raise AssertionError("no week-2 fixture (fixtures/*week2*.jsonl or tests/golden/diff--week2.jsonl)")


WEEK2 = _week2()

# The names the ```sh examples use, and what stands for them.
SH_NAMES = {
    "dump.txt": FIXTURES / "sample-cli.txt",
    "dump.json.gz": FIXTURES / "sample-array.json.gz",
    "week2.jsonl": WEEK2,
}


# -- reading the README --------------------------------------------------------------------------

@dataclass
class Block:
    lang: str
    text: str
    line: int  # 1-based line of the opening fence

    @property
    def where(self) -> str:
        return f"README.md:{self.line} ```{self.lang}"


FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)


def blocks(*langs: str) -> list[Block]:
    found = []
    for m in FENCE.finditer(README):
        if langs and m["lang"] not in langs:
            continue
        indent = len(m["indent"])
        body = "\n".join(line[indent:] for line in m["body"].splitlines())
        found.append(Block(m["lang"], body, README.count("\n", 0, m.start()) + 1))
    return found


def sh_commands(text: str) -> list[str]:
    """The command lines of an sh block: comments and blank lines dropped, `\\` continuations joined."""
    commands, pending = [], ""
    for raw in text.splitlines():
        line = pending + raw.strip() if pending else raw
        pending = ""
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1].rstrip() + " "
            continue
        if line.strip() and not line.strip().startswith("#"):
            commands.append(line.strip())
    assert not pending, f"a continued line ends the block: {pending!r}"
    return commands


@dataclass
class Step:
    command: str
    shown: list[str] = field(default_factory=list)


def console_steps(text: str) -> list[Step]:
    steps: list[Step] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            steps.append(Step(line[2:].strip()))
        else:
            assert steps, f"output before the first command: {line!r}"
            steps[-1].shown.append(line)
    for step in steps:
        while step.shown and not step.shown[-1].strip():
            step.shown.pop()
    return steps


def marker(command: str) -> str | None:
    return next((m for m in MARKERS if m in command), None)


def needs_cloud(command: str) -> bool:
    """Confluent Cloud, or Spark (tests/test_spark.py runs the command, and a report from its
    store, in `make test-spark`)."""
    return command.startswith(("confluent ", "ccaudit download", "ccaudit spark")) or "year.db" in command


def all_commands() -> list[tuple[Block, str]]:
    out = []
    for block in blocks("sh", "console"):
        commands = sh_commands(block.text) if block.lang == "sh" else [s.command for s in console_steps(block.text)]
        out += [(block, c) for c in commands]
    return out


def section(title: str) -> str:
    """The README text from the heading `title` to the next heading of the same or a higher level."""
    m = re.search(rf"^(#+) {re.escape(title)}\n", README, re.M)
    assert m, f"no heading {title!r}"
    end = re.search(rf"^#{{1,{len(m[1])}}} ", README[m.end():], re.M)
    return README[m.end(): m.end() + end.start() if end else len(README)]


def table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not set(line) <= set("|-: "):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            rows.append([c.strip().replace("\\|", "|") for c in cells])
    return rows[1:]  # without the header


# -- running -------------------------------------------------------------------------------------

def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)  # `python -m benchmarks.generate`, as in the clone's top folder
    for name in ("CCAUDIT_DEBUG", "CCAUDIT_API_KEY", "CCAUDIT_API_SECRET"):
        env.pop(name, None)
    return env


ENV = environment()


@dataclass
class Ran:
    command: str
    cwd: Path
    returncode: int
    stdout: str
    stderr: str

    @property
    def terminal(self) -> list[str]:
        """What a terminal shows: stderr (the load comes first), then stdout; temp paths removed."""
        text = self.stderr + self.stdout
        text = text.replace(f"{self.cwd}/", "").replace(str(self.cwd), ".")
        return text.rstrip("\n").splitlines() if text.strip() else []

    def explain(self) -> str:
        return f"$ {self.command}\n(exit {self.returncode})\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


def run(command: str, cwd: Path, timeout: float = 60) -> Ran:
    p = subprocess.run(["bash", "-c", command], cwd=cwd, env=ENV, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout)
    return Ran(command, cwd, p.returncode, p.stdout, p.stderr)


def stand_in(command: str, cwd: Path, variables: str = "") -> None:
    """Write the file a marked (not run) command would have written, so the next commands run."""
    target = re.search(r"--out\s+((?:\$\([^)]*\)|\S)+)", command) or re.search(r">\s*(\S+)", command)
    if not target:
        return
    name = subprocess.run(["bash", "-c", f"{variables}printf %s {target[1]}"], env=ENV, capture_output=True,
                          text=True, check=True).stdout
    if command.startswith("confluent kafka topic consume"):
        data = (FIXTURES / "sample-cli.txt").read_bytes()      # what the CLI prints
    else:
        data = lzma.decompress((FIXTURES / "sample.jsonl.xz").read_bytes())  # one record per line
    (cwd / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)


def fixture_copy(into: Path) -> Path:
    """A clean copy of the repository's fixtures (and of the week-2 dump, at its own path)."""
    into.mkdir(parents=True, exist_ok=True)
    shutil.copytree(FIXTURES, into / "fixtures", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    rel = WEEK2.relative_to(ROOT)
    (into / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(WEEK2, into / rel)
    return into


def block_text(lang: str) -> str:
    found = blocks(lang)
    assert len(found) == 1, f"expected one ```{lang} block, found {len(found)}"
    return found[0].text + "\n"


def sh_template(base: Path) -> Path:
    """The folder every ```sh block starts from: the names the examples use exist there."""
    tpl = fixture_copy(base / "sh-template")
    for name, source in SH_NAMES.items():
        shutil.copy2(source, tpl / name)
    (tpl / "limits.toml").write_text(block_text("toml"), encoding="utf-8")
    (tpl / "client.properties").write_text(block_text("properties"), encoding="utf-8")
    made = run("ccaudit load dump.txt --db audit.db --quiet", tpl)
    assert made.returncode == 0, made.explain()
    return tpl


ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(?:\$\([^)]*\)|\S)+")  # a line that only sets a variable


def run_sh_block(block: Block, template: Path, into: Path) -> list[tuple[Ran | None, str]]:
    """Each command of the block in turn; a variable one sets (``out=audit-$(date ...)``) is
    worked out once, and set as that value for the commands after it."""
    shutil.copytree(template, into)
    results: list[tuple[Ran | None, str]] = []
    variables = ""
    for command in sh_commands(block.text):
        if command in SETUP:
            results.append((None, f"not run: {SETUP[command]}"))
        elif marker(command):
            stand_in(command, into, variables)
            results.append((None, f"not run ({marker(command)[2:]}); its output stood in for"))
        else:
            ran = run(variables + command, into)
            if (assigned := ASSIGNMENT.fullmatch(command)) and ran.returncode == 0:
                value = run(f'{variables}{command}; printf %s "${assigned[1]}"', into).stdout
                variables += f"{assigned[1]}={shlex.quote(value)}; "
            results.append((ran, ""))
    return results


def in_span(block: Block, span: tuple[int, int]) -> bool:
    offset = len("\n".join(README.splitlines()[:block.line - 1]))
    return span[0] <= offset < span[1]


def run_console(steps: list[tuple[Block, Step]], cwd: Path) -> list[tuple[Block, Step, Ran]]:
    results = []
    previous: Ran | None = None
    for block, step in steps:
        if step.command == "echo $?":
            assert previous is not None
            ran = Ran(step.command, cwd, 0, f"{previous.returncode}\n", "")
        else:
            ran = run(step.command, cwd)
        results.append((block, step, ran))
        previous = ran
    return results


def signal_exit_codes() -> dict[str, tuple[int, str]]:
    """Ctrl-C (and SIGTERM, SIGHUP) while ccaudit reads stdin: the exit code and what it says."""
    out = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        p = subprocess.Popen([str(CCAUDIT), "report", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=ENV, text=True)
        wchan = Path(f"/proc/{p.pid}/wchan")
        deadline = time.monotonic() + 20
        if wchan.exists():  # Linux: wait until it blocks reading stdin ((anon_)pipe_read), past its imports
            while time.monotonic() < deadline and "pipe_read" not in wchan.read_text():
                time.sleep(0.01)
        else:
            time.sleep(3)
        p.send_signal(sig)
        _, err = p.communicate(timeout=20)
        out[sig.name] = (p.returncode, err)
    return out


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """Run the README's commands once, concurrently: the console session and each sh block (and
    Ctrl-C and bash completion, which need a process of their own); meanwhile, in this thread,
    the in-process runs that the README's other statements are checked against."""
    assert CCAUDIT.is_file(), f"ccaudit is not installed in this virtualenv ({CCAUDIT})"
    assert shutil.which("ccaudit", path=ENV["PATH"]) == str(CCAUDIT)
    base = tmp_path_factory.mktemp("readme")
    quick_start = README.index("## Quick start"), README.index("## Getting a dump")
    first = [(b, s) for b in blocks("console") if in_span(b, quick_start) for s in console_steps(b.text)]
    rest = [(b, s) for b in blocks("console") if not in_span(b, quick_start) for s in console_steps(b.text)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        first_future = pool.submit(run_console, first, fixture_copy(base / "quick-start"))
        rest_future = pool.submit(run_console, rest, fixture_copy(base / "console"))
        signals_future = pool.submit(signal_exit_codes)
        completion_future = pool.submit(bash_completion, base)
        template = sh_template(base)
        sh_futures = [(b, pool.submit(run_sh_block, b, template, base / f"sh-{b.line}")) for b in blocks("sh")]
        inproc = in_process(base / "in-process")
        return {
            "console": first_future.result() + rest_future.result(),
            "quick_start_dir": base / "quick-start",
            "console_dir": base / "console",
            "sh": [(b, f.result()) for b, f in sh_futures],
            "signals": signals_future.result(),
            "bash completion": completion_future.result(),
            **inproc,
        }


def bash_completion(base: Path) -> Ran:
    rows = {row[0]: row[1].strip("`") for row in table_rows(section("Version and shell completion"))}
    return run(f"{rows['bash']}\ncomplete -p ccaudit\n"
               "COMP_WORDS=(ccaudit report --section ''); COMP_CWORD=3; _ccaudit_completion ccaudit\n"
               'printf "%s\\n" "${COMPREPLY[@]}"', base)


# -- in-process runs: what the README states besides its commands --------------------------------

@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def ccaudit_in(cwd: Path, *args: str, env: dict | None = None) -> Result:
    """ccaudit's command line in this process (much cheaper than a process of its own), in `cwd`."""
    from click.testing import CliRunner

    from ccaudit.cli import cli

    here = os.getcwd()
    os.chdir(cwd)
    try:
        r = CliRunner().invoke(cli, list(args), env=env, prog_name="ccaudit")
    finally:
        os.chdir(here)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    return Result(r.exit_code, r.stdout, r.stderr)


def in_process(base: Path) -> dict:
    cwd = fixture_copy(base)
    out: dict = {"in-process dir": cwd}
    out["excerpt"] = ccaudit_in(cwd, "report", "fixtures/sample-cli.txt", "-q", "--section", "mds_authorize",
                                "--until", "2024-05-06")
    out["json"] = ccaudit_in(cwd, "report", "fixtures/sample-cli.txt", "--format", "json")

    garbage = "".join(f"garbage {i}\n" for i in range(120))
    (cwd / "bad.txt").write_text((FIXTURES / "sample-cli.txt").read_text(encoding="utf-8") + "\n" + garbage)
    out["many malformed"] = ccaudit_in(cwd, "report", "bad.txt", "-o", "bad-report.txt")

    (cwd / "noise.txt").write_text("% Headers: []\n\nnot a record\n")
    sample = "fixtures/sample-cli.txt"
    out["exit codes"] = {
        "ok": ccaudit_in(cwd, "report", sample, "-q", "-o", "ok.txt"),
        "strict": ccaudit_in(cwd, "report", sample, "-q", "--strict", "-o", "strict.txt"),
        "missing": ccaudit_in(cwd, "report", sample, "no-such-dump.txt", "-q", "-o", "missing.txt"),
        "no record": ccaudit_in(cwd, "report", sample, "noise.txt", "-q", "-o", "norecord.txt"),
        "usage": ccaudit_in(cwd, "report", "--no-such-option"),
    }

    records = [{"id": f"c-{i}", "time": "2024-05-06T07:00:00Z",
                "data": {"methodName": "kafka.Authentication", "authenticationInfo": {"principal": key}}}
               for i, key in enumerate(["User:=1+2", "User:@cmd", "User:-x", "User:\ttab"])]
    (cwd / "hostile.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    out["csv"] = ccaudit_in(cwd, "report", "hostile.jsonl", "-q", "--format", "csv")

    unknown = {"id": "u-1", "time": "2024-05-06T07:00:00Z", "data": {"methodName": "FrobnicateWidgets"}}
    (cwd / "unknown.jsonl").write_text(json.dumps(unknown) + "\n")
    out["unknown method"] = {fmt: ccaudit_in(cwd, "methods", "unknown.jsonl", "-q", "--format", fmt)
                             for fmt in ("text", "csv", "json")}

    made = ccaudit_in(cwd, "load", sample, "--db", "old.db", "-q")
    assert made.returncode == 0, made.stderr
    with sqlite3.connect(cwd / "old.db") as db:
        db.execute("PRAGMA user_version = 2")
    out["other layout"] = ccaudit_in(cwd, "summary", "--db", "old.db")

    out["version"] = ccaudit_in(cwd, "--version")
    out["help"] = ccaudit_in(cwd, "--help")
    out["completion"] = {shell: ccaudit_in(cwd, env={"_CCAUDIT_COMPLETE": f"{shell}_source"})
                         for shell in ("zsh", "fish")}
    return out


# -- the commands: each runs, or is marked -------------------------------------------------------

def test_the_readme_has_commands_to_run():
    langs = {b.lang for b in blocks()}
    assert {"sh", "console"} <= langs
    assert len(all_commands()) >= 20


def test_marked_commands_are_exactly_the_ones_that_need_confluent_cloud():
    for block, command in all_commands():
        if needs_cloud(command):
            assert marker(command), f"{block.where}: {command!r} needs Confluent Cloud but is not marked"
        else:
            assert not marker(command), f"{block.where}: {command!r} is marked but runs here"
    marked = [c for _, c in all_commands() if marker(c)]
    assert any(c.startswith("ccaudit download") for c in marked)
    assert any(c.startswith("confluent kafka topic consume") for c in marked)


def test_only_setup_lines_are_skipped_and_they_are_in_the_readme():
    commands = [c for _, c in all_commands()]
    for line in SETUP:
        assert line in commands, f"SETUP lists {line!r}, which the README no longer has"
    for _, command in all_commands():
        if command.startswith(("pip ", "python3 -m venv", ". .venv")):
            assert command in SETUP, f"{command!r}: a setup line the test does not know"


def test_every_sh_command_succeeds(session):
    ran = 0
    for block, results in session["sh"]:
        for result, why in results:
            if result is None:
                assert why
                continue
            ran += 1
            assert result.returncode == 0, f"{block.where}\n{result.explain()}"
            assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.explain()
    assert ran >= 15


def test_every_console_command_prints_what_the_readme_shows(session):
    results = session["console"]
    assert results, "no ```console block"
    for i, (block, step, ran) in enumerate(results):
        assert not marker(step.command) and step.command not in SETUP, f"{block.where}: {step.command!r} cannot run"
        assert ran.terminal == step.shown, (
            f"{block.where}: `{step.command}` printed\n" + "\n".join(ran.terminal)
            + "\n--- but the README shows\n" + "\n".join(step.shown))
        next_is_echo = i + 1 < len(results) and results[i + 1][1].command == "echo $?"
        if not next_is_echo:
            assert ran.returncode == 0, f"{block.where}\n{ran.explain()}"


# -- the quick start -----------------------------------------------------------------------------

def test_quick_start_is_on_the_first_screen_and_starts_with_setup():
    headings = re.findall(r"^## (.+)$", README, re.M)
    assert headings[0] == "Quick start"
    start = README.index("## Quick start")
    first_report = README.index("$ ccaudit report")
    assert first_report > start and README.count("\n", 0, first_report) < 35
    assert sh_commands(blocks("sh")[0].text) == ["python3 -m venv .venv", ". .venv/bin/activate", "pip install ."]
    assert "Python 3.10" in section("Quick start")


def test_quick_start_writes_a_page_and_narrow_summary_and_the_files_it_names(session):
    quick = section("Quick start")
    assert "--format html -o report.html" in quick and "--out reports/" in quick
    cwd = session["quick_start_dir"]
    page = (cwd / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    day = cwd / "reports" / "2024-05-06.txt"
    assert day.is_file() and "reports/2024-05-06.txt" in quick
    width = max(len(line) for line in day.read_text(encoding="utf-8").splitlines())
    m = re.search(r"about (\d+)\s+columns wide", quick)
    assert m and abs(width - int(m[1])) <= 15, f"{day.name} is {width} columns wide"
    # what the terminal got is narrow: the summary, every line under 80 columns
    shown = [s for b, s, _ in session["console"] if b.where == blocks("console")[1].where][0].shown
    assert all(len(line) <= 80 for line in shown if not line.startswith("ccaudit: loaded"))
    # the six warnings are the fixture's deliberate bad lines 31-36
    first = session["console"][0][2]
    assert [n for n in re.findall(r"sample-cli\.txt:(\d+): ", first.stderr)] == [str(n) for n in range(31, 37)]
    assert "six `malformed:` warnings" in quick


def test_the_generator_the_quick_start_names_exists():
    assert "python -m benchmarks.generate" in section("Quick start")
    assert (ROOT / "benchmarks" / "generate").exists() or (ROOT / "benchmarks" / "generate.py").exists()


# -- outputs the README shows --------------------------------------------------------------------

def elide(lines: list[str], keep: set[str]) -> list[str]:
    """Cut the hour columns not in `keep` from a text section, each run of cut columns shown as `…`."""
    header = next(line for line in lines if " Hour: " in line)
    end0 = header.index("Hour:") + len("Hour:  00")
    cols = [(end0 - 6 + 6 * i, end0 + 6 * i) for i in range(24)]
    out = []
    for line in lines:
        pieces, gap = [line[:cols[0][0]]], False
        for i, (a, b) in enumerate(cols):
            if f"{i:02d}" in keep:
                pieces.append(line[a:b])
                gap = False
            elif not gap:
                pieces.append("__…" if line[a:b].startswith("_") else "  …")
                gap = True
        out.append(("".join(pieces) + line[cols[-1][1]:]).rstrip())
    return out


def test_text_excerpt_is_the_report_with_hours_cut(session):
    excerpt = [b for b in blocks("text") if " Hour: " in b.text]
    assert len(excerpt) == 1
    shown = excerpt[0].text.splitlines()
    keep = {label for label in shown[0].split("Hour:")[1].split() if label.isdigit()}
    ran = session["excerpt"]
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if " Hour: " in line)
    assert elide(lines[start:start + len(shown)], keep) == shown
    assert "MDS Authorize" in ran.stdout and "(none)" in shown[2]


def matches(pattern, actual, path="$") -> None:
    """The README's JSON shape against the real document: "..." stands for anything left out."""
    if isinstance(pattern, dict):
        assert isinstance(actual, dict), path
        for key, value in pattern.items():
            if key != "...":
                assert key in actual, f"{path}: no key {key!r} (has {sorted(actual)})"
                matches(value, actual[key], f"{path}.{key}")
        if "..." not in pattern:
            assert set(actual) == set(pattern), f"{path}: keys {sorted(actual)}, README shows {sorted(pattern)}"
    elif isinstance(pattern, list):
        assert isinstance(actual, list), path
        items = [p for p in pattern if p != "..."]
        if "..." not in pattern:
            assert len(items) == len(actual), path
        i = 0
        for item in items:  # in order, each matching one of the actual items
            while True:
                assert i < len(actual), f"{path}: nothing matches {item!r}"
                try:
                    matches(item, actual[i], f"{path}[{i}]")
                    i += 1
                    break
                except AssertionError:
                    i += 1
    else:
        assert pattern == actual, f"{path}: README shows {pattern!r}, ccaudit gives {actual!r}"


def test_json_shape_is_the_real_document(session):
    shape = [b for b in blocks("json")]
    assert len(shape) == 1
    ran = session["json"]
    assert ran.returncode == 0, ran.stderr
    document = json.loads(ran.stdout)
    matches(json.loads(shape[0].text), document)
    # "all five otherwise": the README's "..." in sections hides the other four
    assert len(document["days"][0]["sections"]) == 5
    assert "malformed_lines" in document["summary"]["load"]


def test_csv_is_one_table_with_safe_cells(session):
    csv_step = next(s for _, s, _ in session["console"] if "--format csv" in s.command)
    assert csv_step.shown[0].startswith("date,section,key,00,")
    ran = session["csv"]
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert sum(line.startswith("date,") for line in lines) == 1, "one header"
    keys = {line.split(",")[2] for line in lines[1:] if ",kafka_authentication," in line}
    assert keys == {"'=1+2", "'@cmd", "'-x", "\\x09tab"}, keys
    text = " ".join(section("Formats (`--format`)").split())
    assert "one table with one header" in text and "leading `'`" in text


def test_load_lines(session):
    shown = [b.text.strip() for b in blocks("text") if b.text.startswith("ccaudit: ")]
    loaded = next(t for t in shown if t.startswith("ccaudit: loaded"))
    first = session["console"][0][2]
    assert first.stderr.splitlines()[-1] == loaded
    many = next(t for t in shown if "malformed in all" in t)
    ran = session["many malformed"]
    assert ran.returncode == 0, ran.stderr
    assert many in ran.stderr.splitlines()
    assert "first 100" in many and "summary.load.malformed_entries" in many


def test_exit_codes_table_is_what_ccaudit_does(session):
    rows = table_rows(section("Exit codes"))
    codes = [int(row[0]) for row in rows]
    assert codes == [0, 1, 2, 70, 130, 141]  # 141: tests/test_output.py runs it
    help_text = " ".join(session["help"].stdout.split())
    for code in codes:
        assert re.search(rf"\b{code} ", help_text.split("Exit codes:")[1]), f"--help does not explain {code}"
    runs = session["exit codes"]
    cwd = session["in-process dir"]
    assert runs["ok"].returncode == 0 and (cwd / "ok.txt").is_file()
    assert runs["strict"].returncode == 1
    assert runs["missing"].returncode == 2 and not (cwd / "missing.txt").exists()
    assert runs["no record"].returncode == 2 and not (cwd / "norecord.txt").exists(), "no report at all"
    assert runs["usage"].returncode == 2
    signals = session["signals"]
    assert signals["SIGINT"][0] == 130, signals
    assert (signals["SIGTERM"][0], signals["SIGHUP"][0]) == (143, 129), signals
    assert "SIGTERM or SIGHUP: 128 + the signal (143, 129)" in " ".join(section("Exit codes").split())
    check = next(r for b, s, r in session["console"] if s.command.startswith("ccaudit check"))
    assert check.returncode == 1


def test_methods_not_in_the_catalogue(session):
    analysis = section("`ccaudit methods`: what happened, by kind")
    runs = session["unknown method"]
    assert "(not in the catalogue)" in analysis and "(not in the catalogue)" in runs["text"].stdout
    assert runs["csv"].stdout.splitlines()[1] == "FrobnicateWidgets,1,management,"
    listed = json.loads(runs["json"].stdout)["methods"][0]
    assert listed["meaning"] is None and listed["known"] is False
    assert "`null` with `\"known\": false`" in analysis
    catalogue = json.loads((ROOT / "ccaudit" / "methods.json").read_text(encoding="utf-8"))
    assert f"catalogue of {len(catalogue)} methods" in analysis


def test_files_are_owner_only(session):
    cwd, first = session["console_dir"], session["quick_start_dir"]
    files = [first / "report.html", cwd / "audit.db", cwd / "week2.db"]
    folders = [first / "reports"]
    for path in (first / "reports").rglob("*"):
        (folders if path.is_dir() else files).append(path)
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600, path
    for path in folders:
        assert path.stat().st_mode & 0o777 == 0o700, path
    text = " ".join(section("Files ccaudit writes").split())
    assert "(the store, report files and folders, downloads) is owner-only" in text
    assert "files 0600, folders 0700" in text


def test_the_store_is_what_the_readme_says(session):
    text = " ".join(section("The store").split())
    with sqlite3.connect(session["console_dir"] / "audit.db") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = db.execute("PRAGMA user_version").fetchone()[0]
    assert f"layout version {version}" in text
    named = set(re.findall(r"`(\w+)`", text)) & tables
    assert named == tables, f"the README names {sorted(named)}, the store has {sorted(tables)}"
    refused = session["other layout"]
    assert refused.returncode == 2
    assert "load the dumps into a new store" in refused.stderr and "load the dumps into a new store" in text


def test_version_and_completion(session):
    import ccaudit

    assert session["version"].stdout == f"ccaudit, version {ccaudit.__version__}\n"
    assert "`ccaudit --version`" in README
    bash = session["bash completion"]
    assert bash.returncode == 0, bash.explain()
    assert "_ccaudit_completion" in bash.stdout
    assert "kafka_authentication" in bash.stdout.split()  # section ids complete
    done = session["completion"]
    assert done["zsh"].stdout.startswith("#compdef ccaudit")
    assert "complete" in done["fish"].stdout and "ccaudit" in done["fish"].stdout
    rows = {row[0]: row[1] for row in table_rows(section("Version and shell completion"))}
    assert rows["zsh"] == '`eval "$(_CCAUDIT_COMPLETE=zsh_source ccaudit)"`'
    assert rows["fish"] == "`_CCAUDIT_COMPLETE=fish_source ccaudit | source`"
    rows = table_rows(section("Version and shell completion"))
    assert [r[2] for r in rows] == ["`~/.bashrc`", "`~/.zshrc`", "`~/.config/fish/completions/ccaudit.fish`"]


# -- the README as a document --------------------------------------------------------------------

def test_headings_are_in_the_order_a_user_meets_them():
    assert re.findall(r"^## (.+)$", README, re.M) == [
        "Quick start", "Getting a dump", "Reports", "Analysis", "When one machine is not enough", "Reference",
        "Reliability", "Performance", "Development"]


def test_links_stay_in_the_repository_but_one():
    links = re.findall(r"\]\(([^)]+)\)", README)
    outside = [link for link in links if "://" in link]
    assert outside == [PREDECESSOR], outside
    for link in links:
        if "://" not in link:
            assert (ROOT / link.split("#")[0]).exists(), link
    assert "docs/design.md" in links and "docs/performance.md" in links
    bare = re.findall(r"(?<![(<])https?://\S+", README)
    assert bare == [], bare


def test_no_history():
    lowered = README.lower()
    for phrase in ("the old tool", "made it faster", "where the issues were silent", "fixes their defects"):
        assert phrase not in lowered, phrase
    assert README.count("predecessor") >= 1


def test_make_targets_exist():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([\w-]+):", makefile, re.M))
    named = set(re.findall(r"`(?:[A-Z_]+=\S+ )?make ([\w-]+)", README))
    assert {"test", "lint", "test-memory", "bench", "bench-compare", "golden", "demo"} <= named
    assert named <= targets, named - targets


def test_performance_figures_come_from_docs_performance():
    perf = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    results = perf[perf.index("## Results"):]
    rows = table_rows(section("Performance"))
    assert rows
    for row in rows:
        for figure in row[1:]:
            assert figure in results, f"{figure!r} is not in docs/performance.md's results"
    assert "`make bench`" in section("Performance") and "`make bench-compare`" in section("Performance")


def test_sections_table_lists_the_report_sections():
    from ccaudit.cli import cli

    choices = next(p for p in cli.commands["report"].params if p.name == "sections").type.choices
    rows = table_rows(section("What goes into a report"))
    assert [r[0].strip("`") for r in rows] == list(choices)


def test_the_zones_whose_clocks_changed_off_a_quarter_hour_are_those_the_readme_names():
    """Counts are per UTC quarter hour: README names every zone whose offset, since 1970,
    was not a whole number of quarter hours or changed inside one (it named two, of eleven).
    Each zone's offset is read every three days, and each change found to the second."""
    import zoneinfo
    from datetime import datetime

    step, end = 3 * 86_400, 2_145_916_800  # to 2038: tzdata's rules repeat from there

    def offset(tz, t: int) -> float:
        return datetime.fromtimestamp(t, tz).utcoffset().total_seconds()

    def first_after(tz, lo: int, hi: int, before: float) -> int:
        """The first second in (lo, hi] whose offset is not ``before``."""
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if offset(tz, mid) == before else (lo, mid)
        return hi

    found = set()
    for name in zoneinfo.available_timezones():
        tz = zoneinfo.ZoneInfo(name)
        t, before = 0, offset(tz, 0)
        while t < end and name not in found:
            after = offset(tz, t + step)
            if after != before and (before % 900 or after % 900 or first_after(tz, t, t + step, before) % 900):
                found.add(name)
            t, before = t + step, after
    text = " ".join(section("Filters").split())
    listed = text[text.index("Since 1970"):text.index("Their times are still")]
    assert found == set(re.findall(r"\b[A-Z][A-Za-z_]+/[A-Z][A-Za-z_]+\b", listed))


def test_the_python_example_runs_and_gives_the_rows_the_command_gives(tmp_path):
    """The README's library example, on the fixture the Quick start uses: its rows are the
    report's JSON rows for the same zone and principal."""
    (example,) = [b for b in blocks("python") if "load_dumps" in b.text]
    shutil.copy(FIXTURES / "sample-cli.txt", tmp_path / "dump.txt")
    ran = subprocess.run([BIN / "python", "-c", example.text], cwd=tmp_path, env=ENV, capture_output=True,
                         text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    printed = ran.stdout.splitlines()
    assert printed[0].split()[:3] == ["13", "1", "6"]  # new, duplicate, malformed: the load line's
    rows = [line.split(" ", 4) for line in printed[1:] if re.match(r"\d{4}-\d\d-\d\d ", line)]
    command = run("ccaudit report dump.txt --tz Europe/Zurich --principal 'sa-*' --format json -q", tmp_path)
    expected = [[day["date"], sid, row["key"], str(row["total"]), str(row["hours"])]
                for day in json.loads(command.stdout)["days"] for sid, section in day["sections"].items()
                for row in section["rows"]]
    assert rows == expected and len(rows) >= 2
    assert "| sa-" in ran.stdout  # the markdown report
