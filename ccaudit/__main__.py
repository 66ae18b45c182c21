"""The ``ccaudit`` command and ``python -m ccaudit``. Ctrl-C while ccaudit is still
starting (importing its modules) exits 130 like anywhere else, without a traceback."""
import signal
import sys

from . import interrupted_while_starting


def main() -> None:
    try:
        if signal.getsignal(signal.SIGINT) is interrupted_while_starting:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # from here it is caught below
        from .cli import cli
    except KeyboardInterrupt:
        sys.stderr.write("ccaudit: interrupted\n")
        sys.exit(130)
    cli(prog_name="ccaudit")


if __name__ == "__main__":
    main()
