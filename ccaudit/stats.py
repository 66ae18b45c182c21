"""LoadStats: what a load read, kept and skipped. In the bottom layer (it imports only
``text``), so the readers, the store and the command line can all share it."""
from __future__ import annotations

from .text import plural, printable

MAX_LISTED = 100  # malformed positions kept for the report
SHOWN = 5  # of them, in the load line


class LoadStats:
    """What a load read, kept, and skipped. ``records_read = inserted + duplicates``, but
    for a load stopped by a full disk, whose last transaction's records are ``not_stored``.

    Positions are ``(label, position, why)``: an int position is a line number
    (``file:12``), a str one says what it is (``file@byte 40``, ``file:item 3``).
    A plain class: a dataclass would bring ``inspect`` into every parse worker (0.7 MiB each).
    """

    def __init__(self) -> None:
        self.records_read = self.inserted = self.duplicates = self.noise_lines = self.malformed = 0
        self.lines = 0  # line number reached (line-mode inputs)
        self.problems: list[tuple[str, int | str, str]] = []  # (label, position, why) of the first few
        self.stopped: str | None = None  # why the load stopped before the end (a full disk)
        self.failed: dict[str, str] = {}  # input label -> the error line saying why it gave nothing
        self.cut: list[tuple[str, str, str, bool]] = []  # (label, position, why, damaged) of inputs read in part
        self.unsettled: set = set()  # labels of inputs a read of again may read further (cut_short)

    def __repr__(self) -> str:
        return f"LoadStats({', '.join(f'{name}={value!r}' for name, value in vars(self).items())})"

    def bad(self, label: str, position: int | str, why: str) -> None:
        """Count a malformed line (or item, or byte position) and remember the first ones."""
        self.malformed += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append((label, position, why))

    def changed_size(self, label: str, size: int, now: int) -> None:
        """A file that grew or shrank while it was read (a dump still being written): what
        was read of it is kept, and loading it again adds just what is new."""
        self.cut_short(label, "@end", f"the file changed size while it was read ({size} bytes, then {now}): load "
                                      "it again once it has stopped changing", lasting=False)

    def cut_short(self, label: str, position: str, why: str, damaged: bool = False, lasting: bool = True) -> None:
        """An input read only in part: a stream cut short, a syntax error that stops a
        document, a file that changed size. A malformed entry, but always told, whatever
        came before it. Damaged data (a checksum that fails) is an input error: what was
        read of it may hold wrong values. Not ``lasting``: the file, read again, may give
        more (it changed size, a read failed), so this load did not read all it holds."""
        self.bad(label, position, why)
        self.cut.append((label, position, why, damaged))
        if not lasting:
            self.unsettled.add(label)

    @property
    def damaged(self) -> dict[str, str]:
        """Input label -> the error line saying its data fails a check."""
        found: dict[str, str] = {}
        for label, pos, why, damaged in self.cut:
            if damaged:
                found.setdefault(label, f"{where(label, pos)}: {why}")
        return found

    def read_all_it_holds(self, label: str) -> bool:
        """Was the input ``label``, once opened, read as far as any read of it goes: to its end (if
        it held no record, it holds none), or to where its file is cut short or broken, which a
        read of it again stops at too; not stopped by a change of size or a read error?"""
        return label not in self.unsettled

    @property
    def input_error(self) -> bool:
        """An input gave nothing or damaged data, or the load stopped (exit 2)."""
        return bool(self.failed or self.damaged or self.stopped)

    def add_part(self, label: str, offset: int, records: int, noise: int, malformed: int, problems,
                 cut=()) -> None:
        """Count a part of an input read elsewhere (a worker's byte range, a Spark block),
        whose first ``problems`` (position, why) are numbered from its first line, the
        input's ``offset + 1``, and ``cut`` (position, why, damaged, lasting) says where it stopped."""
        self.records_read += records
        self.noise_lines += noise
        for pos, why in problems:
            self.bad(label, offset + pos if isinstance(pos, int) else pos, why)
        for pos, why, damaged, lasting in cut:
            self.cut_short(label, pos, why, damaged, lasting)
        self.malformed += malformed - len(problems) - len(cut)

    def part(self, listed: int = 0, cut: int = 0) -> tuple[list, list]:
        """(problems, cut) to hand on for ``add_part``: those after the first ``listed``
        problems (but the places cut, handed on whole) and ``cut`` places the part began with."""
        return [entry[1:] for entry in self._uncut(self.problems[listed:])], \
            [(*entry[1:], entry[0] not in self.unsettled) for entry in self.cut[cut:]]

    def _uncut(self, problems: list) -> list:
        """``problems`` but the places where an input stopped being read (``cut``)."""
        cut = {entry[:3] for entry in self.cut}
        return [entry for entry in problems if entry not in cut]

    def add_merged(self, merged: tuple[int, int]) -> None:
        """Count what a merge into the store did: (inserted, duplicates)."""
        self.inserted += merged[0]
        self.duplicates += merged[1]

    @property
    def not_stored(self) -> int:
        return self.records_read - self.inserted - self.duplicates

    def fail(self, label: str, message: str) -> None:
        """An input gave nothing: it could not be read, or held no record at all (``message``
        made one printable line, as the commands print it)."""
        self.failed.setdefault(label, printable(message))

    @property
    def malformed_lines(self) -> list[str]:
        return [where(label, pos) for label, pos, _ in self.problems]

    def problem_lines(self, but_cut: bool = False) -> list[str]:
        """The malformed places kept; ``but_cut``: without where inputs stopped being read."""
        return [f"{where(label, pos)}: {why}" for label, pos, why in (self._uncut(self.problems) if but_cut
                                                                          else self.problems)]

    def cut_lines(self) -> list[str]:
        """Where inputs were read only in part, but those damaged (``damaged``)."""
        return list(dict.fromkeys(f"{where(label, pos)}: {why}" for label, pos, why, damaged in self.cut
                                  if not damaged))  # (a file named twice, cut at one place: once)

    def as_dict(self) -> dict:
        """The load's figures for JSON output: every list is there, empty or not, so that
        a program can read any of them without a test (only a stopped load has not_stored)."""
        return {
            "records_read": self.records_read,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "noise_lines": self.noise_lines,
            "malformed": self.malformed,
            "malformed_lines": self.malformed_lines,
            "malformed_entries": [{"place": where(label, pos), "reason": why} for label, pos, why in self.problems],
        } | ({"not_stored": self.not_stored} if self.stopped else {}) | {
            "unusable_inputs": list(self.failed.values()),
            "inputs_cut_short": self.cut_lines(),
            "damaged_inputs": list(self.damaged.values()),
        }

    def summary_line(self) -> str:
        """One line for stderr; lists the first SHOWN malformed places and unusable inputs."""
        unkept = f", {self.not_stored:,} not stored (the load stopped)" if self.stopped else ""
        line = (f"loaded {plural(self.records_read, 'record')}: {self.inserted:,} new, "
                f"{plural(self.duplicates, 'duplicate')}{unkept}; skipped {plural(self.noise_lines, 'noise line')}, "
                f"{self.malformed:,} malformed")
        if self.problems:
            line += _first(self.malformed_lines, self.malformed)
        cut = [(label, pos) for label, pos, _, damaged in self.cut if not damaged]  # those say so below
        if cut:
            places = list(dict.fromkeys(where(label, pos) for label, pos in cut))  # (a file named twice: once)
            line += f"; {plural(len({c[0] for c in cut}), 'input')} read in part" + _first(places, len(places))
        if self.damaged:  # each has its error line above this one
            line += f"; {plural(len(self.damaged), 'input')} damaged" + _first(list(self.damaged), len(self.damaged))
        if self.failed:  # each has its error line above this one
            line += f"; {plural(len(self.failed), 'input')} unusable" + _first(list(self.failed), len(self.failed))
        return line


def _first(places: list[str], total: int) -> str:
    """' (a, b, ...)': the first SHOWN of ``total`` places (printable: inputs' names)."""
    return " (" + ", ".join(map(printable, places[:SHOWN])) + ("" if total <= SHOWN else ", ...") + ")"


def where(label: str, position: int | str) -> str:
    """``file:12`` for a line number, ``file@byte 40`` or ``file:item 3`` otherwise; the
    file's name printable (a newline in it broke the one line that a program shows)."""
    return f"{printable(label)}:{position}" if isinstance(position, int) else f"{printable(label)}{position}"
