"""The inputs of ``ccaudit spark``, on the driver: every file of every input, in input
order, what ccaudit's messages call it, and its route (``spark_job`` reads it).

Spark's own file index drops names that start with ``_`` or ``.`` even when named, globs
every path again (``day[1].jsonl`` would read ``day1.jsonl``), and neither it nor Hadoop
can name a file with a ``:``. So local inputs are listed here in Python, and in local mode
each file is handed to Spark as a link named by its rank; URIs are listed through Hadoop.
"""
from __future__ import annotations

import contextlib
import glob
import io
import os
import re
import shlex
import stat
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

from .errors import READ_ERRORS, InputError
from .files import descriptor_of, refuse_output_onto, same_file
from .folders import check_writable, unslashed
from .ingest import BUFFER, EMPTY_NAME, Dump, check_readable, sniff
from .spark_job import file_key
from .stats import LoadStats
from .storefile import looks_like_sqlite
from .streams import SQLITE_MAGIC, first_bytes
from .text import file_name, printable, told_apart

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/")  # s3a://, hdfs://, file:/; not audit-T10:00.jsonl
_GLOB = re.compile(r"[*?\[{]")
_GLOB_CHARS = re.compile(r"([*?\[\]{}\\])")  # what Hadoop's glob reads as a pattern
WHOLE_LIMIT = 2**31 - 1  # Spark's binaryFile holds a file in one byte array


@dataclass
class Source:
    """One input file: ``path`` for Spark's readers, ``uri`` as Spark names it in
    ``_metadata.file_path``, ``label`` as ccaudit's messages name it, ``size`` in bytes."""

    path: str
    uri: str
    label: str
    size: int
    lines: bool = True  # plain line-mode: split across tasks; else read whole
    binary: bool = False  # its first bytes are not text (``Dump.binary``): told if no record can be read
    local: str | None = None  # a local file's own path: its size is looked at again once read


class Found(NamedTuple):
    """A file as listed: ``key`` tells a file named twice, ``fs`` is None for a local one."""

    key: str
    label: str
    size: int
    fs: object
    path: Any  # a local path, or a Hadoop Path


def is_uri(arg: str) -> bool:
    return bool(_URI.match(arg)) and not os.path.lexists(arg)


def sources(spark, inputs: Iterable[str], links: str | None, store: str | None = None) -> list[Source]:
    """Every file of ``inputs``, in input order (a glob's or folder's files sorted by
    name), each with its route. An input matching nothing is an InputError, before any
    job starts. With ``links`` (local mode: a cluster's executors could not see them),
    local files are handed to Spark as links in that folder."""
    jvm, conf = spark._jvm, spark._jsc.hadoopConfiguration()
    codecs = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(conf)
    found: dict[str, Found] = {}
    for arg in inputs:
        for file in hadoop_files(jvm, conf, arg) if is_uri(arg) else local_files(arg, store):
            found.setdefault(file.key, file)  # a file named twice is read once
    if not found:  # a folder of nothing, or of _x and .x files only
        raise no_files(inputs)
    with ThreadPoolExecutor(16) as pool:  # remote stores answer slowly, but in parallel
        routes = list(pool.map(lambda f: line_mode(f.fs, f.path, f.label), found.values()))
    out, labels = [], list(told_apart((f.label for f in found.values()), found))
    for rank, (file, (lines, binary)) in enumerate(zip(found.values(), routes)):
        path = file.path
        if file.fs is None:
            if descriptor_of(path) is not None:  # /dev/stdin, /dev/fd/3: the JVM's own is another file
                path = os.path.realpath(path)
            if links:
                os.symlink(path, link := os.path.join(links, str(rank)))
                path = link
            local = jvm.org.apache.hadoop.fs.Path(path)
            path = local.getFileSystem(conf).makeQualified(local)
        lines = lines and codecs.getCodec(path) is None  # Hadoop would decompress it by its name (a link has none)
        if not lines and file.size > WHOLE_LIMIT:
            raise InputError(f"{file.label}: {file.size:,} bytes, read whole (compressed, or one JSON document), "
                             "over Spark's limit of 2 GiB for such a file; split it, or load it with ccaudit load")
        out.append(Source(_GLOB_CHARS.sub(r"\\\1", path.toString()), path.toUri().toString(), labels[rank],
                          file.size, lines, binary, file.path if file.fs is None else None))
    return out


def note_changed_sizes(files: list[Source], stats: LoadStats) -> None:
    """Say, of each local file of ``files`` whose size is not what it was as it was listed
    (a dump still being written), that it was read in part: the records appended while
    Spark read it were left out without a word."""
    for file in files:
        if (now := size_changed(file)) is not None:
            stats.changed_size(file.label, file.size, now)


def size_changed(file: Source) -> int | None:
    """The size of a local ``file`` now, if it is not what it was as it was listed; None
    if it is, or if the file is not local or was removed meanwhile (Spark's reading says so)."""
    with contextlib.suppress(OSError):
        if file.local and (now := os.path.getsize(file.local)) != file.size:
            return now
    return None


def no_files(inputs: Iterable[str]) -> InputError:
    return InputError(f"{', '.join(inputs)}: no file to read (a folder's files named _x or .x are not read)")


def local_files(arg: str, store: str | None = None) -> list[Found]:
    """Each file of a local input: a file, a folder's files (not those named ``_x`` or
    ``.x``, as Spark's folders, nor its folders; a link to nothing is refused, not
    passed over), or a glob's (``{a,b}`` too, as Hadoop's globs; ``*`` does
    not match ``.x``, as a shell's), named as a shell would have passed them; not the
    ``store`` being written, which may be in an archive's folder. Only regular files that
    are not SQLite: Spark opens each again by name, which a pipe's would not give again."""
    if not arg:  # was ": no such file"
        raise InputError(EMPTY_NAME)
    out = []
    for label in _named(arg):
        path = os.path.join(os.getcwd(), label)  # not normalised: a link's '..' is the system's to follow
        if store and same_file(path, store):
            if label == arg:  # named itself, not found in a folder or by a glob
                raise InputError(f"{arg}: is also given as the store this run writes (--db)")
            continue
        shown = printable(file_name(label))
        check_readable(path, shown)
        _check_file(path, shown, label)
        out.append(Found("file:" + os.path.realpath(path), shown, os.path.getsize(path), None, path))
    return out


def _named(arg: str) -> list[str]:
    """The names of a local input's files, as a shell would pass them, none checked yet."""
    literal = os.path.lexists(arg)  # a name with glob characters (day[1].jsonl) is taken as it is
    matches = [arg] if literal else sorted({m for p in braces(arg) for m in glob.glob(p.replace("[^", "[!"))},
                                           key=os.fsencode)
    if not matches:
        check_readable(arg)  # one in a folder that cannot be searched: was "no such file"
        raise InputError(f"{arg}: no such file")
    return [name for match in matches for name in (_folder(match) if os.path.isdir(match) else [match])]


def _check_file(path: str, label: str, typed: str) -> None:
    if not stat.S_ISREG(os.stat(path).st_mode):  # read here to sniff it, it would be empty to Spark
        raise InputError(f"{label}: not a regular file (a pipe or a device), which Spark cannot open again by "
                         "name; load it with ccaudit load")
    if looks_like_sqlite(path):  # read as a dump, every line of it would be malformed
        raise not_a_dump(label, typed)


def not_a_dump(label: str, typed: str) -> InputError:
    """``typed``: the name to paste into the hint."""
    return InputError(f"{label}: is an SQLite file, not a dump (a store's reports: ccaudit report --db "
                      f"{shlex.quote(typed)})")


def _folder(folder: str) -> list[str]:
    try:
        names = sorted((e.name for e in os.scandir(folder) if not e.is_dir() and not e.name.startswith(("_", "."))),
                       key=os.fsencode)  # by its bytes, as a shell's glob: not by the surrogates of bytes not UTF-8
    except OSError as e:
        raise InputError(f"{folder}: cannot read: {e.strerror}") from None
    return [os.path.join(folder, name) for name in names]


def braces(pattern: str) -> list[str]:
    """A glob's ``{a,b}`` alternatives (Hadoop's syntax) as the patterns Python's glob knows."""
    start = pattern.find("{")
    depth, parts, at = 0, [], start + 1
    for i in range(start, len(pattern)) if start >= 0 else ():
        depth += {"{": 1, "}": -1}.get(pattern[i], 0)
        if depth == 1 and pattern[i] == ",":
            parts.append(pattern[at:i])
            at = i + 1
        elif depth == 0:
            parts.append(pattern[at:i])
            return [q for p in parts for q in braces(pattern[:start] + p + pattern[i + 1:])]
    return [pattern]


def hadoop_files(jvm, conf, arg: str) -> list[Found]:
    """Each file of a Hadoop URI, a glob or a folder."""
    path = jvm.org.apache.hadoop.fs.Path(arg)
    fs = path.getFileSystem(conf)
    matches = fs.globStatus(path)
    if not matches:
        check_readable(arg)  # one in a folder that cannot be searched: was "no such file"
        raise InputError(f"{arg}: no such file")
    out = []
    for status in sorted(matches, key=lambda s: s.getPath().toString()):
        if status.isDirectory():
            inner = [s for s in fs.listStatus(status.getPath())
                     if s.isFile() and not s.getPath().getName().startswith(("_", "."))]
            files = sorted(inner, key=lambda s: s.getPath().toString())
        else:
            files = [status]
        single = not _GLOB.search(arg) and not status.isDirectory()
        for s, p in ((s, fs.makeQualified(s.getPath())) for s in files):
            label = printable(arg if single else p.toString())
            out.append(Found(file_key(p.toUri().toString()), label, s.getLen(), fs, p))
    if arg.startswith("file:"):
        _all_named(arg)
    return out


def _all_named(uri: str) -> None:
    """Hadoop leaves out, without a word, the files of a ``file:`` folder or glob whose
    names are bytes that are not UTF-8 (Java cannot name them): listed here as a local
    input's files are, none may be one."""
    path, unnamed = re.sub(r"^file:(//(?=/))?", "", uri), 0  # file:///x and file:/x; not file://host/x
    with contextlib.suppress(InputError):  # what Hadoop's listing says of it stands
        unnamed = sum(not _utf8(name) for name in _named(path))
    if unnamed:
        raise InputError(f"{uri}: Hadoop cannot name {unnamed} of its files (bytes that are not UTF-8): give them as "
                         "local paths, without file:, or rename them")


def _utf8(name: str) -> bool:
    try:
        os.fsencode(name).decode()
    except UnicodeDecodeError:
        return False
    return True


class HadoopStream(io.RawIOBase):
    """A Hadoop input stream read from Python, as far as ccaudit's ``sniff`` needs."""

    def __init__(self, stream):
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        data = bytes(self.stream.readNBytes(len(buf)))
        buf[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.stream.close()
        super().close()


class HadoopDump(Dump):
    """A file on any Hadoop file system, opened as ccaudit opens a local one."""

    def __init__(self, fs, path):
        super().__init__("-")
        self.label, self.path, self._fs, self._path = "", "", fs, path

    def _open_raw(self):
        return io.BufferedReader(HadoopStream(self._fs.open(self._path)), buffer_size=BUFFER)


def line_mode(fs, path, label: str) -> tuple[bool, bool]:
    """(Plain (not compressed) line-mode content, first bytes that are not text), as
    ccaudit's own opening and ``sniff`` see it (reading ahead past blank lines as far as a
    local load would): a local file (``fs`` None) is opened as a local load opens it, a
    Hadoop one through ``fs``. An SQLite file (named ``label``) is an InputError."""
    dump = Dump(path) if fs is None else HadoopDump(fs, path)
    try:
        stream = dump.open()
    except InputError:
        return False, False  # zstd, zip: the whole-file route reports it as a local load does
    try:
        try:
            head, stream = first_bytes(stream, len(SQLITE_MAGIC))
        except READ_ERRORS:  # a damaged gzip: the whole-file route reports it as a local load does
            return False, dump.binary
        if head == SQLITE_MAGIC:  # a local file's was refused before Spark started
            raise not_a_dump(label, label)
        return not dump.compressed and sniff(stream)[0] == "lines", dump.binary
    finally:
        dump.close(stream)


def all_listed(files: list[Source], listed: Iterable[str]) -> None:
    """Each of ``files`` with content is among the files Spark will read (``listed``),
    never silently left out: Spark's file index drops some names on its own (``_x`` and
    ``.x`` on an object store)."""
    keys = {file_key(str(uri)) for uri in listed}
    for file in files:
        if file.size and file_key(file.uri) not in keys:
            raise InputError(f"{file.label}: Spark would skip this file (it ignores names that start with '_' or "
                             "'.'); rename it, or load it with ccaudit load")


def check_inputs(inputs, store_path: str, parquet: str | None = None) -> None:
    """Refuse a bad local input, or a local --parquet folder that exists, now, before Spark
    starts (or a store is made for it)."""
    if parquet == "":  # was no Parquet, and not a word
        raise InputError("--parquet: the folder's name is empty (an unset variable?): name a new folder")
    if parquet and os.path.lexists(unslashed(parquet)):  # was found after seconds of starting Spark
        raise InputError(f"{parquet}: already exists; --parquet needs a new folder")
    if parquet and not is_uri(parquet):  # was found once Spark had read every input
        if not os.path.isdir(made_in := _made_in(parquet)):
            raise InputError(f"{parquet}: cannot write the Parquet files: {made_in} is not a folder")
        check_writable(made_in, parquet, "the Parquet files")
    local = [arg for arg in inputs if not is_uri(arg)]
    found = [f for arg in local for f in local_files(arg, store_path)]
    if not found and len(local) == len(inputs):
        raise no_files(inputs)
    for f in found:
        if f.fs is None:  # (>> dump.jsonl)
            refuse_output_onto(str(f.path), "an input", label=f.label)


def _made_in(folder: str) -> str:
    """Where Spark makes ``folder`` and any of its missing parents: the nearest that exists
    (which may be a file)."""
    parent = os.path.dirname(os.path.abspath(folder))
    while not os.path.lexists(parent):
        parent = os.path.dirname(parent)
    return parent
