"""Read audit-log dumps of any shape, in constant memory, into store rows.

An input is sniffed from its content, not its name: gzip, bzip2 and xz by magic bytes,
then the first non-blank line decides the shape (``shape.py``):

* ``[``            one JSON array, streamed record by record (``jsondoc``);
* ``{`` alone      pretty-printed or concatenated objects, the same way;
* a record's rest  a piece of a pretty dump (``split -b``): its objects, or its array's items;
* anything else    lines, each handled on its own, so one bad line never hides the next.

Line mode skips CLI noise (blank lines, ``%`` lines such as ``% Headers: [...]``,
``Headers:`` lines) and strips any prefix before a record's first ``{`` (offsets,
timestamps, keys). Every other line that is not one valid record is *malformed*: it is
counted with its ``file:line`` and reading goes on.
"""
from __future__ import annotations

import bz2
import contextlib
import errno
import gzip
import io
import lzma
import os
import shlex
import sys
from collections.abc import Callable, Generator, Iterator
from typing import BinaryIO

from .errors import READ_ERRORS, InputError, broken_stream
from .jsondoc import json_rows
from .lines import MAX_LINE, line_rows
from .shape import BOM, sniff
from .stats import LoadStats
from .streams import BUFFER, SQLITE_MAGIC, Broken, Decompressed, Prompt, Waiting, first_bytes, made_blocking
from .text import input_label, plural

_MAGIC = (
    (b"\x1f\x8b", lambda f, _: gzip.GzipFile(fileobj=f, mode="rb")),
    (b"BZh", lambda f, magic: io.BufferedReader(Decompressed(f, bz2.BZ2Decompressor, magic), BUFFER)),
    (b"\xfd7zXZ\x00", lambda f, magic: io.BufferedReader(Decompressed(f, lzma.LZMADecompressor, magic), BUFFER)),
)
_UNSUPPORTED = ((b"\x28\xb5\x2f\xfd", "zstd"), (b"PK\x03\x04", "zip"))
_PACKED = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), *_UNSUPPORTED)  # by name
_POWERSHELL = " (as Windows PowerShell's > writes it)"
_UTF16 = (b"\xff\xfe", b"\xfe\xff")  # its byte-order marks: every line would be malformed


class Dump:
    """One input: a path or ``-``; knows how far its raw bytes have been read (for progress)."""

    def __init__(self, path: str, label: str | None = None):
        self.path, self.label = path, label or input_label(path)
        self.size = os.path.getsize(path) if path != "-" and os.path.isfile(path) else None
        self.compressed = False
        self.mark = 0  # the bytes of a byte-order mark skipped: positions in a JSON document count them
        self.binary = False  # its first bytes are not text: told if no record can be read
        self.position = 0  # raw bytes read, when someone else (a worker) reads them
        self._raw: BinaryIO | None = None
        self._unblocked: int | None = None  # stdin's descriptor, made blocking to be read
        self._waiting: Waiting | None = None  # a stream's reads, which may pause

    def on_idle(self, idle: Callable[[], object]) -> None:
        """Call ``idle()`` whenever a stream's next read has waited IDLE seconds (``Waiting``)."""
        if self._waiting is not None:
            self._waiting.idle = idle

    def tell(self) -> int:
        """Raw (compressed) bytes read so far."""
        try:
            return self._raw.tell() if self._raw else self.position
        except (OSError, ValueError):
            return self.position

    def fileno(self) -> int:
        """The descriptor of the file as opened (``open`` first)."""
        return self._raw.fileno()  # type: ignore[union-attr]

    def open(self) -> BinaryIO:
        """The decompressed binary stream; raise InputError if the input is unusable."""
        raw = self._open_raw()
        self._raw = stream = raw
        try:
            head, stream = first_bytes(raw, len(SQLITE_MAGIC))
        except OSError as e:
            self.close(raw)
            raise InputError(f"{self.label}: cannot read: {e.strerror}") from None
        for magic, opener in _MAGIC:
            if head.startswith(magic):
                self.compressed = True
                if self.size is None:  # a stream: its bytes decompressed as they come
                    stream = Prompt(stream)  # type: ignore[assignment]
                stream = opener(stream, magic)  # type: ignore[assignment]  # binary, buffered already; a second
                break  # buffer would lose the last good bytes of a stream that is cut short
        else:
            for magic, name in _UNSUPPORTED:
                if head.startswith(magic):
                    self.close(raw)
                    raise InputError(f"{self.label}: {name}-compressed input is not supported; decompress it first")
            if head == SQLITE_MAGIC and self.path:  # (the command line refuses a file before: a program's, here)
                self.close(raw)
                raise InputError(f"{self.label}: is an SQLite file, not a dump (a store is given with --db)")
        try:
            stream, self.mark = text(stream, self.label, self.compressed)
            self.binary = _not_text(stream)
            return stream
        except InputError:
            self.close(raw)
            raise

    def close(self, stream: BinaryIO) -> None:
        if self.path != "-":
            stream.close()
            if self._raw is not None:
                self._raw.close()
        elif self._raw is not None:
            self._raw.detach()  # type: ignore[attr-defined]  # our buffer on stdin goes; stdin stays open, as it was
            if self._unblocked is not None:
                with contextlib.suppress(OSError):
                    os.set_blocking(self._unblocked, False)
        self._raw = None

    def _open_raw(self) -> BinaryIO:
        if self.path == "-":
            if _stdin_closed():
                raise InputError(STDIN_CLOSED)
            if (stdin := getattr(sys.stdin, "buffer", None)) is None:  # a program's own text stream (a StringIO)
                raise InputError("-: standard input is not a file (sys.stdin has no binary buffer to read)")
            self._unblocked = made_blocking(stdin)
            self._waiting = Waiting(getattr(stdin, "raw", stdin), owned=False)
            return io.BufferedReader(self._waiting, buffer_size=BUFFER)  # type: ignore[arg-type]
        if not self.path:
            raise InputError(EMPTY_NAME)
        if os.path.isdir(self.path):
            raise InputError(is_a_folder(self.path, self.label))
        try:
            if self.size is None:  # a FIFO, a device: a stream, which may pause
                self._waiting = Waiting(io.FileIO(self.path, "rb"), owned=True)
                return io.BufferedReader(self._waiting, buffer_size=BUFFER)  # type: ignore[arg-type]
            return open(self.path, "rb", buffering=BUFFER)
        except FileNotFoundError:
            raise InputError(f"{self.path}: no such file") from None
        except OSError as e:
            raise InputError(f"{self.path}: cannot read: {e.strerror}") from None


EMPTY_NAME = "an input's name is empty (an unset variable?): name a file, or - for standard input"
STDIN_CLOSED = "-: standard input is closed"


def is_a_folder(path: str, label: str | None = None) -> str:
    folder = path.rstrip("/")  # (the hint is the name as typed, to paste)
    return f"{label or path}: is a directory; give the dumps in it ({shlex.quote(folder) if folder else ''}/*)"


def check_readable(path: str, label: str | None = None) -> None:
    """Refuse, before loading anything, a file that is missing or cannot be read (named
    ``label`` in the error): a report without it would look complete and be wrong."""
    if not path:  # was ": no such file"
        raise InputError(EMPTY_NAME)
    if path == "-":
        if _stdin_closed():  # (an empty store was made first)
            raise InputError(STDIN_CLOSED)
        return
    label = label or input_label(path)
    try:
        os.stat(path)
    except OSError as e:  # missing, or a link that loops or leads nowhere
        raise InputError(f"{label}: no such file" if e.errno == errno.ENOENT else
                         f"{label}: cannot read: {e.strerror}") from None
    if os.path.isdir(path):
        raise InputError(is_a_folder(path, label))
    if not os.access(path, os.R_OK):
        raise InputError(f"{label}: cannot read: Permission denied")


def _stdin_closed() -> bool:
    """Standard input closed: by the caller (``<&-``, no sys.stdin at all), or by a program."""
    return sys.stdin is None or getattr(sys.stdin, "closed", False)


def text(stream: BinaryIO, label: str, compressed: bool = False) -> tuple[BinaryIO, int]:
    """``stream`` past a UTF-8 byte-order mark, and the bytes of the mark; UTF-16, with its
    mark or without, is refused (InputError): every line of it would be malformed."""
    try:
        head, stream = first_bytes(stream, 8)
    except READ_ERRORS as e:  # the read proper reports it: a gzip stream cut in its header reads as empty after
        return Broken(e), 0  # type: ignore[return-value]
    wide = _wide(head)
    if wide:
        raise InputError(f"{label}: {wide} text{_POWERSHELL if wide == 'UTF-16' else ''}; convert it to UTF-8 "
                         f"first: iconv -f {wide} -t UTF-8")
    inner = head[len(BOM):] if head.startswith(BOM) else head
    packed = next((name for magic, name in _PACKED if inner.startswith(magic)), None)
    if packed and compressed:  # was hundreds of malformed binary lines, then "no audit record could be read"
        raise InputError(f"{label}: compressed twice (what it holds is {packed} data again); decompress it once "
                         "and give what that makes")
    if packed and inner is not head:
        raise InputError(f"{label}: {packed} data after a UTF-8 byte-order mark (a text tool's?); drop the mark's "
                         f"3 bytes first: tail -c +4")
    stream, tar = _tar(stream, compressed)
    if tar:  # its header's zero bytes hid its first record: "zero bytes before the record"
        raise InputError(f"{label}: a tar archive; extract its dumps first (tar -xf), and give them")
    return without_bom(stream), len(BOM) if head.startswith(BOM) else 0


_TAR, _TAR_AT, _TAR_HEADER = b"ustar", 257, 512  # a tar header's magic, where it is, and the header's size


def _tar(stream: BinaryIO, compressed: bool) -> tuple[BinaryIO, bool]:
    """``stream``, and whether it starts with a tar header. Read for only where what is
    buffered is too short to show one and holds a zero byte (no record can), or, read as
    it is, no whole line (which the read waits for anyway): a small compressed input cut
    short broke in that read, before its records were read, and a pipe's first read may
    hold a header's first bytes alone (tar writes 512 at once; the name comes first)."""
    head = stream.peek(1)  # type: ignore[attr-defined]
    if len(head) < _TAR_HEADER and (b"\0" in head or not compressed and b"\n" not in head):
        try:
            head, stream = first_bytes(stream, _TAR_HEADER)
        except READ_ERRORS as e:  # the read proper reports it
            return Broken(e), False  # type: ignore[return-value]
    return stream, _tar_header(head)


def _tar_header(head: bytes) -> bool:
    """Whether ``head`` starts with a tar header: its magic, and its checksum (in octal, of its
    512 bytes with the checksum's own 8 as spaces; as unsigned bytes, or signed as old tars
    wrote it). A record can hold the magic where a header has it (a user name that a failed
    sign-in typed), and was refused as a tar."""
    if len(head) < _TAR_HEADER or head[_TAR_AT:_TAR_AT + len(_TAR)] != _TAR:
        return False
    try:
        told = int(head[148:156].strip(b" \0"), 8)
    except ValueError:
        return False
    summed = head[:148] + b" " * 8 + head[156:_TAR_HEADER]
    unsigned = sum(summed)
    return told in (unsigned, unsigned - 256 * sum(b > 127 for b in summed))


def without_bom(stream: BinaryIO) -> BinaryIO:
    """Skip a UTF-8 byte-order mark, which some Windows tools put before the first record."""
    try:
        head, stream = first_bytes(stream, 3)
        if head == BOM:
            stream.read(3)
    except READ_ERRORS as e:  # the read proper reports it: a gzip stream cut in its header reads as empty after
        return Broken(e)  # type: ignore[return-value]
    return stream


def _wide(head: bytes) -> str | None:
    """"UTF-16" or "UTF-32" if the input's first 8 bytes are ASCII as either, with a
    byte-order mark or without: NULs around every character (UTF-8 text has no NUL, and
    JSON's first characters are ASCII). A mark alone is not enough: 0xFF 0xFE could begin a
    UTF-8 file whose first line is damaged."""
    if head.startswith((b"\xff\xfe\0\0", b"\0\0\xfe\xff")) or _ascii_every(head, 4):
        return "UTF-32"
    return "UTF-16" if _ascii_every(head[2:] if head.startswith(_UTF16) else head, 2) else None


def _ascii_every(text: bytes, width: int) -> bool:
    """``text`` is whole characters of ``width`` bytes, each an ASCII byte and NULs (after
    it, little-endian, or before it, big-endian)."""
    if not text or len(text) % width:
        return False
    return any(all(text[i::width]) and not any(b for j, b in enumerate(text) if j % width != i)
               for i in (0, width - 1))


def read_rows(dump: Dump, stats: LoadStats, stream: BinaryIO | None = None,
              shape: str = "") -> Generator[tuple, None, None]:
    """Yield a store row for every good record of one input, counting the rest in ``stats``
    (``stream`` and ``shape``: what ``sniff`` gave, when the caller has looked already).

    Raises InputError only when the input cannot be opened at all.
    """
    stream = stream or dump.open()
    try:
        if not shape:
            shape, stream = sniff(stream)
        if shape == "lines":
            rows = line_rows(iter_lines(stream), dump.label, stats)
        else:
            rows = json_rows(stream, dump.label, stats, array=shape != "objects", at=dump.mark, cut=shape == "items")
        yield from until_broken(rows, dump.label, stats)
    finally:
        dump.close(stream)


def until_broken(rows: Iterator[tuple], label: str, stats: LoadStats) -> Iterator[tuple]:
    """``rows`` until the stream under them breaks (a truncated or corrupt compressed
    file): what was read is kept, and the break is one malformed entry at ``@end``."""
    try:
        yield from rows
    except READ_ERRORS as e:
        stats.cut_short(label, "@end", *broken_stream(e))


def note_if_failed(label: str, stats: LoadStats, before: tuple[int, int, int], binary: bool = False) -> None:
    """An input with content but not one record is an input error (a damaged one is one already);
    ``binary``: its first bytes are not text (``Dump.binary``)."""
    read, noise, malformed = before
    if stats.records_read == read and (stats.noise_lines > noise or stats.malformed > malformed) \
            and label not in stats.damaged:
        only = "" if stats.malformed > malformed else \
            f": only noise ({plural(stats.noise_lines - noise, 'line')}, blank or the consume command's own)"
        if binary:
            only = (": its first bytes are not UTF-8 text (a piece of a compressed file without its start, zeros, "
                    "or another kind of file)")
        stats.fail(label, f"{label}: no audit record could be read{only}")


def _not_text(stream: BinaryIO) -> bool:
    """Are the first 4 KiB of ``stream`` not UTF-8 text (a NUL, or bytes no character is)?"""
    try:
        head = stream.peek(4096)[:4096]  # type: ignore[attr-defined]  # (buffered)
    except READ_ERRORS:
        return False  # the read proper will report the damage
    try:
        head.decode()
    except UnicodeDecodeError as e:
        return e.start < len(head) - 3  # (not a character the peek cut)
    return b"\x00" in head


def iter_lines(stream: BinaryIO, end: int | None = None) -> Iterator[bytes]:
    """Lines of ``stream`` without their newline (only those starting before byte ``end``,
    if given), split from large blocks: much cheaper than a readline per line.

    A line longer than MAX_LINE is yielded as its first MAX_LINE + 1 bytes and the rest
    is skipped, so one endless line cannot exhaust memory. A line that spans blocks is
    kept as its pieces and joined once it ends: joining at every block copied a long line
    over and over, and held two copies of it at once.
    """
    pos = stream.tell() if end is not None else 0
    if end is not None and pos >= end:
        return
    read = getattr(stream, "read1", stream.read)  # one read at a time: a stream that is
    carry: list[bytes] = []                       # cut short still gives what came before
    carried, overlong = 0, False  # carry's length; the rest of an overlong line is being skipped
    broke: list[BaseException] = []
    while block := _read_or_flush(read, carry, broke):
        lines = block.split(b"\n")
        last = lines.pop()
        if overlong:
            if not lines:
                pos += len(last)
                if end is not None and pos >= end:  # what starts from here on is the next range's
                    return
                continue
            pos += len(lines.pop(0)) + 1  # the rest of an overlong line ends here
            overlong = False
        elif lines and carry:
            carry.append(lines[0])
            lines[0] = b"".join(carry)
        if lines:
            carry, carried = [], 0
        size = sum(map(len, lines)) + len(lines) if end is not None else 0
        if end is None or pos + size <= end:
            pos += size
            yield from lines  # the whole block is ours: no per-line bookkeeping
        else:
            for line in lines:
                if pos >= end:
                    return
                pos += len(line) + 1
                yield line
        if last:
            carry.append(last)
            carried += len(last)
            if carried > MAX_LINE:
                if end is not None and pos >= end:
                    return
                carry[-1] = last[:len(last) - (carried - MAX_LINE - 1)]
                head, carry = b"".join(carry), []
                yield head
                pos += carried
                carried, overlong = 0, True
    if carry and (end is None or pos < end):
        yield b"".join(carry)


def _read_or_flush(read, carry: list[bytes], broke: list[BaseException]) -> bytes:
    """The next block; if the stream breaks, hand on the partial line before it first,
    so that it is counted like any other line, and raise the break at the next call
    (gzip raises it once, then reads as if the stream had ended)."""
    if broke:
        raise broke.pop()
    try:
        return read(BUFFER)
    except READ_ERRORS as e:
        if carry:
            broke.append(e)
            return b"\n"
        raise
