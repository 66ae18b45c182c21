"""A question to the person at the terminal (clean's), and the end of a command they decline."""
from __future__ import annotations

import sys

from .boundary import say
from .errors import ExitCode


def interactive() -> bool:
    """May ccaudit ask? Only a person at a terminal can answer (none with it closed: <&-)."""
    return sys.stdin is not None and sys.stdin.isatty()


def confirmed(question: str) -> bool:
    """y or yes; anything else, or the end of input, declines. Not ``click.confirm``,
    which turns Ctrl-C into a declining Abort (exit 1) rather than an interrupt (130)."""
    try:  # a Ctrl-C just after the question is written, before the read, ends its line too
        say(f"{question} [y/N]: ", nl=False)
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        say()  # the interrupt's line starts on a line of its own
        raise
    if not answer.endswith("\n"):
        say()
    return answer.strip().lower() in ("y", "yes")


def go_on_if_agreed(question: str, yes: bool) -> None:
    """Ends the command (exit 1) unless the person at the terminal agrees; with --yes, or
    no terminal to answer, nothing is asked."""
    if not (yes or not interactive() or confirmed(question)):
        say("ccaudit: nothing deleted")
        sys.exit(ExitCode.CHECK_FAILED)
