"""The shape of a dump, from its first line neither blank nor noise: one JSON array, pretty-printed or
concatenated objects, lines, or the items of a pretty array a piece of it begins in (see ``ingest``)."""
from __future__ import annotations

import io
import re
from typing import BinaryIO

import msgspec

from .decoding import check_syntax, error_byte
from .errors import READ_ERRORS
from .nesting import Guard, TooDeep
from .schema import MAX_RECORD
from .streams import BUFFER, Broken, Joined

MAX_LINE = MAX_RECORD  # read ahead at most this far for the first line's end
BOM = b"\xef\xbb\xbf"  # UTF-8's byte-order mark
_NON_BLANK = re.compile(rb"\S")  # what bytes.strip() keeps
_MORE = re.compile(rb"[^\s\x00]")  # after the first line: more than blanks and NUL padding
_PRETTY_NEXT = re.compile(rb"(?m)^\}[ \t\r]*\n(?:[ \t\r]*\n|(?:% |Headers:)[^\n]*\n)*\{[ \t\r]*\n")  # a pretty object
# ends, the next begins: `jq .`'s output (noise lines between: a consume command's dump of pretty records)
_RECORD_ON = re.compile(rb'\{[ \t]*"|\t"\{')  # a record on a line, or in a string after a prefix (not `"data": {}`)
_ITEM_START = re.compile(rb"[ \t]*\{[ \t\r]*\n")  # an item's "{" line
_ITEM_NEXT = re.compile(rb"(?m)^([ \t]*)\},[ \t\r]*\n\1(\{)[ \t\r]*\n")  # and in a pretty array (or a record's list)
PRETTY_LOOK = 1 << 20  # how far after a first line that cannot begin JSON it is looked for
CUT_LINE = 1 << 16  # a longer first line is no pretty record's tail: a file of lines, told at once
_OPENS = rb"[\s\x00]*(?:\xef\xbb\xbf)?\[[ \t\r]*"  # an array's "[" at a line's start, after blanks and a mark
_ARRAY_NEXT = re.compile(_OPENS + rb"(?:[{\]]|\n)")  # another array of records begins
_STRINGS_NEXT = re.compile(_OPENS + rb'(?:"|null\b)')  # one whose first item is a
# record in a string or a tombstone: another only after an array that held records (a JSON Lines file
# may begin with lines of other arrays, each malformed, and its records follow)
_NEXT_BEGUN = re.compile(_OPENS + rb"(?:n(?:u(?:l)?)?)?\Z")  # a read that ends in its start
_HOLDS_RECORD = re.compile(rb'\{[ \t]*"|\{\\"')  # a record, or one in a string
# What starts a line of a consume command's noise: "% Headers: ...", and its stderr when that
# was redirected into the dump too ("Starting Kafka Consumer. Use Ctrl-C to exit.", librdkafka's
# "%4|1715000000.123|FAIL|..."), and "%" alone. Not any "%": it may begin a key (--print-key).
NOISE = (b"% ", b"Headers:", b"Starting Kafka Consumer", b"Stopping Consumer", b"%\n", b"%\r",
         *(b"%%%d|" % n for n in range(8)))


def sniff(stream: BinaryIO) -> tuple[str, BinaryIO]:
    """'array', 'objects', 'lines' or 'items' (a piece of a pretty array that begins inside an
    item), from the first line neither blank nor noise, and the stream to read the input
    from: ``stream`` itself, or, when what it had buffered did not show that line whole (a
    pipe that gave one byte first, a gzip stream after 8 KiB of blank lines), the bytes
    read ahead to find it followed by the rest. Reads ahead at most MAX_LINE bytes."""
    try:
        head = stream.peek(BUFFER)  # type: ignore[attr-defined]
    except READ_ERRORS:
        return "lines", stream  # the read proper will report the damage
    shape = _shape(head, eof=False)
    if shape:
        return shape, stream
    read, ahead, broken, began, whole, look = getattr(stream, "read1", stream.read), bytearray(), None, False, 0, 0
    noise = 0  # where the noise lines read so far end: each is looked at once, however many there are
    while not shape:
        try:
            block = read(BUFFER)
        except READ_ERRORS as e:
            block, broken = b"", e
        ahead += block
        eof = not block or len(ahead) > MAX_LINE
        if whole:  # the first line is one whole value: what follows it tells (another array: `cat`)
            noise = _past_noise_lines(ahead, max(noise, whole))  # (from the first line's end, each block)
            shape = _after_whole(ahead, whole, noise, eof) if block.strip() else "array" if eof else ""
        elif eof or not began or (len(ahead) >= look if look else b"\n" in block):  # else no answer yet
            noise = _past_noise_lines(ahead, noise)
            shape = _shape(ahead, eof, noise)
            whole = 0 if shape else _array_line_end(ahead, noise)
            look = 0 if shape or whole else _pretty_look(ahead, noise)
        began = began or bool(block.strip())
    rest = Broken(broken) if broken else stream
    return shape, io.BufferedReader(Joined(ahead, rest), BUFFER)  # type: ignore[arg-type]


def _array_line_end(head: bytes | bytearray, pos: int = 0) -> int:
    """Where the first line neither blank nor noise (from ``pos``) ends, if it begins an array
    (0 if it does not, or does not end in ``head``)."""
    start = _first_line(head, pos)
    return 0 if start is None or head[start:start + 1] != b"[" else head.find(b"\n", start) + 1


def _pretty_look(head: bytes | bytearray, pos: int) -> int:
    """How much to read before a first line that may be a cut pretty record's tail is told to
    begin a piece of pretty objects, or not (``_shape``): read once, not looked through again
    at each block. 0 while that it may be is not known."""
    start = _first_line(head, pos)
    end = -1 if start is None else head.find(b"\n", start)
    return end + 1 + PRETTY_LOOK if end >= 0 and _cut_tail(head, start, end, True) else 0  # type: ignore[arg-type]


def _cut_tail(head: bytes | bytearray, start: int, end: int, ended: bool) -> bool | None:
    """Whether a first line that cannot begin JSON (``start`` to its newline at ``end``, if
    ``ended``) may be the tail of a pretty-printed record cut part way: short, no record on it
    (no ``{"``; ``"data": {}`` may end a record), and the next line one of a pretty record's
    (indented, ``}``, ``]``, or ``{`` alone; or noise after a ``}`` alone, a consume command's).
    None until the next line tells. A consume command's line with a
    prefix holds its record, and a stray message is followed by a record's line: both are
    lines at once (a live pipe's records are loaded as they come, not after a megabyte)."""
    if _RECORD_ON.search(head, start, end) or head.startswith(b'"{', start) or end - start > CUT_LINE:
        return False
    if not ended:
        return None
    after = head[end + 1:end + 2]
    if after != b"{":
        if head.startswith(NOISE, end + 1):  # after a record's end (a consume command's), or a message
            return head[start:end].strip() == b"}"
        return None if not after else after in b" \t\r}]"
    close = head.find(b"\n", end + 1)
    if _NON_BLANK.search(head, end + 2, close if close >= 0 else len(head)):
        return False  # a record's line, seen to its first bytes
    return None if close < 0 else True


def _past_noise_lines(head: bytes | bytearray, pos: int) -> int:
    """Where the whole noise lines (and blank ones) from ``pos`` on end."""
    while (found := _NON_BLANK.search(head, pos)) is not None and head.startswith(NOISE, found.start()):
        end = head.find(b"\n", found.start())
        if end < 0:
            break
        pos = end + 1
    return pos


def _after_whole(ahead: bytearray, whole: int, end: int, eof: bool) -> str:
    """After a first line that is one whole value (ending at ``end``, or noise lines after it), what follows its noise
    lines: another array (`cat` of two `jq -c` dumps), lines, nothing (the array), or '' if
    the read ends in what could begin one."""
    pos = _after_noise(ahead, end, eof)
    if pos is None:
        return ""
    if _another_array(ahead, pos, ahead[_first_line(ahead) or 0:whole]):
        return "array"
    if _MORE.search(ahead, pos) is None:
        return "array" if eof else ""
    return "" if not eof and _NEXT_BEGUN.match(ahead, pos) else "lines"


def _another_array(head: bytes | bytearray, pos: int, first: bytes | bytearray) -> bool:
    """Does another array begin at ``pos``, after the one-line array ``first`` (`cat` of `jq -c` dumps)?"""
    return bool(_ARRAY_NEXT.match(head, pos) or _STRINGS_NEXT.match(head, pos) and _HOLDS_RECORD.search(first))


def _after_noise(head: bytes | bytearray, end: int, eof: bool) -> int | None:
    """Where what follows the line ending at ``end`` begins, past noise lines and blank ones
    (a one-line array and the consume command's "% Headers:" line after it were read as two
    malformed lines); None if the read ends in a line that may yet be noise."""
    pos = _past_noise_lines(head, end)
    found = _NON_BLANK.search(head, pos)
    if found is None or head.find(b"\n", found.start()) >= 0:
        return pos
    if eof:  # the last line, noise without its newline, or not
        return len(head) if head.startswith(NOISE, found.start()) else pos
    tip = bytes(head[found.start():found.start() + 32])
    return None if any(n.startswith(tip) or tip.startswith(n) for n in NOISE) else pos


def _first_line(head: bytes | bytearray, pos: int = 0) -> int | None:
    """Where the first line that is neither blank nor noise starts, from ``pos`` (None: not
    in ``head``): a dump of pretty-printed records can begin with the noise that follows
    each of them."""
    while (found := _NON_BLANK.search(head, pos)) is not None:
        if not head.startswith(NOISE, found.start()):
            return found.start()
        pos = head.find(b"\n", found.start()) + 1
        if not pos:
            return None
    return None


def _shape(head: bytes | bytearray, eof: bool, pos: int = 0) -> str:
    """The shape ``head`` shows (its noise lines ending at ``pos`` or later), or '' if it
    cannot tell before that line ends. Read by position, not copied: ``head`` may be a first
    line of MAX_LINE bytes."""
    start = _first_line(head, pos)
    if start is None:
        return "lines" if eof else ""
    end = head.find(b"\n", start)
    ended = end >= 0
    end = end if ended else len(head)
    if head[start:start + 1] == b"[":
        first = bytes(head[start:end])
        after = _after_noise(head, end, eof) if ended else end
        if after is None:
            return ""
        if ended and _another_array(head, after, first):  # arrays one after another (`cat` of `jq -c` dumps)
            return _array_or_lines(first, False, True, True)
        more = _MORE.search(head, after) is not None
        if ended and more and not eof and _NEXT_BEGUN.match(head, after) and \
                _array_or_lines(first, False, True, True) == "array":  # (a "[" the read ends after)
            return ""
        return _array_or_lines(first, more, ended, eof, more and _items_go_on(first, head, after, eof))
    if head[start:start + 1] != b"{":  # a piece of a pretty dump cut inside a record (split -b): every record
        return _piece(head, start, end, eof, _cut_tail(head, start, end, ended))  # of it was malformed, as lines
    if _NON_BLANK.search(head, start + 1, end):
        return "lines"
    if not ended:
        return "lines" if eof else ""
    indented = head[start - 1:start] in (b" ", b"\t")  # objects, unless a piece begins at an array's item: an
    shape = _piece(head, start, end, eof or not indented, True)  # indented "{" waits to be told, one at column 0
    return "objects" if shape == "lines" else shape  # is told from what has come (a live pipe's records load)


def _piece(head: bytes | bytearray, start: int, end: int, eof: bool, tail: bool | None) -> str:
    """The shape of a piece of a pretty dump whose first line (``start`` to ``end``) may begin in a
    record (``tail``: ``_cut_tail``'s answer): objects if a record's end and the next's start follow
    within PRETTY_LOOK; the items of an array if they do not and its items' do (``item_start``: all
    of that seen first, a record's list is no array); else lines, or '' until that is known."""
    if tail and _PRETTY_NEXT.search(head, head.rfind(b"\n", 0, start) + 1, end + PRETTY_LOOK):
        return "objects"
    looked = eof or tail and len(head) >= end + PRETTY_LOOK
    if looked and tail and item_start(head, start, end + PRETTY_LOOK) is not None:
        return "items"
    return "lines" if looked or tail is False else ""  # however it is read


def item_start(head: bytes | bytearray, start: int, limit: int) -> int | None:
    """Where the first whole item of a piece of a pretty array that begins at ``start`` begins (its
    ``{``), told by items' ends and starts (``},`` then ``{`` at one indent) before ``limit``: the
    least indented, a record's lists being deeper; -1 if they are at column 0, where a record's are
    too. None if there are none, or if lines less indented than they are show them to be a list's in
    a record (of pretty objects, whose fields are so): no array. A piece may begin at an item's "{"
    or at the end of the one before (``},``, ``,``), its first line's indent cut."""
    line, first = head.rfind(b"\n", 0, start) + 1, head.find(b"\n", start)
    first = first if first >= 0 else len(head)
    found: dict[int, tuple[int, bytes]] = {}
    for m in _ITEM_NEXT.finditer(head, line, limit):
        found.setdefault(len(m[1]), (m.start(2), m[1]))
    if not found:
        return None
    indent = min(found)
    if not indent:  # every level at column 0 (indent=0): the array's items are not told from a record's lists
        return -1
    if indent > 1 and re.compile(rb"(?m)^[ \t]{1,%d}[^ \t\r\n]" % (indent - 1)).search(head, first, limit):
        return None
    if start - line <= indent and head[start:first].strip() == b"{":
        return start
    brace = first + 1 + indent
    if start - line <= indent and head[start:first].strip() in (b"},", b",") and \
            _ITEM_START.match(head, first + 1) and head.startswith(found[indent][1] + b"{", first + 1):
        return brace
    return found[indent][0]


def _array_or_lines(first: bytes, more: bool, ended: bool, eof: bool, items_go_on: bool = False) -> str:
    """An array, begun on the first line (``[`` alone, ``[{...},``), or whole on it, or
    broken on it after an object began (``[{...},]``, or ``[{...}]`` then NUL padding:
    ``jq -c`` output damaged), with nothing after (``more``: lines after it that are not blank)
    or its items going on after it one a line (``_items_go_on``): read as an array, the
    records before and after the break are kept. A first line that cannot begin JSON ("[INFO]
    started", "[1, 2 x]"), or such a line with lines after it ("[1, 2]", a nesting bomb),
    is a line of JSON Lines: a download's first message need not be a record, and read as
    an array, that one line cost every record after it."""
    try:  # a read may end inside a number or a literal (`-`, `1.`, `1e`, `tr`): what is left is whole
        check_syntax(first if ended else first.rstrip(b"0123456789+-.eEtrufalsn"))
    except msgspec.DecodeError as e:
        why = str(e).lower()
        if "truncated" not in why:
            if not _object_began(first, why):
                return "lines"
            if items_go_on:  # (read as lines, every item after it was "text after the JSON object")
                return "array"
        elif not _bomb(first):  # (a bomb decodes as cut short where Python gives C a deeper stack: 3.12+)
            return "array" if ended or eof else ""  # a line not seen to its end may yet close the value
    except RecursionError:
        pass  # a nesting bomb, whole or not: what follows tells
    return "lines" if more else "array" if eof else ""


def _items_go_on(first: bytes, head: bytes | bytearray, pos: int, eof: bool) -> bool:
    """Do the items of an array begun on ``first`` go on after it, one a line (``sed`` of JSON
    Lines into an array): is the line at ``pos`` an object then ``,`` or ``]``; or, after a
    ``first`` that ends in ``,``, one that starts as an object but is not a line of JSON Lines,
    one whole object (another item broken too, or one longer than was read)?"""
    found = _NON_BLANK.search(head, pos)
    if found is None or head[found.start():found.start() + 1] != b"{":  # (a prefixed record's line, a message)
        return False
    end = head.find(b"\n", found.start())
    end = len(head) if end < 0 and eof else end
    if _KEYED.search(head, found.start(), end if end >= 0 else len(head)):  # an object key, a TAB, a record: lines
        return False
    line = bytes(head[found.start():end]).strip() if end >= 0 else b""
    for value, item in ((line[:-1], line[-1:] in (b",", b"]")), (line, False)):
        try:
            check_syntax(value)
        except (msgspec.DecodeError, RecursionError):
            continue
        return value[:1] == b"{" and item
    return first.rstrip().endswith(b",")


_KEYED = re.compile(rb"\}\t[ \t]*\{")


def _bomb(first: bytes) -> bool:
    """Does ``first`` nest deeper than an array of records can (``nesting.Guard``, counting in C:
    a one-line array of 16 MiB took 6 s counted bracket by bracket)?"""
    try:
        Guard(0, len(first) + 1).feed(first)
    except TooDeep:
        return True
    return False


def _object_began(first: bytes, why: str) -> bool:
    """Did an object begin on ``first`` before its syntax broke (``why``: msgspec's words)?
    Its first item need not be one: a topic's tombstone is ``null``. Without a place in
    ``why``, only a first item counts."""
    broke = error_byte(why)
    if broke is not None:
        return b"{" in first[1:broke]
    return first[1:].lstrip(b" \t\r")[:1] == b"{"
