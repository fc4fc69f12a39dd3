"""The user's known_hosts file, read and written the way OpenSSH reads and writes it.

Reading is pure (`parse_known_hosts`): each line becomes an `Entry` (its marker, its host
field, its key), or a problem reported once and skipped, as OpenSSH's hostfile.c skips a
line it cannot parse: bad base64, a malformed hashed `|1|` name, an unknown marker or key
type. One broken line never stops fleet from reading the others.

Host fields match as in OpenSSH's `match_hostname`: comma-separated patterns with `*` and
`?` (no character classes), case-insensitive, a matching `!pattern` vetoes the line, and a
hashed field (`|1|salt|hmac`, from `HashKnownHosts yes`) stands alone.

Writing (`KnownHosts.add`, `KnownHosts.forget`) is a locked read-modify-write and an atomic
replace (`fleet.files.locked_update`): a crash or a full disk never loses a trusted key, and
two fleets trusting robots at once both land. Comments, hashed entries and every other
host's lines stay exactly as they were.
"""

from __future__ import annotations

import base64
import binascii
import enum
import functools
import hashlib
import hmac
import logging
import os
import re
import struct
import threading
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from fleet.files import Update, locked_update
from fleet.names import BadHostName, host_problem, validate_host, validate_port

log = logging.getLogger(__name__)

# Plain host key types OpenSSH knows (sshkey.c); certificates never sit in known_hosts.
KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ssh-dss",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "sk-ssh-ed25519@openssh.com",
    }
)
HASH_MAGIC = "|1|"
SALT_BYTES = 20  # HMAC-SHA1's size: OpenSSH's extract_salt insists on it


class MalformedLine(ValueError):
    """A known_hosts line OpenSSH would skip as invalid; the message says why."""


@dataclass(frozen=True)
class PublicKey:
    """A host key as SSH encodes it: `blob` is the wire form, whose first string is the type."""

    type: str
    blob: bytes

    @classmethod
    def parse(cls, key_type: str, text: str) -> PublicKey:
        try:
            blob = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedLine(f"the {key_type} key is not valid base64") from None
        if _blob_type(blob) != key_type:
            raise MalformedLine(f"the key data is not a {key_type} key")
        return cls(key_type, blob)

    @classmethod
    def of(cls, key: object) -> PublicKey:
        """From a paramiko PKey (anything with `asbytes()`: the server's offered key)."""
        blob = key.asbytes()  # type: ignore[attr-defined]
        return cls(_blob_type(blob) or "unknown", blob)

    @property
    def base64(self) -> str:
        return base64.b64encode(self.blob).decode()

    @property
    def fingerprint(self) -> str:
        """OpenSSH's default form, as `ssh-keygen -l` and ssh's own prompts print it."""
        digest = base64.b64encode(hashlib.sha256(self.blob).digest()).decode().rstrip("=")
        return f"SHA256:{digest}"

    def line(self, hosts: str) -> str:
        return f"{hosts} {self.type} {self.base64}\n"


def _blob_type(blob: bytes) -> str | None:
    if len(blob) < 4:
        return None
    (length,) = struct.unpack(">I", blob[:4])
    if length > 64 or len(blob) < 4 + length:
        return None
    try:
        return blob[4 : 4 + length].decode("ascii")
    except UnicodeDecodeError:
        return None


class Marker(enum.Enum):
    NONE = ""
    CERT_AUTHORITY = "@cert-authority"
    REVOKED = "@revoked"


@dataclass(frozen=True)
class Entry:
    """One usable known_hosts line: `line` is its number (from 1), for messages."""

    line: int
    marker: Marker
    hosts: str
    key: PublicKey

    def matches(self, name: str) -> bool:
        return host_matches(self.hosts, name)


@dataclass(frozen=True)
class Parsed:
    entries: tuple[Entry, ...]
    problems: tuple[str, ...]  # "line N: why", for lines skipped


def host_pattern(name: str, port: int) -> str:
    """How OpenSSH writes a name: bare on port 22, `[name]:port` on any other."""
    return name if port == 22 else f"[{name}]:{port}"


def hash_name(name: str, salt: bytes | None = None) -> str:
    """A `HashKnownHosts` field for `name`: HMAC-SHA1 of the name keyed by a random salt."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"{HASH_MAGIC}{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def _check_hashed(field: str) -> None:
    parts = field[len(HASH_MAGIC) :].split("|")
    try:
        if len(parts) != 2:
            raise ValueError
        salt = base64.b64decode(parts[0], validate=True)
        digest = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise MalformedLine("a hashed host name that is not |1|salt|hash") from None
    if len(salt) != SALT_BYTES or len(digest) != SALT_BYTES:
        raise MalformedLine("a hashed host name with a salt or hash of the wrong size")


@functools.lru_cache(maxsize=1024)
def _wildcard(pattern: str) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.DOTALL)


def host_matches(hosts: str, name: str) -> bool:
    """Whether a known_hosts host field names `name` (OpenSSH's match_hostname)."""
    if hosts.startswith("|"):
        salt = base64.b64decode(hosts[len(HASH_MAGIC) :].split("|")[0])
        return hmac.compare_digest(hash_name(name, salt), hosts)
    name = name.lower()
    matched = False
    for pattern in hosts.lower().split(","):
        negated = pattern.startswith("!")
        if _wildcard(pattern[1:] if negated else pattern).fullmatch(name):
            if negated:
                return False
            matched = True
    return matched


def parse_line(text: str, number: int) -> Entry | None:
    """One line: None for a blank line or a comment, MalformedLine for a bad one."""
    fields = text.split()
    if not fields or fields[0].startswith("#"):
        return None
    marker = Marker.NONE
    if fields[0].startswith("@"):
        try:
            marker = Marker(fields[0])
        except ValueError:
            raise MalformedLine(f"unknown marker {fields[0][:32]!r}") from None
        fields = fields[1:]
        if fields and fields[0].startswith("@"):
            raise MalformedLine("more than one marker")
    if len(fields) < 3:
        raise MalformedLine("too few fields (want: hosts, key type, key)")
    hosts, key_type, key_text = fields[:3]
    if hosts.startswith("|"):
        _check_hashed(hosts)
    if key_type not in KEY_TYPES:
        raise MalformedLine(f"unsupported key type {key_type[:64]!r}")
    return Entry(number, marker, hosts, PublicKey.parse(key_type, key_text))


def parse_known_hosts(text: str) -> Parsed:
    entries: list[Entry] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            entry = parse_line(line, number)
        except MalformedLine as exc:
            problems.append(f"line {number}: {exc}")
            continue
        if entry is not None:
            entries.append(entry)
    return Parsed(tuple(entries), tuple(problems))


def lines_naming(text: str, names: Iterable[str]) -> list[int]:
    """Numbers of the key lines (hashed or not, wildcards included) that name any of
    `names`: what `fleet forget` removes, as `ssh-keygen -R` does. @revoked and
    @cert-authority lines stay: forgetting a robot must not un-revoke a stolen key."""
    wanted = list(names)
    found = []
    for entry in parse_known_hosts(text).entries:
        if entry.marker is Marker.NONE and any(entry.matches(n) for n in wanted):
            found.append(entry.line)
    return found


def check_recordable(name: str) -> str:
    """A name fit to write into known_hosts: a host name as fleet takes it everywhere
    (fleet.names), with the `[name]:port` form around it; anything else (patterns, markers,
    spaces, commas, newlines) is refused, as OpenSSH refuses to record `@?*#[]|'"\\` in a
    name."""
    bare = name
    match = re.fullmatch(r"\[([^\[\]]+)\]:(\d{1,5})", name)
    if match:
        bare = match.group(1)
        if not 0 < int(match.group(2)) < 65536:
            raise BadHostName(f"bad port in {name!r}: a port is a number from 1 to 65535")
    problem = host_problem(bare)
    if problem is not None:
        raise BadHostName(f"bad host name {name!r} for known_hosts: {problem}")
    return name


_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def _warn_once(path: Path, problems: Sequence[str]) -> None:
    for problem in problems:
        with _warned_lock:
            if (str(path), problem) in _warned:
                continue
            _warned.add((str(path), problem))
        log.warning("%s %s; the line is skipped", path, problem)


class KnownHosts:
    """One known_hosts file. Reads parse it afresh: another fleet may have written it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _text(self) -> str:
        try:
            return self.path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def entries(self) -> tuple[Entry, ...]:
        parsed = parse_known_hosts(self._text())
        _warn_once(self.path, parsed.problems)
        return parsed.entries

    def update(self) -> AbstractContextManager[Update]:
        """The file's locked read-modify-write (its directory made 0700 first, as ssh does)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return locked_update(self.path)

    def add(self, names: list[str], port: int, key: object) -> None:
        """Record `key` (a paramiko PKey or a PublicKey) for every name, on one line."""
        for name in names:  # a comma or a newline would add a host pattern or a CA line
            validate_host(name)
        validate_port(port)
        public = key if isinstance(key, PublicKey) else PublicKey.of(key)
        patterns = [check_recordable(host_pattern(n, port)) for n in names]
        with self.update() as update:
            update.write(append_line(update.current or "", public, patterns))

    def forget(self, names: Iterable[str]) -> int:
        """Remove every line (hashed or not) naming any of `names`, given in their
        `[name]:port` form where the port is not 22; return how many went."""
        wanted = list(names)
        with self.update() as update:
            text = update.current or ""
            doomed = set(lines_naming(text, wanted))
            if doomed:
                kept = text.splitlines(keepends=True)
                update.write("".join(line for n, line in enumerate(kept, 1) if n not in doomed))
        return len(doomed)


def append_line(text: str, key: PublicKey, patterns: Sequence[str]) -> str:
    """`text` with one line recording `key` under `patterns` added at the end."""
    if text and not text.endswith("\n"):
        text += "\n"  # as OpenSSH's knownhosts.sh checks: a last line without a newline
    return text + key.line(",".join(dict.fromkeys(patterns)))
