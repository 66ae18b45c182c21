"""The package's shape: no import cycles, a bottom layer that imports nothing above it,
click only in the command-line modules, modules short enough to read in one sitting, and
no library loaded by a process of a load that does not use it (each costs every load memory)."""
from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ccaudit"
BOTTOM = {"schema", "stats", "text", "errors"}  # the layer every other module may use
COMMAND_LINE = {"cli", "cli_analysis", "cli_export", "options", "formats", "time_options", "boundary"}
MAX_LINES = 400


def modules() -> dict[str, Path]:
    return {p.stem: p for p in PACKAGE.glob("*.py") if p.stem != "__init__"}


def imports_of(path: Path) -> set[str]:
    """The ccaudit modules ``path`` imports (relative or absolute, at any depth)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 1:
                found |= {a.name for a in node.names}
            elif node.module and node.module.startswith("ccaudit."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("ccaudit.")}
    return found & set(modules())


def third_party_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt] if nxt in path else path + [nxt]
            if nxt not in state and (cycle := visit(nxt, path + [nxt])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    graph = {name: imports_of(path) for name, path in modules().items()}
    assert find_cycle(graph) is None


@pytest.mark.parametrize("name", sorted(BOTTOM))
def test_the_bottom_layer_imports_only_itself(name):
    assert imports_of(modules()[name]) <= BOTTOM


@pytest.mark.parametrize("name", sorted(modules()))
def test_click_only_in_the_command_line(name):
    if name not in COMMAND_LINE:
        assert "click" not in third_party_imports(modules()[name])


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_read_in_one_sitting(name):
    lines = modules()[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"ccaudit/{name}.py has {lines} lines"


def test_no_private_names_cross_modules():
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                assert not private, f"ccaudit/{name}.py imports {private} from .{node.module}"


def loaded_by(modules: str, hidden: str = "") -> set[str]:
    """The modules a new Python holds once it has imported ``modules`` (comma-separated),
    with ``hidden`` (a module) made to fail its import."""
    hide = f"sys.modules[{hidden!r}] = None; " if hidden else ""
    run = subprocess.run([sys.executable, "-c", f"import sys; {hide}import {modules}; print(*sys.modules)"],
                         capture_output=True, text=True, check=True, cwd=PACKAGE.parent)
    return set(run.stdout.split())


@pytest.mark.skipif(sys.version_info < (3, 11), reason="msgspec imports typing_extensions, and it inspect, on 3.10")
def test_parse_workers_load_no_sqlite_nor_inspect():
    """A parse worker writes no SQL, and keeps no dataclass: sqlite3 and its library would
    be 1 MiB of each, and ``inspect`` (which dataclasses import) 0.7 MiB. (msgspec imports
    typing_extensions, and it inspect, where it is installed: mypy installs it.)"""
    assert not {"sqlite3", "inspect"} & loaded_by("ccaudit.worker", hidden="typing_extensions")


def test_the_package_imports_nothing_before_ctrl_c_is_handled():
    # `from typing import TYPE_CHECKING` at the top of ccaudit/__init__.py: a Ctrl-C while typing
    # was imported, before the handler of a starting command was set, printed a traceback
    assert not {"typing", "ccaudit.cli", "click"} & loaded_by("ccaudit")


def test_a_load_loads_no_openssl():
    """The digests of names are CPython's own BLAKE2b: hashlib would first load OpenSSL's
    libcrypto, 3.7 MiB of a load's main process."""
    pytest.importorskip("_blake2")
    assert "_hashlib" not in loaded_by("ccaudit.cli, ccaudit.load, ccaudit.parallel")


NEWER_THAN_3_10 = {"add_note", "batched", "chdir", "file_digest", "Self", "StrEnum", "TaskGroup"}  # as attributes
BUILTINS_NEWER_THAN_3_10 = {"ExceptionGroup", "BaseExceptionGroup"}


@pytest.mark.parametrize("name", sorted(modules()))
def test_nothing_python_3_10_lacks(name):
    """pyproject promises Python 3.10 on, and a download stopped while writing to a pipe
    ended in an internal error there (``e.add_note``, 3.11 on; ``errors.add_note`` now)."""
    tree = ast.parse(modules()[name].read_text(encoding="utf-8"))
    used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    used |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0 for a in n.names}
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    newer = used & NEWER_THAN_3_10 | names & BUILTINS_NEWER_THAN_3_10
    assert not newer, f"ccaudit/{name}.py uses {sorted(newer)}"


def test_a_type_checker_sees_every_name_of_the_library_api():
    # the names are imported on first use (module __getattr__), which a checker reads as Any:
    # `load_dumps("dump.txt", 5)` passed; py.typed says the annotations are meant to be read
    import ccaudit
    from ccaudit.check import tomllib

    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    checked = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    exported = {a.name for n in checked.body for a in n.names if a.asname == a.name}  # "as": exported
    assert exported == set(ccaudit._API)
    assert (PACKAGE / "py.typed").exists()
    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["ccaudit"]


def defined_names(path: Path) -> tuple[set[str], dict[str, set[str]]]:
    """The names ``path`` defines at its top (functions, classes, assigned names: not those it
    imports), and each class's members (methods, class attributes, ``self.x`` attributes)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top, classes = set(), {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            top.add(node.name)
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) else []
        top |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        if isinstance(node, ast.ClassDef):
            members = set()
            for inner in ast.walk(node):
                if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    members.add(inner.name)
                elif isinstance(inner, (ast.Name, ast.Attribute)) and isinstance(inner.ctx, ast.Store):
                    members.add(inner.id if isinstance(inner, ast.Name) else inner.attr)
            classes[node.name] = members | {f"<base>{b.id}" for b in node.bases if isinstance(b, ast.Name)}
    return top, classes


def test_every_name_the_design_notes_cite_is_where_they_say():
    # the notes named functions that had moved to another module (files.temp_root, in
    # tempdirs) and one only imported where they placed it (daycounts.kept, in sqlraised)
    import re

    defined = {name: defined_names(path) for name, path in modules().items()}
    classes: dict[str, list[set[str]]] = {}
    for _, their_classes in defined.values():
        for cls, members in their_classes.items():
            classes.setdefault(cls, []).append(members)
    for _, their_classes in defined.values():  # a class has its bases' members (Selection: Busiest's)
        for members in their_classes.values():
            for base in [m[6:] for m in members if m.startswith("<base>")]:
                members |= set().union(*classes.get(base, [set()]))
    wrong = []
    for doc in ("design.md", "export.md", "spark.md"):  # performance.md measures earlier versions too
        for number, line in enumerate((PACKAGE.parent / "docs" / doc).read_text(encoding="utf-8").splitlines(), 1):
            for cited in re.findall(r"`([A-Za-z_][\w.]*\.[A-Za-z_]\w*)(?:\(\))?`", line):
                first, *rest = cited.split(".")
                if rest in (["py"], ["json"]) or len(rest) > 1 and not rest[0][0].isupper() or \
                        first in sys.stdlib_module_names and hasattr(__import__(first), rest[0]):
                    continue  # a module's file; Spark's settings (spark.local.dir); Python's own (html.escape)
                if first in defined:
                    top, its_classes = defined[first]
                    found = rest[0] in top and (len(rest) == 1 or rest[1] in its_classes.get(rest[0], ()))
                    found = found or len(rest) == 1 and rest[0] in its_classes
                elif first in classes and len(rest) == 1:
                    found = any(rest[0] in members for members in classes[first])
                else:
                    continue  # not a name of ccaudit's (sqlite3.Row, pyspark.sql)
                if not found:
                    wrong.append(f"{doc}:{number}: {cited}")
    assert not wrong, "\n".join(wrong)


def test_every_process_of_the_suite_collects_the_same_tests():
    # was: `make test` (pytest-xdist, two processes) stopped before any test, "Different tests
    # were collected between gw0 and gw1": a parameter's gzip header held the time it was made
    # (gzip.compress without mtime=0), and the two processes collected a second apart
    def collected(seed: str) -> list[str]:
        proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                               "tests/"], cwd=PACKAGE.parent, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONHASHSEED": seed, "CCAUDIT_SPARK_TESTS": "1"})
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return [line for line in proc.stdout.splitlines() if "::" in line]

    first = collected("1")
    time.sleep(1.1)  # (a time in seconds differs)
    assert collected("2") == first


def test_a_suite_started_with_ctrl_c_ignored_still_presses_it():
    # was: started as `( make test-spark & )` from a script, the suite passed Ctrl-C ignored on
    # to each run, which went on through it as a run under nohup should, and three tests failed
    code = ("import signal, subprocess, sys; import tests.conftest as c; c.pytest_configure(None); "
            "sys.exit(subprocess.run([sys.executable, '-c', 'import signal, sys; "
            "sys.exit(signal.getsignal(signal.SIGINT) is not signal.default_int_handler)']).returncode)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent, capture_output=True, text=True,
                          timeout=60, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert proc.returncode == 0, proc.stderr
