"""Read a Confluent client.properties into librdkafka settings, safely.

The file is Java-style .properties, as the Confluent Cloud console writes it
(comments, ``key: value``, backslash continuations, credentials possibly inside
``sasl.jaas.config``). The API key and secret may come from CCAUDIT_API_KEY /
CCAUDIT_API_SECRET instead, so they need not sit on disk; a file that does hold
them must be private (mode 600), as ssh insists for its keys. No error message
quotes a value, and ``scrub_secrets`` masks secrets in librdkafka's own messages.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat

from .errors import InputError
from .text import typed

ENV_CREDENTIALS = {"sasl.username": "CCAUDIT_API_KEY", "sasl.password": "CCAUDIT_API_SECRET"}

# Keys a Confluent Cloud client.properties may hold that are not librdkafka settings.
_FOREIGN_PREFIXES = ("schema.registry.", "basic.auth.")
_FOREIGN_KEYS = {"client.dns.lookup", "sasl.jaas.config"}
_SETTING_NAME = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*")
_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")
# Settings confluent-kafka takes as Python objects (a map, a function), which no text can be.
_OBJECT_SETTINGS = {"default.topic.config", "error_cb", "logger", "oauth_cb", "on_commit", "stats_cb", "throttle_cb"}
# Settings (or their prefixes) that no Confluent Cloud client.properties holds, and that would
# change what ccaudit is: a properties file is read as data, not as code to run.
_REFUSED = {"plugin.library.paths": "it loads a library into ccaudit, which runs its code",
            "ssl.engine.location": "it loads a library into ccaudit, which runs its code",
            "ssl.providers": "it loads a library into ccaudit, which runs its code",
            "sasl.kerberos.kinit.cmd": "it is a command that ccaudit would run",
            "internal.termination.signal": "librdkafka would take that signal: Ctrl-C or kill could not stop ccaudit",
            "test.mock.": "it puts a fake cluster in the real one's place"}


def load_properties(path, insecure: bool = False) -> dict:
    """Read a Java-style client.properties into librdkafka settings.

    Refuses files other users can read (they hold the API secret) unless
    ``insecure``; CCAUDIT_API_KEY / CCAUDIT_API_SECRET override the file's
    sasl.username / sasl.password. Messages never quote values.
    """
    text = _read_private(path, insecure)
    props = _parse_properties(text, path)
    _take_jaas_credentials(props)
    for key, env in ENV_CREDENTIALS.items():
        if os.environ.get(env):
            props[key] = _from_environment(env)
            props.lines.pop(key, None)
    _check_properties(props, path)
    return props


def _from_environment(name: str) -> str:
    """A credential from the environment, refused as the file's would be, naming the variable."""
    value = typed(os.environ[name])
    if "{{" in value:
        raise InputError(f"{name} still holds a {{{{ placeholder }}}} from the template")
    try:
        value.encode()
    except UnicodeEncodeError:  # bytes that are not UTF-8, as Python holds them (surrogateescape)
        raise InputError(f"{name} is not UTF-8 text") from None
    return value


def _read_private(path, insecure: bool) -> str:
    """The file's text; a pipe's too (``--config <(pass show kafka)``, which keeps the secret
    off the disk), of at most 1 MiB, as a pipe has no size to check first."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) and not stat.S_ISFIFO(st.st_mode):
            raise InputError(f"{path}: not a regular file or a pipe")
        if os.name == "posix" and st.st_mode & 0o077 and not insecure:
            raise InputError(
                f"{path} is accessible by group/others (mode {stat.S_IMODE(st.st_mode):o}): a client.properties "
                f"must be private, as it may hold the API secret: run 'chmod 600 {path}' (or pass --insecure-config)"
            )
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a pipe nobody writes is empty, not waited for
        os.set_blocking(fd, True)
        with open(fd, "rb") as f:
            data = f.read((1 << 20) + 1)
        if len(data) > 1 << 20:
            raise InputError(f"{path}: too large to be a client.properties file")
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text client.properties file") from None
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None


class Properties(dict):
    """The settings of a properties file, and the line each was on (``lines``), to name it
    when the Kafka client refuses one."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[str, int] = {}


def line_of(conf: dict, said: str) -> str:
    """':N', the line of the setting a client's message names in quotes (No such configuration
    property: "foo.bar"), if the properties file gave it; else ''."""
    lines = getattr(conf, "lines", {})
    return next((f":{n}" for key, n in lines.items() if f'"{key}"' in said), "")


def _parse_properties(text: str, path) -> Properties:
    """Java .properties: # and ! comments, key=value / key: value, \\ continuations."""
    props = Properties()
    lines = re.split(r"\r\n|\r|\n", text.removeprefix("\ufeff"))  # a byte-order mark, as Windows editors write
    i = 0
    while i < len(lines):
        lineno, line = i + 1, lines[i].lstrip()
        i += 1
        if not line or line[0] in "#!":
            continue
        while _continues(line):  # (at the file's end, its backslash goes too)
            line, i = line[:-1] + (lines[i].lstrip() if i < len(lines) else ""), i + 1
        match = re.match(r"((?:[^=:\\\s]|\\.)+)(?:\s*[=:]\s*|\s+)(.*)$", line)  # key=value, key: value, key value
        key = _unescape(match.group(1)) if match else ""
        if not _KEY.match(key):  # never echo the line: it may be a secret
            raise InputError(f"{path}:{lineno}: expected 'key=value' (a librdkafka property)")
        value = _unescape(_unpadded(match.group(2)))  # type: ignore[union-attr]  # no match: refused above
        if _LONE_SURROGATE.search(value):  # never echo the value: it may be a secret
            raise InputError(f"{path}:{lineno}: a \\u escape that is half of a character")
        if "\0" in value:  # librdkafka reads it as the value's end: an empty group.id aborted the process
            raise InputError(f"{path}:{lineno}: a NUL character in the value")
        props[key], props.lines[key] = value, lineno
    return props


def _unpadded(raw: str) -> str:
    """The value without its trailing blanks, except one that a backslash keeps (``pass\\ ``)."""
    kept = raw.rstrip()
    return raw[: len(kept) + 1] if len(kept) < len(raw) and _continues(kept) else kept


def _continues(line: str) -> bool:
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def _unescape(s: str) -> str:
    """Java's escapes; a character past U+FFFF is two ``\\u`` escapes (a surrogate pair), as
    ``Properties.store`` writes it, and is joined back into one."""
    table = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
    s = re.sub(
        r"\\(u[0-9a-fA-F]{4}|.)",
        lambda m: chr(int(m[1][1:], 16)) if len(m[1]) == 5 else table.get(m[1], m[1]),
        s,
    )
    return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _take_jaas_credentials(props: dict) -> None:
    """Accept the Java variant of the file: credentials inside sasl.jaas.config, quoted as
    Java's StreamTokenizer reads them (``"ab\\"cd"`` is ``ab"cd``, ``\\t`` a TAB)."""
    jaas = props.get("sasl.jaas.config", "")
    for key, name in (("sasl.username", "username"), ("sasl.password", "password")):
        m = re.search(rf"\b{name}\s*=\s*(['\"])((?:\\.|(?!\1)[^\\])*)\1", jaas)
        if m:
            props.setdefault(key, _JAVA_ESCAPE.sub(_unescaped, m.group(2)))


_JAVA_ESCAPE = re.compile(r"\\([0-3][0-7]{0,2}|[4-7][0-7]?|.)", re.DOTALL)
_JAVA_LETTERS = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _unescaped(m: re.Match) -> str:
    code = m[1]
    return chr(int(code, 8)) if code[0] in "01234567" else _JAVA_LETTERS.get(code, code)


def _check_properties(props: dict, path) -> None:
    if not props.get("bootstrap.servers", "").replace(",", "").strip():  # "," waited 30 s for no broker
        raise InputError(f"{path}: missing bootstrap.servers")
    mechanism = props.get("sasl.mechanisms", props.get("sasl.mechanism", "GSSAPI")).upper()
    uses_password = props.get("security.protocol", "").upper().startswith("SASL") and (
        mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
    )
    for key, env in ENV_CREDENTIALS.items():
        if uses_password and not props.get(key):
            raise InputError(f"{path}: missing {key} (set it in the file or in {env})")
    for key, value in props.items():
        if key in _OBJECT_SETTINGS:
            where = line_of(props, f'"{key}"')  # as a client's message names it
            raise InputError(f"{path}{where}: {key} cannot be set in a properties file "
                             "(the Python client takes a Python object there)")
        if why := next((why for name, why in _REFUSED.items() if key.startswith(name)), None):
            where = line_of(props, f'"{key}"')
            raise InputError(f"{path}{where}: {key} is refused: {why}")
        if "{{" in value and not is_foreign_setting(key):
            raise InputError(f"{path}: {key} still holds a {{{{ placeholder }}}} from the template")


def secret_values(conf: dict) -> list[str]:
    """What ``scrub_secrets`` masks: every value but the broker list and the words of a
    setting's vocabulary (a secret pasted on the wrong line, or one inside another setting,
    ``sasl.oauthbearer.config``'s ``clientSecret=…``, is masked too), each word of them as
    well (librdkafka quotes a value from where it fails), and any name that is not a
    setting's (lowercase, dotted): a line ``KEY:SECRET`` is a setting named after the API
    key, and librdkafka quotes its name."""
    values = [str(v) for k, v in conf.items() if k in ENV_CREDENTIALS or not (  # the key and secret: whatever they are
        k == "bootstrap.servers" and _BROKERS.fullmatch(str(v)) or _plain(str(v)))]
    words = [w for v in values for w in _WORDS.split(v) if not _plain(w)]
    names = [k for k in conf if not _SETTING_NAME.fullmatch(k)]
    return sorted({s for s in values + words + names if len(s) >= 4}, key=len, reverse=True)  # a word after its value


# [SASL_SSL://]host:port, [::1]:port, or a host with a dot and no port (librdkafka's 9092)
_BROKERS = re.compile(r"(?:(?:\w+://)?(?:[\w.-]+:\d+|[\w-]+(?:\.[\w-]+)+|\[[0-9A-Fa-f:.]+\](?::\d+)?),?\s*)+")


def shown_brokers(line: str) -> str:
    """A broker line as ccaudit's messages give it: as it is if it holds only brokers,
    else masked (a secret pasted on it: it was printed whole)."""
    return line if _BROKERS.fullmatch(line) else "***"


def kept_brokers(conf: dict) -> str:
    """The broker line as a state file keeps it, to tell its cluster: as it is if it holds
    only brokers, else a digest of it, which tells one such line from another and shows
    nothing of a secret pasted on it."""
    line = str(conf["bootstrap.servers"])
    return line if _BROKERS.fullmatch(line) else "blake2b:" + hashlib.blake2b(line.encode(), digest_size=16).hexdigest()
_VOCABULARY = {"true", "false", "plaintext", "ssl", "sasl_ssl", "sasl_plaintext", "plain", "scram-sha-256",
               "scram-sha-512", "oauthbearer", "gssapi", "oidc", "https", "earliest", "latest", "none", "default",
               "required", "requisite", "sufficient", "optional", "username", "password"}  # and sasl.jaas.config's
_WORDS = re.compile(r"[\s=,;:'\"]+")


def _plain(text: str) -> bool:
    """A word of the settings' own vocabulary, a number (a port), or a JAAS login module's
    class: masked, "Invalid username or password" read "Invalid *** or ***"."""
    return text.lower() in _VOCABULARY or text.isdigit() or text.endswith("LoginModule")


def scrub_secrets(text: str, secrets: list[str]) -> str:
    """``text`` with every secret replaced by ***: librdkafka may quote settings, and cuts
    a long one short at its message's end, which may then end in a secret's first part
    (and half a character, decoded as U+FFFD)."""
    for s in secrets:
        text = text.replace(s, "***")
    body = text.rstrip("\ufffd")
    cut = max((k for s in secrets for k in range(min(len(s), len(body)), 3, -1) if body.endswith(s[:k])), default=0)
    return body[:len(body) - cut] + "***" if cut else text


def is_foreign_setting(key: str) -> bool:
    """A key the console's client.properties holds that librdkafka would reject."""
    return key in _FOREIGN_KEYS or key.startswith(_FOREIGN_PREFIXES)
