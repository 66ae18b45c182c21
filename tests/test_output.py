"""Where reports go (-o FILE, --out DIR) and what ccaudit refuses to write over.

Each test states a trap a user fell into: a folder that mixed two reports, an -o that
destroyed the store, a folder or file created somewhere unintended, a CSV a spreadsheet
would execute, a report written through a planted link.
"""
from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import sqlite3
import stat
import subprocess
import sys
import time

import pytest

from ccaudit.errors import ExitCode
from tests.records import signin, write_jsonl


def files_in(folder) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


# -- contradictory or dangerous destinations ------------------------------------------------


def test_out_and_output_together_are_a_usage_error(invoke, tmp_path, sample_cli):
    result = invoke("report", sample_cli, "--out", tmp_path / "r", "-o", tmp_path / "r.txt")
    assert result.exit_code == ExitCode.USAGE and "not both" in result.stderr
    assert not (tmp_path / "r").exists() and not (tmp_path / "r.txt").exists()


@pytest.mark.parametrize("trailing", ["", "/"])
def test_an_out_folder_through_a_link_and_dotdot_is_the_one_the_system_names(invoke, tmp_path, sample_cli,
                                                                             monkeypatch, trailing):
    # link/.. is the parent of the link's target, as for mkdir and ls; was taken as "." by
    # its text, so the report went into ./reports and clean --out looked there
    (tmp_path / "elsewhere" / "sub").mkdir(parents=True)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    os.symlink(tmp_path / "elsewhere" / "sub", "link")
    out = "link/../reports" + trailing
    assert invoke("report", sample_cli, "--out", out, "-q").exit_code == 0
    assert (tmp_path / "elsewhere" / "reports" / "summary.txt").is_file()
    assert not (tmp_path / "work" / "reports").exists()
    result = invoke("clean", "--out", out, "--yes")
    assert result.exit_code == 0 and not (tmp_path / "elsewhere" / "reports").exists()
    assert invoke("report", sample_cli, "-o", "link/../report.txt", "-q").exit_code == 0
    assert (tmp_path / "elsewhere" / "report.txt").is_file() and not (tmp_path / "work" / "report.txt").exists()


@pytest.mark.parametrize("end", ["/.", "/./"])
def test_an_out_folder_named_with_a_dot_at_its_end_is_that_folder(invoke, tmp_path, sample_cli, monkeypatch, end):
    # "reports/." is "reports": a link there is refused, as "reports" and "reports/" are, and a
    # missing one is made (both broke when paths stopped being normalised as text)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", "linkdir")
    result = invoke("report", sample_cli, "--out", "linkdir" + end, "-q")
    assert result.exit_code == 2 and "is a symbolic link" in result.stderr and not os.listdir("elsewhere")
    assert invoke("report", sample_cli, "--out", "new" + end, "-q").exit_code == 0
    assert (tmp_path / "new" / "summary.txt").is_file()
    assert invoke("clean", "--out", "new" + end, "--yes").exit_code == 0 and not (tmp_path / "new").exists()


def test_output_into_a_missing_folder_is_refused(invoke, tmp_path, sample_cli):
    result = invoke("report", sample_cli, "-o", tmp_path / "nonexistent" / "x.txt", "-q")
    assert result.exit_code == ExitCode.USAGE and "no folder" in result.stderr
    assert not (tmp_path / "nonexistent").exists()


def test_store_in_a_missing_folder_is_refused(invoke, tmp_path, sample_cli):
    result = invoke("load", sample_cli, "--db", tmp_path / "new" / "dir" / "s.db", "-q")
    assert result.exit_code == ExitCode.USAGE and "no folder" in result.stderr
    assert not (tmp_path / "new").exists()


def test_out_folder_needs_its_parent(invoke, tmp_path, sample_cli):
    result = invoke("report", sample_cli, "--out", tmp_path / "typo" / "reports", "-q")
    assert result.exit_code == ExitCode.USAGE and not (tmp_path / "typo").exists()
    assert invoke("report", sample_cli, "--out", tmp_path / "reports", "-q").exit_code == 0


@pytest.mark.parametrize("out, words", [("typo/reports", "cannot create the folder: no folder"),
                                        ("/dev/null", "/dev/null: is not a folder")])
def test_an_out_folder_that_cannot_be_made_is_refused_before_the_load(invoke, tmp_path, sample_cli, out, words):
    # was: the dumps were loaded first (minutes for a large one), then the error; /dev/null
    # said "cannot create: File exists"
    db = tmp_path / "s.db"
    result = invoke("report", sample_cli, "--db", db, "--out", out if out.startswith("/") else tmp_path / out)
    assert result.exit_code == ExitCode.USAGE and words in result.stderr, result.stderr
    assert "loaded" not in result.stderr and not db.exists()


def test_output_to_a_socket_is_refused_before_the_load(invoke, tmp_path, sample_cli):
    # was: "sock: cannot write: No such device or address", once the whole load was done
    import socket

    sock, db = tmp_path / "sock", tmp_path / "s.db"
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(sock))
        result = invoke("report", sample_cli, "--db", db, "-o", sock)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert "loaded" not in result.stderr and not db.exists()
    assert result.stderr.endswith(f"{sock}: a socket, which cannot be opened as a file, so the report cannot be "
                                  "written there\n")


@pytest.mark.parametrize("out", ["new/", "new/.", "a-file/"])
def test_output_named_as_a_folder_is_refused_before_the_load(invoke, tmp_path, sample_cli, out):
    # was: "new/: cannot write: Not a directory", after loading the dumps
    (tmp_path / "a-file").write_text("kept")
    db = tmp_path / "s.db"
    result = invoke("report", sample_cli, "--db", db, "-o", f"{tmp_path}/{out}")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert result.stderr == (f"ccaudit: error: {tmp_path}/{out}: cannot create the report: "
                             "that is a folder's name, not a file's\n")
    assert not db.exists() and not (tmp_path / "new").exists() and (tmp_path / "a-file").read_text() == "kept"


@pytest.mark.parametrize(("target", "what"), [("s.db", "the store"), ("dump.txt", "an input"),
                                            ("s.db-journal", "the store's journal"),
                                            ("s.db-wal", "the store's journal")])
def test_output_naming_the_store_its_journal_or_an_input_is_refused(invoke, tmp_path, sample_cli, target, what):
    """A report written as the store's journal was deleted by the next command that opened
    the store (SQLite takes a journal it finds for its own), silently."""
    db, dump = tmp_path / "s.db", tmp_path / "dump.txt"
    dump.write_bytes(sample_cli.read_bytes())
    assert invoke("load", dump, "--db", db, "-q").exit_code == 0
    before = (db.read_bytes(), dump.read_bytes())
    result = invoke("report", dump, "--db", db, "-o", tmp_path / target, "-q")
    assert result.exit_code == ExitCode.USAGE and f"{target} is {what}; give another file" in result.stderr  # was
    # "is the store, its journal or an input": which one, the user had to work out
    assert (db.read_bytes(), dump.read_bytes()) == before
    if target.startswith("s.db-"):
        assert not (tmp_path / target).exists()


@pytest.mark.parametrize("out", ["dump.txt", "/dev/stdin"])
def test_output_naming_the_file_behind_standard_input_is_refused(ccaudit_exe, tmp_path, sample_cli, out):
    # was: `report - -o dump.txt < dump.txt` replaced the dump with its report, exit 0
    # (and `-o /dev/stdin` added the report to it)
    dump = tmp_path / "dump.txt"
    dump.write_bytes(sample_cli.read_bytes())
    with open(dump, "rb") as stdin:
        result = subprocess.run([ccaudit_exe, "report", "-", "-o", out, "-q"], stdin=stdin, cwd=tmp_path,
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == ExitCode.USAGE and f"{out} is an input; give another file" in result.stderr
    assert dump.read_bytes() == sample_cli.read_bytes()


def test_output_naming_another_store_is_refused(invoke, tmp_path, sample_cli):
    # was: `report DUMP -o audit.db` (for --db audit.db) replaced a store of this run's
    # neither side with the text report, exit 0
    other = tmp_path / "audit.db"
    assert invoke("load", sample_cli, "--db", other, "-q").exit_code == 0
    before = other.read_bytes()
    result = invoke("report", sample_cli, "-o", other, "-q")
    assert result.exit_code == ExitCode.USAGE and "audit.db is an SQLite file" in result.stderr
    assert "--db " in result.stderr and other.read_bytes() == before


@pytest.mark.parametrize("name", ["-", "/dev/stdout", "/dev/fd/1"])
def test_output_to_standard_output_in_a_file_the_shell_writes_on_keeps_its_place(ccaudit_exe, tmp_path, sample_cli,
                                                                                  name):
    # was: /dev/stdout opened again, and the shell's next line written over the report's start
    log = tmp_path / "log.txt"
    script = '{ echo header; "$0" report "$1" --format csv -q -o "$2"; echo footer; } > "$3"'
    subprocess.run(["bash", "-c", script, ccaudit_exe, sample_cli, name, log], check=True, timeout=60)
    lines = log.read_text().splitlines()
    assert lines[0] == "header" and lines[1].startswith("date,section,key,00,") and lines[-1] == "footer"


def test_output_to_a_descriptor_passed_non_blocking_waits_for_its_reader(ccaudit_exe, tmp_path):
    # was "cannot write: write could not complete without blocking", exit 2, once the pipe was full
    dump = tmp_path / "d.jsonl"
    subprocess.run([sys.executable, "-m", "benchmarks.generate", "5000", str(dump), "--format", "jsonl", "--days", "3",
                    "--seed", "5"], check=True, capture_output=True, timeout=120)
    whole = subprocess.run([ccaudit_exe, "report", dump, "--format", "json", "-q"], capture_output=True,
                           timeout=120).stdout
    assert len(whole) > 1 << 17  # more than a pipe holds
    r, w = os.pipe()
    os.set_blocking(w, False)
    proc = subprocess.Popen([ccaudit_exe, "report", dump, "--format", "json", "-q", "-o", f"/dev/fd/{w}"],
                            pass_fds=(w,), stderr=subprocess.PIPE)
    os.close(w)
    time.sleep(1)  # a slow reader: the pipe fills
    with os.fdopen(r, "rb") as reader:
        got = reader.read()
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    assert got == whole


@pytest.mark.parametrize("name", ["/dev/stdout", "/proc/self/fd/1", "/dev/fd/1"])
def test_output_to_a_closed_standard_output_is_refused(ccaudit_exe, tmp_path, sample_cli, name):
    """With descriptor 1 closed (`>&-`), SQLite opened the store there, put /dev/null in
    its place, and the report went there: exit 0, no report, no word."""
    result = subprocess.run([ccaudit_exe, "report", sample_cli, "-o", name, "-q"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, timeout=60,
                            preexec_fn=lambda: os.close(1))
    assert result.returncode == ExitCode.USAGE
    assert result.stderr.endswith(f"{name}: descriptor 1 is not open (closed with 1>&-?), so the report would go "
                                  "nowhere\n"), result.stderr


@pytest.mark.parametrize("name", ["/dev/stdin", "/dev/fd/0"])
def test_output_to_a_descriptor_open_only_for_reading_is_refused_before_the_load(ccaudit_exe, tmp_path, sample_cli,
                                                                                  name):
    # `-o /dev/stdin < file`: was refused with "cannot write: Bad file descriptor" once the load and
    # the report were done, and their work lost
    given = tmp_path / "given.txt"
    given.write_text("mine\n")
    with open(given) as stdin:
        result = subprocess.run([ccaudit_exe, "report", sample_cli, "-o", name], stdin=stdin,
                                capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (
        ExitCode.USAGE, f"ccaudit: error: Invalid value for '-o' / '--output': {name}: descriptor 0 is open only "
                        "for reading (<), so the report cannot be written there\n")
    assert given.read_text() == "mine\n"


def test_a_summary_to_a_closed_standard_output_says_so_as_other_commands_do(ccaudit_exe, tmp_path, sample_cli):
    # was: "cannot write to standard output: Bad file descriptor"
    db = tmp_path / "s.db"
    subprocess.run([ccaudit_exe, "load", "-q", "--db", db, sample_cli], check=True, timeout=60)
    result = subprocess.run([ccaudit_exe, "summary", "--db", db], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, timeout=60, preexec_fn=lambda: os.close(1))
    assert result.returncode == ExitCode.USAGE
    assert result.stderr == "ccaudit: error: standard output is closed (>&-?), so the summary would go nowhere\n"


@pytest.mark.parametrize("command, said", [
    (["report"], "the report would go nowhere: give -o FILE"),
    (["report", "--out", "{dir}"], "the report's summary would go nowhere (>/dev/null drops it)"),
    (["diff", "--a", "{dump}", "--b"], "the comparison would go nowhere"),
    (["methods"], "the list would go nowhere"),
    (["load", "--db", "{db}", "-f", "json"], "the load summary would go nowhere"),
    (["spark", "--db", "{db}", "-f", "json"], "the load summary would go nowhere"),  # before Spark starts
    (["check", "--db", "{db}", "--max", "*:*=0/h"], "the check's results would go nowhere"),
])
def test_standard_output_closed_is_refused_before_the_load(ccaudit_exe, tmp_path, sample_cli, command, said):
    # was: the whole load ran, then "cannot write to standard output", exit 2
    named = {"{dump}": str(sample_cli), "{dir}": str(tmp_path / "reports"), "{db}": str(tmp_path / "s.db")}
    args = [named.get(a, a) for a in command] + [str(sample_cli)]
    result = subprocess.run([ccaudit_exe, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, timeout=60, preexec_fn=lambda: os.close(1))
    assert result.returncode == ExitCode.USAGE
    assert result.stderr.endswith(f"standard output is closed (>&-?), so {said}\n"), result.stderr
    assert "loaded" not in result.stderr and not (tmp_path / "s.db").exists()


def test_an_empty_window_is_a_usage_error(invoke, sample_cli):
    result = invoke("report", sample_cli, "--since", "2024-05-08", "--until", "2024-05-07")
    assert result.exit_code == ExitCode.USAGE and "is not before" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("name, fmt", [("2024-05-06.txt", "text"), ("all_events/2024-05-07.json", "json"),
                                       ("summary.md", "markdown"), (".ccaudit-manifest", "text"),
                                       ("2024-05-09.txt", "html")])
def test_a_report_folder_holding_an_input_under_a_report_files_name_is_refused(invoke, tmp_path, sample_cli, name,
                                                                               fmt):
    # was: the dump became the report's day file (and listed in the manifest: clean would
    # delete it later); with html, a day file of the earlier report was removed
    out = tmp_path / "reports"
    if fmt == "html":
        assert invoke("report", sample_cli, "--out", out, "-q").exit_code == 0
    dump = out / name
    dump.parent.mkdir(parents=True, exist_ok=True)
    dump.write_bytes(sample_cli.read_bytes())
    result = invoke("report", dump, "--out", out, "--format", fmt, "-q")
    assert result.exit_code == ExitCode.USAGE and "named as a report file" in result.stderr
    assert dump.read_bytes() == sample_cli.read_bytes()
    link = tmp_path / "link.txt"  # the same dump, named through a link
    link.symlink_to(dump)
    assert invoke("report", link, "--out", out, "--format", fmt, "-q").exit_code == ExitCode.USAGE
    assert dump.read_bytes() == sample_cli.read_bytes()


def test_a_report_folder_may_hold_an_input_under_another_name(invoke, tmp_path, sample_cli):
    out = tmp_path / "reports"
    out.mkdir()
    dump = out / "dump.txt"
    dump.write_bytes(sample_cli.read_bytes())
    assert invoke("report", dump, "--out", out, "-q").exit_code == 0
    assert dump.read_bytes() == sample_cli.read_bytes() and (out / "2024-05-06.txt").exists()


@pytest.mark.parametrize("option", ["-o", "--out"])
def test_an_empty_output_name_names_its_option(invoke, sample_cli, option):
    # was: "--out and -o need a name" for -o
    result = invoke("report", sample_cli, option, "")
    assert result.exit_code == 2 and f"'{option}'" in result.stderr, result.stderr
    assert result.stderr.endswith(": needs a name (it is empty)\n"), result.stderr


def test_output_to_a_dash_is_standard_output(invoke, tmp_path, sample_cli, monkeypatch):
    # was: a file named "-"
    monkeypatch.chdir(tmp_path)
    result = invoke("report", sample_cli, "-o", "-", "-q", "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["summary"]["events"] == 13
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("name, starts", [(".json", "{"), ("r.JSON", "{"), (".md", "# Audit Summary")])
def test_output_format_from_an_extension_alone(invoke, tmp_path, sample_cli, name, starts):
    # was: ".json" (a name that is all extension) was written as text
    assert invoke("report", sample_cli, "-o", tmp_path / name, "-q").exit_code == 0
    assert (tmp_path / name).read_text().startswith(starts)


@pytest.mark.parametrize("name", ["r.xlsx", "r.pdf", "r.jsonl", "new.db", "r.jpeg", "r.tar", "new.db3"])
def test_output_to_another_formats_extension_is_refused_without_a_format(invoke, tmp_path, sample_cli, name):
    # was: written as text under a name that promises a spreadsheet, an archive (.tar) or a store (.db3)
    result = invoke("report", sample_cli, "-o", tmp_path / name, "-q")
    assert result.exit_code == ExitCode.USAGE and "names no report format; give --format" in result.stderr
    assert not (tmp_path / name).exists()
    assert invoke("report", sample_cli, "-o", tmp_path / name, "--format", "csv", "-q").exit_code == 0
    assert (tmp_path / name).read_text().startswith("date,section,key")


@pytest.mark.parametrize("name, meant", [("r.josn", ".json"), ("r.hmtl", ".html"), ("r.xhtml", ".html"),
                                         ("r.jsn", ".json"), ("r.cvs", ".csv"), ("r.mdd", ".md")])
def test_output_to_a_mistyped_formats_extension_is_refused(invoke, tmp_path, sample_cli, name, meant):
    # was: a text report under a name that meant json, html, csv or markdown (exit 0)
    result = invoke("report", sample_cli, "-o", tmp_path / name, "-q")
    assert result.exit_code == ExitCode.USAGE and f"(did you mean {meant}?); give --format" in result.stderr
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("name", ["report.2024-05-13", "audit-v1.2", "report.log", "r.out", "r.bak", "r.old",
                                  "r.tmp", "r.sav"])  # were refused: "did you mean .htm?" (".csv?"), for -o "$f.tmp"
def test_output_to_a_name_whose_dot_is_not_a_formats_is_text(invoke, tmp_path, sample_cli, name):
    # was refused (".2024-05-13 names no report format"): -o report.$(date +%F) in a crontab
    result = invoke("report", sample_cli, "-o", tmp_path / name, "-q")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / name).read_text() == invoke("report", sample_cli, "-q").stdout


@pytest.mark.parametrize("name, starts", [("r.json.tmp", "{"), ("r.html.part", "<!DOCTYPE html>"), ("r.tmp", "Audit")])
def test_output_to_a_name_set_aside_takes_the_format_of_the_name_before(invoke, tmp_path, sample_cli, name, starts):
    # -o "$f.tmp" && mv "$f.tmp" "$f": r.json.tmp was written as text, then renamed r.json
    assert invoke("report", sample_cli, "-o", tmp_path / name, "-q").exit_code == 0
    assert (tmp_path / name).read_text().startswith(starts)


@pytest.mark.parametrize("name, starts", [("report", "Audit Summary"), ("r.markdown", "# Audit Summary"),
                                          ("r.text", "Audit Summary")])
def test_output_without_an_extension_or_by_a_long_one(invoke, tmp_path, sample_cli, name, starts):
    assert invoke("report", sample_cli, "-o", tmp_path / name, "-q").exit_code == 0
    assert (tmp_path / name).read_text().startswith(starts)


@pytest.mark.parametrize("name, tool", [("r.md.gz", "gzip"), ("r.json.xz", "xz"), ("r.txt.bz2", "bzip2"),
                                        ("r.csv.zst", "zstd"), ("r.zip", "zip"), (".gz", "gzip"),
                                        ("..gz", "gzip"),  # was an internal error (KeyError)
                                        # were written as plain text under their names
                                        ("r.tgz", "gzip"), ("r.txz", "xz"), ("r.tbz2", "bzip2"), ("r.lzma", "xz"),
                                        ("r.lz4", "lz4"), ("r.lz", "lzip"), ("r.zstd", "zstd"), ("r.br", "brotli"),
                                        ("r.7z", "7z"), ("R.Z", "compress"), ("r.rar", "rar")])
def test_output_to_a_compressed_name_is_refused(invoke, tmp_path, sample_cli, name, tool):
    # was: written uncompressed under a name that says it is compressed; then told to pipe it
    # through gzip whatever the name asked for
    result = invoke("report", sample_cli, "-o", tmp_path / name, "-q")
    assert result.exit_code == ExitCode.USAGE and "does not compress a report" in result.stderr
    assert f"pipe it through {tool}," in result.stderr
    assert not (tmp_path / name).exists()


# -- a report folder is one report -----------------------------------------------------------


def test_a_narrower_report_replaces_the_folder(invoke, tmp_path, sample_cli):
    out = tmp_path / "reports"
    invoke("report", sample_cli, "--out", out, "-q")
    assert "2024-05-09.txt" in files_in(out)
    invoke("report", sample_cli, "--out", out, "-q", "--until", "2024-05-06")
    assert files_in(out) == {".ccaudit-manifest", "summary.txt", "2024-05-06.txt"} | {
        f"{s}/2024-05-06.txt" for s in ("kafka_authentication", "mds_authorize", "signin_failure",
                                        "signin_success", "all_events")}
    assert "2024-05-09" not in (out / "summary.txt").read_text()


def refuse_removing(monkeypatch, name: str) -> None:
    """os.unlink (os.remove) of a file called ``name`` fails as in a folder made read-only
    (which root, who may run the tests, could still write to)."""
    remove = os.unlink

    def refusing(path, *args, **kwargs):
        if os.path.basename(path) == name:
            raise PermissionError(13, "Permission denied")
        return remove(path, *args, **kwargs)

    monkeypatch.setattr(os, "remove", refusing)
    monkeypatch.setattr(os, "unlink", refusing)


def test_an_earlier_report_file_that_cannot_be_removed_stays_listed(invoke, tmp_path, sample_cli, monkeypatch):
    # was: an internal error (exit 70), after the new manifest left that file unlisted
    out = tmp_path / "reports"
    invoke("report", sample_cli, "--out", out, "-q")
    with monkeypatch.context() as m:
        refuse_removing(m, "2024-05-09.txt")
        result = invoke("report", sample_cli, "--out", out, "-q", "--until", "2024-05-06")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr.splitlines()[-1] == (
        f"ccaudit: error: {out}: the report is written, but 6 files of the earlier one could not be removed "
        f"({out}/2024-05-09.txt: Permission denied); its manifest still lists them")  # a day, and its 5 sections
    listed = (out / ".ccaudit-manifest").read_text().splitlines()[1:]
    assert "2024-05-06.txt" in listed and "2024-05-09.txt" in listed and "2024-05-08.txt" not in listed
    assert invoke("report", sample_cli, "--out", out, "-q", "--until", "2024-05-06").exit_code == 0
    assert "2024-05-09.txt" not in files_in(out)


def test_an_earlier_summary_that_cannot_be_removed_stops_the_report_before_it_writes(invoke, tmp_path, sample_cli,
                                                                                     monkeypatch):
    # was: every day rewritten, then "holds part of the report ... and no summary" beside the earlier summary
    out = tmp_path / "reports"
    invoke("report", sample_cli, "--out", out, "-q", "--until", "2024-05-06")
    before = {name: (out / name).read_bytes() for name in files_in(out) if name != ".ccaudit-manifest"}
    with monkeypatch.context() as m:
        refuse_removing(m, "summary.txt")
        result = invoke("report", sample_cli, "--out", out, "-q")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr.splitlines()[-1] == (
        f"ccaudit: error: {out}/summary.txt: Permission denied: the earlier report's summary could not be removed, "
        "so nothing of this one was written")
    assert {name: (out / name).read_bytes() for name in files_in(out) if name != ".ccaudit-manifest"} == before
    assert invoke("report", sample_cli, "--out", out, "-q").exit_code == 0
    assert "2024-05-09.txt" in files_in(out)


def test_a_report_file_that_clean_cannot_delete_stays_listed(invoke, tmp_path, sample_cli, monkeypatch):
    # was: an internal error (exit 70), the manifest gone with half the files
    out = tmp_path / "reports"
    invoke("report", sample_cli, "--out", out, "-q")
    with monkeypatch.context() as m:
        refuse_removing(m, "2024-05-07.txt")
        result = invoke("clean", "--out", out)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "report files could not be deleted" in result.stderr and "internal error" not in result.stderr
    assert files_in(out) == {".ccaudit-manifest", "2024-05-07.txt"} | {
        f"{s}/2024-05-07.txt" for s in ("kafka_authentication", "mds_authorize", "signin_failure",
                                        "signin_success", "all_events")}
    assert sorted((out / ".ccaudit-manifest").read_text().splitlines()[1:]) == sorted(files_in(out) - {
        ".ccaudit-manifest"})
    assert invoke("clean", "--out", out).exit_code == 0 and not out.exists()


@pytest.mark.parametrize("earlier", [False, True])
def test_a_report_stopped_half_way_leaves_a_folder_clean_empties(invoke, tmp_path, sample_cli, monkeypatch,
                                                                  earlier):
    # was: the day files written so far, and no manifest (a new folder: clean refused it)
    # or the earlier one (whose list missed the new days)
    import ccaudit.output

    out = tmp_path / "reports"
    if earlier:
        assert invoke("report", sample_cli, "--out", out, "-q", "--until", "2024-05-06").exit_code == 0
    write_day, days = ccaudit.output._write_day, []

    def stopped(day, *args):
        days.append(day.date)
        if len(days) == 3:
            raise KeyboardInterrupt
        return write_day(day, *args)

    with monkeypatch.context() as m:
        m.setattr(ccaudit.output, "_write_day", stopped)
        assert invoke("report", sample_cli, "--out", out, "-q", "--since", "2024-05-07").exit_code == 130
    assert "2024-05-08.txt" in files_in(out)
    result = invoke("clean", "--out", out)
    assert result.exit_code == 0, result.output
    assert not out.exists()


def test_a_report_stopped_as_it_removes_the_earlier_ones_files_leaves_them_listed(invoke, tmp_path, sample_cli,
                                                                                    monkeypatch):
    # the manifest was rewritten without them first: left unlisted, the next report into the
    # folder refused their names ("no earlier report wrote"), and clean left them behind
    out = tmp_path / "reports"
    assert invoke("report", sample_cli, "--out", out, "-q").exit_code == 0
    remove = os.unlink

    def stopped(path, *args, **kwargs):
        if str(path).startswith("2024-05-06"):
            raise KeyboardInterrupt
        return remove(path, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(os, "unlink", stopped)
        assert invoke("report", sample_cli, "--out", out, "-q", "--since", "2024-05-07").exit_code == 130
    assert "2024-05-06.txt" in files_in(out)
    assert set((out / ".ccaudit-manifest").read_text().splitlines()[1:]) >= files_in(out) - {".ccaudit-manifest"}
    assert invoke("report", sample_cli, "--out", out, "-q").exit_code == 0
    assert invoke("clean", "--out", out).exit_code == 0 and not out.exists()


def test_clean_removes_what_a_killed_report_half_wrote(invoke, tmp_path, sample_cli):
    # a report killed (SIGKILL, the OOM killer) as it wrote a file leaves its part: clean kept
    # it and the folder ("other files were left there"), though no run of ours was writing
    from ccaudit.folders import PART_MARK

    out = tmp_path / "reports"
    assert invoke("report", sample_cli, "--out", out, "-q").exit_code == 0
    for part in (out / f".summary.txt{PART_MARK}abcd1234.part", out / f"all_events/.x.txt{PART_MARK}efgh5678.part"):
        part.write_text("half a report")
    assert invoke("clean", "--out", out).exit_code == 0
    assert not out.exists()


def test_a_report_of_fewer_sections_or_another_format_replaces_the_folder(invoke, tmp_path, sample_cli):
    # the files written are looked up by their shape, section and date (a folder can hold
    # a million: their names are never listed in memory)
    out = tmp_path / "reports"
    invoke("report", sample_cli, "--out", out, "-q", "--format", "json")
    invoke("report", sample_cli, "--out", out, "-q", "--section", "signin_failure", "--since", "2024-05-07")
    days = {"2024-05-07", "2024-05-08", "2024-05-09"}
    assert files_in(out) == {".ccaudit-manifest", "summary.txt"} | {f"{d}.txt" for d in days} | {
        f"signin_failure/{d}.txt" for d in days}
    assert (out / ".ccaudit-manifest").read_text().splitlines()[1:] == [
        "signin_failure/2024-05-07.txt", "2024-05-07.txt", "signin_failure/2024-05-08.txt", "2024-05-08.txt",
        "signin_failure/2024-05-09.txt", "2024-05-09.txt", "summary.txt"]
    invoke("report", sample_cli, "--out", out, "-q", "--format", "html")
    assert files_in(out) == {".ccaudit-manifest", "summary.txt", "report.html"}


def test_a_folder_of_days_in_a_list_gets_each_days_own_sections(tmp_path):
    # a report a program made of Day objects, its days neither alike nor in date order:
    # each day's own files are written and listed, and writing it again removes none
    from ccaudit.output import write_dir
    from ccaudit.report import Day, Report, Row, Section

    def day(date: str, *sids: str) -> Day:
        row = Row("k", [1] + [0] * 23, 1, f"{date}T00:00:00Z", f"{date}T00:00:00Z", "00", 1)
        return Day(date, 1, [f"{h:02d}" for h in range(24)], {s: Section(s, s, [row]) for s in sids})

    report = Report([day("2024-05-07", "all_events", "signin_failure"), day("2024-05-06", "all_events")])
    expected = {".ccaudit-manifest", "summary.txt", "2024-05-06.txt", "2024-05-07.txt", "all_events/2024-05-06.txt",
                "all_events/2024-05-07.txt", "signin_failure/2024-05-07.txt"}
    for _ in range(2):
        write_dir(report, "text", str(tmp_path / "r"))
        assert files_in(tmp_path / "r") == expected
    assert (tmp_path / "r" / ".ccaudit-manifest").read_text().splitlines()[1:] == [
        "all_events/2024-05-07.txt", "signin_failure/2024-05-07.txt", "2024-05-07.txt", "all_events/2024-05-06.txt",
        "2024-05-06.txt", "summary.txt"]


def test_a_report_folder_keeps_the_users_own_files(invoke, tmp_path, sample_cli):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    invoke("report", sample_cli, "--out", out, "-q", "--format", "markdown")
    invoke("report", sample_cli, "--out", out, "-q", "--format", "csv")
    assert (out / "notes.md").read_text() == "mine"
    assert not any(name.endswith(".md") and name != "notes.md" for name in files_in(out))


def test_a_planted_link_is_replaced_not_written_through(invoke, tmp_path, sample_cli):
    out, victim = tmp_path / "reports", tmp_path / "victim.txt"
    victim.write_text("precious")
    assert invoke("report", sample_cli, "--out", out, "-q").exit_code == 0
    (out / "summary.txt").unlink()  # a file the manifest lists, replaced by a link
    (out / "summary.txt").symlink_to(victim)
    (tmp_path / "one.txt").symlink_to(victim)
    assert invoke("report", sample_cli, "--out", out, "-q").exit_code == 0
    assert invoke("report", sample_cli, "-o", tmp_path / "one.txt", "-q").exit_code == 0
    assert victim.read_text() == "precious"
    assert not (out / "summary.txt").is_symlink() and "Audit Summary" in (out / "summary.txt").read_text()


@pytest.mark.parametrize("name", ["summary.txt", "2024-05-06.txt", "all_events/2024-05-07.txt"])
def test_a_file_of_a_report_files_name_that_no_manifest_lists_is_left_alone(invoke, tmp_path, sample_cli, name):
    # "other files in the folder are left alone": was replaced, then listed (clean deleted it)
    out = tmp_path / "reports"
    (out / name).parent.mkdir(parents=True)
    (out / name).write_text("mine")
    result = invoke("report", sample_cli, "--out", out, "-q")
    assert result.exit_code == ExitCode.USAGE and "no earlier report wrote" in result.stderr
    assert (out / name).read_text() == "mine" and not (out / ".ccaudit-manifest").exists()


@pytest.mark.parametrize("name", ["summary.txt", "2024-05-06.txt", "all_events/2024-05-07.txt"])
def test_a_store_under_a_listed_report_files_name_is_neither_written_over_nor_deleted(invoke, tmp_path, sample_cli,
                                                                                     name):
    # was: a second report wrote over it, and clean --out deleted it (its name was listed),
    # where -o refuses an SQLite file
    out = tmp_path / "reports"
    assert invoke("report", sample_cli, "--out", out, "-q").exit_code == 0
    (out / name).unlink()
    assert invoke("load", sample_cli, "--db", out / name, "-q").exit_code == 0
    store = (out / name).read_bytes()
    for args in (["report", sample_cli, "--out", out, "-q"], ["clean", "--out", out, "--yes"]):
        result = invoke(*args)
        assert result.exit_code == ExitCode.USAGE and "an SQLite file (a store?)" in result.stderr, result.stderr
        assert (out / name).read_bytes() == store and result.stderr.count("ccaudit: error:") == 1


@pytest.mark.parametrize(("fmt", "name", "manifest", "why"), [
    ("text", "summary.txt", "", "no earlier report wrote"), ("csv", "summary.csv", "", "no earlier report wrote"),
    ("html", "report.html", "", "no earlier report wrote"),
    ("text", "notes.txt", "../notes.txt\n", "lists '../notes.txt', which is not a report file")])
def test_a_report_folder_that_would_be_refused_is_refused_before_the_load(invoke, tmp_path, sample_cli, fmt, name,
                                                                          manifest, why):
    # was: refused once the dumps were loaded (the store given with --db then held them)
    out, store = tmp_path / "reports", tmp_path / "audit.db"
    out.mkdir()
    (out / name).write_text("mine")
    if manifest:
        (out / ".ccaudit-manifest").write_text(manifest)
    result = invoke("report", sample_cli, "--db", store, "--out", out, "--format", fmt)
    assert result.exit_code == ExitCode.USAGE and why in result.stderr and "loaded" not in result.stderr
    assert not store.exists() and (out / name).read_text() == "mine"


def test_a_manifest_line_that_is_not_utf8_is_shown_with_its_byte(invoke, tmp_path):
    # was "lists '2024-05-06.txt\ufffd'": the byte replaced, where every other message shows it
    out = tmp_path / "reports"
    out.mkdir()
    (out / ".ccaudit-manifest").write_bytes(b"summary.txt\n2024-05-06.txt\xff\n")
    result = invoke("clean", "--out", out, "--yes")
    assert result.exit_code == ExitCode.USAGE and result.stderr.splitlines() == [
        f"ccaudit: error: {out}/.ccaudit-manifest: lists '2024-05-06.txt\\xff', which is not a report file; "
        "not touched"]


def test_report_files_are_owner_only(invoke, tmp_path, sample_cli):
    out = tmp_path / "reports"
    invoke("report", sample_cli, "--out", out, "-q")
    invoke("report", sample_cli, "-o", tmp_path / "r.html", "--format", "html", "-q")
    for path in [out, *out.rglob("*"), tmp_path / "r.html"]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_a_failed_write_leaves_the_previous_report(invoke, tmp_path, sample_cli, monkeypatch):
    target = tmp_path / "r.txt"
    target.write_text("previous complete report")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    result = invoke("report", sample_cli, "-o", target, "-q")
    assert result.exit_code == ExitCode.USAGE and "No space left" in result.stderr
    assert target.read_text() == "previous complete report"
    assert [p.name for p in tmp_path.iterdir()] == ["r.txt"]  # no temporary file left


# -- clean -----------------------------------------------------------------------------------


def test_clean_refuses_a_folder_without_a_manifest_and_deletes_nothing(invoke, tmp_path, sample_cli):
    db, project = tmp_path / "s.db", tmp_path / "project"
    invoke("load", sample_cli, "--db", db, "-q")
    (project / "src").mkdir(parents=True)
    (project / "summary.md").write_text("# my project")
    result = invoke("clean", "--db", db, "--out", project, "--yes")
    assert result.exit_code == ExitCode.USAGE and "no .ccaudit-manifest" in result.stderr
    assert db.exists() and (project / "summary.md").exists() and (project / "src").is_dir()


def test_clean_refuses_a_linked_folder(invoke, tmp_path, sample_cli):
    db, out = tmp_path / "s.db", tmp_path / "reports"
    invoke("report", sample_cli, "--db", db, "--out", out, "-q")
    (tmp_path / "link").symlink_to(out)
    result = invoke("clean", "--db", db, "--out", tmp_path / "link", "--yes")
    assert result.exit_code == ExitCode.USAGE and db.exists() and (out / "summary.txt").exists()


def test_clean_deletes_only_what_the_manifest_lists(invoke, tmp_path, sample_cli):
    db, out = tmp_path / "s.db", tmp_path / "reports"
    invoke("report", sample_cli, "--db", db, "--out", out, "-q")
    (out / "mine.txt").write_text("keep")
    result = invoke("clean", "--db", db, "--out", out, "--yes")
    assert result.exit_code == 0 and not db.exists()
    assert files_in(out) == {"mine.txt"}


def test_declining_clean_exits_1_and_deletes_nothing(invoke, tmp_path, sample_cli, monkeypatch):
    db = tmp_path / "s.db"
    invoke("load", sample_cli, "--db", db, "-q")
    monkeypatch.setattr("ccaudit.asking.interactive", lambda: True)
    result = invoke("clean", "--db", db, input="n\n")
    assert result.exit_code == ExitCode.CHECK_FAILED and "nothing deleted" in result.stderr
    assert db.exists()


# -- CSV -------------------------------------------------------------------------------------


def test_csv_on_stdout_is_one_table(invoke, sample_cli, expected_sample):
    out = invoke("report", sample_cli, "--format", "csv", "-q").stdout
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0][:4] == ["date", "section", "key", "00"] and "" not in out.splitlines()
    assert all(len(r) == len(rows[0]) for r in rows) and sum(r[0] == "date" for r in rows) == 1
    per_day = {}
    for r in rows[1:]:
        if r[1] == "all_events":
            per_day[r[0]] = per_day.get(r[0], 0) + int(r[rows[0].index("total")])
    assert per_day == {d: n for d, n in expected_sample["per_day"].items() if n}


def _signin_keys_in_csv(invoke, tmp_path, emails: list[str]) -> tuple[list[str], str]:
    """The key cells of a CSV report of one successful sign-in by each of ``emails``, and the report."""
    dump = tmp_path / "signins.jsonl"
    dump.write_text("".join(
        '{"id":"%d","time":"2024-05-07T05:00:00Z","data":{"methodName":"SignIn",'
        '"authenticationInfo":{"result":"SUCCESS","principal":{"email":%s}}}}\n' % (i, _json(e))
        for i, e in enumerate(emails)))
    out = invoke("report", dump, "--format", "csv", "--section", "signin_success", "-q").stdout
    return [r[2] for r in csv.reader(io.StringIO(out))][1:], out


def test_csv_cells_never_run_as_formulas(invoke, tmp_path):
    emails = ["=HYPERLINK(\"http://x\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "bell\x07"]
    keys, out = _signin_keys_in_csv(invoke, tmp_path, emails)
    assert sorted(keys) == sorted(["'=HYPERLINK(\"http://x\")", "'+cmd|' /C calc'!A0", "'-2+3", "'@SUM(A1)",
                                   "\\x09x", "bell\\x07"])
    assert "\x07" not in out and "\t" not in out


def test_csv_keys_that_differ_only_by_a_leading_quote_stay_two(invoke, tmp_path):
    """The quote put before a formula's start is itself doubled at the start of a key, so
    that a reader can take one off again: ``'=x`` typed at a sign-in is not the ``=x`` of
    another row."""
    emails = ["=x", "'=x", "-1", "'-1", "''@a", "'plain", "plain"]
    keys, _ = _signin_keys_in_csv(invoke, tmp_path, emails)
    assert sorted(keys) == sorted(["'=x", "''=x", "'-1", "''-1", "'''@a", "''plain", "plain"])
    assert sorted(k[1:] if k.startswith("'") else k for k in keys) == sorted(emails)


def _json(text: str) -> str:
    import json

    return json.dumps(text)


# -- errors ----------------------------------------------------------------------------------


def test_an_internal_error_has_its_own_exit_code(sample_cli, monkeypatch):
    from click.testing import CliRunner

    import ccaudit.cli
    import ccaudit.options

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(ccaudit.options, "build", broken)
    result = CliRunner().invoke(ccaudit.cli.cli, ["report", str(sample_cli), "-q"])
    assert result.exit_code == ExitCode.INTERNAL == 70
    assert "internal error: ZeroDivisionError: a bug" in result.stderr


def test_output_naming_a_store_about_to_be_created_is_refused(invoke, tmp_path, sample_cli):
    db = tmp_path / "new.db"
    result = invoke("report", sample_cli, "--db", db, "-o", db, "-q")
    assert result.exit_code == ExitCode.USAGE and not db.exists()


@pytest.mark.parametrize("name, start", [("r.html", "<!DOCTYPE html>"), ("r.json", "{"), ("r.md", "# Audit"),
                                         ("r.csv", "date,events"), ("r.txt", "Audit Summary")])
def test_the_output_extension_picks_the_format(invoke, tmp_path, sample_cli, name, start):
    assert invoke("report", sample_cli, "-o", tmp_path / name, "-q").exit_code == 0
    head = (tmp_path / name).read_text()
    assert head.startswith(start) or (name == "r.csv" and head.startswith("date,section,key"))


def test_format_wins_over_the_output_extension(invoke, tmp_path, sample_cli):
    invoke("report", sample_cli, "-o", tmp_path / "r.html", "--format", "text", "-q")
    assert (tmp_path / "r.html").read_text().startswith("Audit Summary")


def test_clean_takes_a_folder_with_a_trailing_slash_and_no_store(invoke, tmp_path, sample_cli):
    out = tmp_path / "reports"
    invoke("report", sample_cli, "--out", out, "-q")
    result = invoke("clean", "--out", f"{out}/", "--yes")
    assert result.exit_code == 0 and not out.exists()
    assert invoke("clean", "--yes").exit_code == ExitCode.USAGE


def test_a_planted_manifest_cannot_delete_outside_the_folder(invoke, tmp_path, sample_cli):
    out, victim = tmp_path / "rep", tmp_path / "victim"
    invoke("report", sample_cli, "--out", out, "-q")
    victim.mkdir()
    (victim / "2024-05-06.txt").write_text("precious")
    (out / "mds_authorize").rename(tmp_path / "moved")
    (out / "mds_authorize").symlink_to(victim)  # a section folder replaced by a link
    with open(out / ".ccaudit-manifest", "a") as f:
        f.write("mds_authorize/2024-05-06.txt\n")
    assert invoke("report", sample_cli, "--out", out, "-q", "--until", "2024-05-05").exit_code == 0
    assert invoke("clean", "--out", out, "--yes").exit_code == 0
    assert (victim / "2024-05-06.txt").read_text() == "precious"


def test_a_section_folder_that_is_a_link_is_refused_before_anything_is_written(invoke, tmp_path, sample_cli):
    # was refused after the manifest was written, saying the folder held part of the report
    out, elsewhere = tmp_path / "rep", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "kafka_authentication").symlink_to(elsewhere)
    result = invoke("report", sample_cli, "--out", out, "-q")
    said = f"ccaudit: error: {out}/kafka_authentication: is a symbolic link; give the real folder"
    assert result.exit_code == 2 and result.stderr.splitlines()[-1] == said
    assert sorted(p.name for p in out.iterdir()) == ["kafka_authentication"] and not list(elsewhere.iterdir())



@pytest.mark.parametrize("command", ["report", "clean"])
def test_a_manifest_that_cannot_be_read_is_one_line(invoke, tmp_path, sample_cli, monkeypatch, command):
    # was an internal error (exit 70) for a manifest made unreadable (mode 000)
    from ccaudit.folders import Folder

    out = tmp_path / "reports"
    assert invoke("report", sample_cli, "--out", out, "-q").exit_code == 0
    opening = Folder.open

    def refused(self, name, *args, **kwargs):
        if name == ".ccaudit-manifest":
            raise PermissionError(13, "Permission denied")  # root reads any file: as for another user
        return opening(self, name, *args, **kwargs)

    monkeypatch.setattr(Folder, "open", refused)
    result = invoke(*(["report", sample_cli, "-q"] if command == "report" else ["clean", "--yes"]), "--out", out)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (f"ccaudit: error: {out}/.ccaudit-manifest: cannot read: "
                                              "Permission denied; not touched")


def test_a_report_folder_that_cannot_be_searched_is_one_line(invoke, tmp_path, sample_cli, monkeypatch):
    # a folder of mode 0600 (read, no search): was an internal error (exit 70) naming no
    # path, as its section folders were looked for in it
    out = tmp_path / "reports"
    out.mkdir()
    stat_of = os.stat

    def unsearchable(path, *args, dir_fd=None, **kwargs):  # as for mode 0600 (root may search any folder)
        if dir_fd is not None:
            raise PermissionError(13, "Permission denied", path)
        return stat_of(path, *args, dir_fd=dir_fd, **kwargs)

    monkeypatch.setattr(os, "stat", unsearchable)
    result = invoke("report", sample_cli, "--out", out, "-q")
    assert result.exit_code == 2
    said = f"ccaudit: error: {out}/.ccaudit-manifest: cannot reach it: Permission denied"
    assert result.stderr.splitlines()[-1] == said


def swap_for_link(folder, victim, moved) -> None:
    """What another user who may write ``folder``'s parent does: the folder moved away,
    and a link to a folder of theirs put in its place."""
    os.rename(folder, moved)
    folder.symlink_to(victim)


@pytest.mark.parametrize("swapped", [".", "kafka_authentication"])
def test_a_folder_swapped_for_a_link_mid_report_leads_nowhere(invoke, tmp_path, sample_cli, monkeypatch, swapped):
    # was: files written by path, so a section folder swapped for a link (by another user who
    # may write the report folder: mode 0777) took the rest of its day files wherever the
    # link led; the report folder itself, swapped, failed the report
    import ccaudit.output

    out, victim = tmp_path / "shared" / "reports", tmp_path / "theirs"
    out.parent.mkdir()
    victim.mkdir()
    section_chunks, calls = ccaudit.output.section_chunks, []

    def swapping_first(*args, **kwargs):
        if not calls:
            swap_for_link((out / swapped).resolve(), victim, tmp_path / "moved")
        calls.append(args)
        return section_chunks(*args, **kwargs)

    monkeypatch.setattr(ccaudit.output, "section_chunks", swapping_first)
    result = invoke("report", sample_cli, "--out", out, "-q")
    assert result.exit_code == 0, result.stderr
    assert list(victim.iterdir()) == []
    held = files_in(tmp_path / "moved")  # the folder written into: the one checked
    if swapped != ".":
        held = {f"{swapped}/{name}" for name in held} | files_in(out)
    assert {f"{swapped}/2024-05-09.txt".lstrip("./"), "2024-05-09.txt", "summary.txt"} <= held


@pytest.mark.parametrize("entry", ["../victim.txt", "/etc/passwd", "notes.txt", "sub/x.txt"])
def test_a_manifest_may_list_only_report_files(invoke, tmp_path, sample_cli, entry):
    out = tmp_path / "rep"
    invoke("report", sample_cli, "--out", out, "-q")
    with open(out / ".ccaudit-manifest", "a") as f:
        f.write(entry + "\n")
    result = invoke("clean", "--out", out, "--yes")
    assert result.exit_code == ExitCode.USAGE and "not a report file" in result.stderr


def test_a_store_is_not_created_through_a_dangling_link(invoke, tmp_path, sample_cli):
    (tmp_path / "store.db").symlink_to(tmp_path / "elsewhere.db")
    result = invoke("load", sample_cli, "--db", tmp_path / "store.db", "-q")
    assert result.exit_code == ExitCode.USAGE and "symbolic link" in result.stderr
    assert not (tmp_path / "elsewhere.db").exists()


def test_an_empty_file_made_a_store_is_owner_only(invoke, tmp_path, sample_cli):
    db = tmp_path / "empty.db"
    db.touch(mode=0o644)
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_file_names_reach_stderr_printable(invoke, tmp_path):
    dump = tmp_path / "dump\x1b]0;pwned\x07.txt"
    dump.write_bytes(b"garbage\n")
    result = invoke("load", dump, "--db", tmp_path / "s.db")
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr and "\\x1b]0;pwned\\x07" in result.stderr


@pytest.mark.parametrize("args", [["--until", "10000-01-01"], ["-o", ""], ["--out", ""]])
def test_odd_option_values_are_usage_errors(invoke, sample_cli, args):
    result = invoke("report", sample_cli, *args, "-q")
    assert result.exit_code == ExitCode.USAGE and result.stdout == ""


@pytest.mark.parametrize("command", ["report", "methods"])
def test_a_reader_that_goes_away_stops_ccaudit_quietly(ccaudit_exe, tmp_path, command):
    # `ccaudit report … | head`: no traceback, no "internal error", exit 141 as SIGPIPE would
    # give. `methods` exited 0 here: it wrote its whole output with one click.echo.
    from tests.records import request, signin, write_jsonl

    records = [signin("2024-05-07T05:00:00Z", f"user{i}@example.com") if command == "report" else
               request("2024-05-07T05:00:00Z", f"Method{i}") for i in range(3000)]  # more than a pipe holds
    proc = subprocess.Popen([ccaudit_exe, command, write_jsonl(tmp_path, records), "-q"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == ExitCode.BROKEN_PIPE == 141
    assert "internal error" not in err and "Traceback" not in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("how", ["out", "o"])
def test_a_link_planted_at_an_output_to_another_users_pipe_is_replaced_not_written_through(invoke, tmp_path,
                                                                                         sample_cli, how):
    # was: a link to a FIFO counted as "a device: write through", so whoever read the FIFO
    # (another user, in a shared folder) got the report; and with no reader, ccaudit hung
    pipe = tmp_path / "attacker" / "pipe"
    pipe.parent.mkdir()
    os.mkfifo(pipe)
    folder = tmp_path / "shared"
    if how == "out":  # an earlier report's file, replaced by a link
        assert invoke("report", sample_cli, "--out", folder, "-q").exit_code == 0
        (folder / "summary.txt").unlink()
    else:
        folder.mkdir()
    link = folder / ("summary.txt" if how == "out" else "report.txt")
    link.symlink_to(pipe)
    args = ["--out", str(folder)] if how == "out" else ["-o", str(link)]
    result = invoke("report", sample_cli, *args, "-q")  # would block on the FIFO
    assert result.exit_code == 0, result.stderr
    assert not link.is_symlink() and link.read_text().startswith("Audit Summary")
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)


@pytest.mark.parametrize("fmt", ["json", "csv", "html", "text", "markdown"])
def test_standard_output_is_utf8_whatever_the_locale(ccaudit_exe, tmp_path, fmt):
    # was: under a Latin-1 locale, "josé" reached stdout as b"jos\xe9": JSON that no parser
    # reads, an html page that says it is UTF-8, and bytes that differ by LANG, with exit 0
    dump = write_jsonl(tmp_path, [signin("2024-05-07T05:00:00Z", e) for e in ("jos\u00e9@x.com", "zo\u00eb@x.com")])
    runs = {}
    for encoding in ("utf-8", "latin-1", "ascii"):
        env = dict(os.environ, PYTHONIOENCODING=encoding)
        done = subprocess.run([ccaudit_exe, "report", dump, "--format", fmt, "-q"], capture_output=True, env=env)
        assert done.returncode == 0, done.stderr
        runs[encoding] = done.stdout
    assert runs["latin-1"] == runs["ascii"] == runs["utf-8"]
    assert "jos\u00e9@x.com".encode() in runs["utf-8"]


@pytest.mark.parametrize("command", [["load", "--db", "s.db"], ["report", "--db", "s.db", "-o", "r.txt"]])
def test_a_closed_standard_error_does_not_stop_a_load(ccaudit_exe, tmp_path, sample_cli, command):
    # was: exit 70 (sys.stderr is None, asked whether it is a terminal) and nothing loaded
    result = subprocess.run([ccaudit_exe, command[0], sample_cli, *command[1:]], cwd=tmp_path, timeout=60,
                            stdout=subprocess.DEVNULL, preexec_fn=lambda: os.close(2))
    assert result.returncode == 0
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (13,)
    assert command[0] == "load" or (tmp_path / "r.txt").read_text().startswith("Audit Summary for 13 events")


@pytest.mark.parametrize("command", [["report", "SAMPLE", "--out", "OUT"], ["clean", "--out", "OUT", "--yes"],
                                     ["export", "--db", "STORE", "--out", "OUT"]], ids=["report", "clean", "export"])
def test_a_run_writing_into_a_folder_waits_for_another_writing_into_it(tmp_path, sample_cli, ccaudit_exe, command):
    # two reports into one folder at once each removed the other's files as the earlier
    # report's: both exited 0, and the summary listed days whose files were gone
    if command[0] == "export":
        pytest.importorskip("pyarrow")
    store, out = tmp_path / "s.db", tmp_path / ("exported" if command[0] == "export" else "reports")
    subprocess.run([ccaudit_exe, "report", sample_cli, "--db", store, "-q",
                    *(["--out", out] if command[0] == "clean" else [])], check=True, capture_output=True)
    out.mkdir(exist_ok=True)
    before = sorted(os.listdir(out))
    held = os.open(out, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)  # as another ccaudit writing into it holds it
    args = [{"SAMPLE": sample_cli, "OUT": out, "STORE": store}.get(a, a) for a in command]
    proc = subprocess.Popen([ccaudit_exe, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        said = iter(proc.stderr.readline, "")
        assert any("another ccaudit is writing into it; waiting for it to end" in line for line in said)
        assert sorted(os.listdir(out)) == before  # nothing written or removed while it waits
    finally:
        os.close(held)
    assert proc.wait(60) == 0
    assert not out.exists() or sorted(os.listdir(out)) != before  # clean removes the folder it empties


def test_a_run_that_waited_for_a_folder_removed_meanwhile_writes_into_the_folder_of_that_name(tmp_path, sample_cli,
                                                                                             ccaudit_exe):
    # was "R/kafka_authentication: cannot create the folder: no folder R": the lock it got was
    # that of the folder clean --out removed, and a run that came meanwhile could write beside it
    out = tmp_path / "reports"
    out.mkdir()
    held = os.open(out, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)  # as a clean --out that removes it holds it
    proc = subprocess.Popen([ccaudit_exe, "report", sample_cli, "--out", out, "-q"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert any("waiting for it to end" in line for line in iter(proc.stderr.readline, ""))
        out.rmdir()
    finally:
        os.close(held)
    assert proc.wait(60) == 0 and (out / "summary.txt").exists()


def test_a_filtered_report_says_its_filters_under_its_title_and_in_each_file(invoke, sample_cli, tmp_path):
    # was: only html said them; a text, markdown or JSON report of --principal 'sa-*' --top 1,
    # read later, passed for the whole store's ("Audit Summary for 4 events")
    said = "Selected: principal sa-*; the 1 busiest key of each section and day"
    args = ("report", sample_cli, "-q", "--principal", "sa-*", "--top", "1")
    assert invoke(*args).stdout.splitlines()[1] == said
    in_markdown = said.replace("*", "\\*")  # a glob's, not emphasis: italics read as a name
    assert f"\n\n> {in_markdown}\n\n" in invoke(*args, "-f", "markdown").stdout
    doc = json.loads(invoke(*args, "-f", "json").stdout)
    assert doc["summary"]["selected"] == ["principal sa-*", "the 1 busiest key of each section and day"]
    assert json.loads(invoke("report", sample_cli, "-q", "-f", "json").stdout)["summary"]["selected"] == []
    for fmt, ext in (("text", "txt"), ("markdown", "md"), ("json", "json")):
        out = tmp_path / fmt
        assert invoke(*args, "--out", out, "-f", fmt).exit_code == 0
        for name in ("2024-05-06", "kafka_authentication/2024-05-06"):
            text = (out / f"{name}.{ext}").read_text()
            if fmt == "json":
                assert next(iter(json.loads(text))) == "selected" and text.startswith('{\n  "selected": [\n')
            else:
                assert text.startswith(f"> {in_markdown}\n\n" if fmt == "markdown" else f"{said}\n\n"), (fmt, name)
    unfiltered = tmp_path / "all"
    assert invoke("report", sample_cli, "-q", "--out", unfiltered).exit_code == 0
    assert not (unfiltered / "2024-05-06.txt").read_text().startswith("Selected")
