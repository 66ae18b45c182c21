"""The ``ccaudit`` command and ``python -m ccaudit``. Ctrl-C while ccaudit is still
starting (importing its modules) exits 130 like anywhere else, without a traceback."""
import sys


def main() -> None:
    try:
        from .cli import cli
    except KeyboardInterrupt:
        sys.stderr.write("ccaudit: interrupted\n")
        sys.exit(130)
    cli(prog_name="ccaudit")


if __name__ == "__main__":
    main()
