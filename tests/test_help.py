"""What --help says: every command and option described, in the order a user needs them,
nothing cut short, and the exit codes complete."""
from __future__ import annotations

import os
import subprocess
import sys

import click
import pytest

from ccaudit.cli import cli

COMMANDS = ["report", "load", "spark", "summary", "download", "check", "diff", "methods", "export", "clean"]


def test_commands_are_listed_in_the_order_a_user_needs_them(invoke):
    out = invoke("--help").stdout
    listed = [line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.startswith("  ")]
    assert listed[:len(COMMANDS)] == COMMANDS and listed[len(COMMANDS)] == "Exit"  # then the epilog
    assert "..." not in out.split("Commands:")[1]


def test_help_lists_every_exit_code(invoke):
    out = " ".join(invoke("--help").stdout.split())
    for code in ("0 ok", "1 a check failed", "2 usage or input error", "70 an internal error", "130 interrupted",
                 "143 and 129 stopped by SIGTERM and SIGHUP", "141 the reader of the output went away"):
        assert code in out


def test_the_top_level_help_fits_a_narrow_terminal(ccaudit_exe):
    # the exit codes were a block of 88-character lines, kept as they were at any width
    out = subprocess.run([ccaudit_exe, "--help"], capture_output=True, text=True, check=True,
                         env={**os.environ, "COLUMNS": "50"}).stdout
    assert [line for line in out.splitlines() if len(line) > 50] == []


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_says_what_it_does(name):
    command = cli.commands[name]
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{name} {param.opts} has no help"


def test_db_is_described_for_each_command():
    helps = {name: next(p.help for p in cli.commands[name].params if p.name == "db_path")
             for name in ("report", "load", "summary", "clean")}
    assert len(set(helps.values())) == len(helps)
    assert "delete" in helps["clean"].lower() and "required; nothing is added" in helps["summary"]


def test_stats_help_names_every_format_it_changes():
    stats = next(p.help for p in cli.commands["report"].params if p.name == "stats")
    assert all(fmt in stats for fmt in ("text", "markdown", "html"))


def test_diff_tz_help_names_what_the_zone_changes():
    # diff's output has no days nor hours; the zone only reads its windows' dates
    tz = next(p.help for p in cli.commands["diff"].params if p.name == "tz")
    assert "hours" not in tz and all(option in tz for option in ("--a-since", "--a-until", "--b-since", "--b-until"))


def test_summary_of_a_dump_suggests_report(invoke, sample_cli):
    result = invoke("summary", sample_cli)
    assert result.exit_code == 2 and f"ccaudit report {sample_cli}" in result.stderr


def test_a_dump_named_as_the_command_is_told_report(invoke, sample_cli, tmp_path):
    # was "No such command '…sample-cli.txt'." alone, the first thing a newcomer may type
    result = invoke(str(sample_cli))
    assert (result.exit_code, result.stderr) == (
        2, f"ccaudit: error: No such command {str(sample_cli)!r}. To report on it: ccaudit report {sample_cli}\n")
    db = tmp_path / "it's.db"
    invoke("load", sample_cli, "--db", db, "-q")
    assert invoke(str(db)).stderr.endswith(f"To report on it: ccaudit report --db '{tmp_path}/it'\"'\"'s.db'\n")
    assert invoke(str(tmp_path)).stderr == f"ccaudit: error: No such command {str(tmp_path)!r}.\n"  # a folder
    assert "(Did you mean one of: 'export', 'report'?)" in invoke("reprot").stderr  # click's own hint stays


def test_version(invoke):
    from ccaudit import __version__

    assert invoke("--version").stdout == f"ccaudit, version {__version__}\n"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_script(ccaudit_exe, shell):
    env = dict(os.environ, _CCAUDIT_COMPLETE=f"{shell}_source")
    script = subprocess.run([ccaudit_exe], env=env, capture_output=True, text=True, check=False, timeout=60)
    assert script.returncode == 0 and "_CCAUDIT_COMPLETE" in script.stdout


def test_completion_offers_section_ids(ccaudit_exe):
    env = dict(os.environ, _CCAUDIT_COMPLETE="bash_complete", COMP_WORDS="ccaudit report --section sig",
               COMP_CWORD="3")
    out = subprocess.run([ccaudit_exe], env=env, capture_output=True, text=True, check=False, timeout=60).stdout
    assert "signin_failure" in out and "signin_success" in out and "mds_authorize" not in out


@pytest.mark.parametrize("name", ["", *COMMANDS])
def test_help_is_whole_when_python_drops_docstrings(name):
    # PYTHONOPTIMIZE=2 (or python -OO) drops docstrings, and with them every command's help
    def helped(*flags):
        env = {**os.environ, "COLUMNS": "100", "PYTHONOPTIMIZE": "0"}
        return subprocess.run([sys.executable, *flags, "-m", "ccaudit", *name.split(), "--help"], env=env,
                              capture_output=True, text=True, check=True).stdout
    plain = helped()
    assert helped("-OO") == plain and plain.split("Options:")[0].count("\n") > 2
