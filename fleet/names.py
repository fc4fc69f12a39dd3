"""Host names and ports as fleet accepts them, wherever they enter: inventories, `-H`,
retry files, mDNS, `ansible_host`, saved inventories, known_hosts (pure).

A name goes on into known_hosts lines (where `,` separates patterns and a newline starts a
new entry), into YAML files and onto the screen; so only two shapes pass:

- a DNS name: dot-separated labels of ASCII letters, digits, `-` and `_`, each 1-63
  characters, starting and ending with a letter, a digit (or, at the start, `_`), 253
  characters in all; one trailing dot (the root) is dropped. `_` is outside RFC 1123 but
  Ansible takes it and robots get named `duckie_01`; it is harmless in every place a name
  goes. Non-ASCII names are refused: a homoglyph could pass for another robot's name, and
  an internationalised name can be written in its `xn--` form. The last label may not be
  all digits: the system resolver reads `10.1` or `1234` as an IPv4 address.
- an IP address: IPv4 in dotted-quad form (no leading zeros, which inet_aton reads as
  octal), or IPv6, with an optional `%zone` of interface-name characters.

Case is kept as written (Ansible keeps it; DNS and mDNS compare names without it).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from fleet.errors import FleetError

MAX_NAME = 253
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\Z")
_ZONE = re.compile(r"[A-Za-z0-9_.-]{1,15}\Z")  # an interface name (IFNAMSIZ) or index
_SHOWN = 60  # characters of a refused name that an error message repeats


class BadHostName(FleetError, ValueError):
    """A host name or port that is neither a DNS name nor an IP address (a ValueError too:
    code that parses names catches it as one)."""


def shown(text: object) -> str:
    """Outside text as an error message can show it: repr (quotes, escapes), truncated."""
    if isinstance(text, str) and len(text) > _SHOWN:
        return f"{text[:_SHOWN]!r}... ({len(text)} characters)"
    return repr(text)


def _ip_problem(text: str) -> str | None:
    """None when `text` is an IP address fleet takes, else what is wrong with it."""
    address, _, zone = text.partition("%")
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address (outside IPv6 addresses, ':' is in no host name)"
    if zone and (parsed.version == 4 or not _ZONE.match(zone)):
        return "a zone (%...) is an interface name, on an IPv6 address only"
    return None


def is_ip_address(text: str) -> bool:
    return _ip_problem(text) is None


def _dns_problem(name: str) -> str | None:
    if len(name) > MAX_NAME:
        return f"longer than {MAX_NAME} characters"
    labels = name.split(".")
    for label in labels:
        if not label:
            return "an empty label (two dots, or a leading dot)"
        if len(label) > 63:
            return "a label longer than 63 characters"
        if not _LABEL.match(label):
            return (
                "a label holds letters, digits, '-' and '_' only, "
                "and neither starts nor ends with '-'"
            )
    if labels[-1].isdigit():
        return "all digits in the last label (an address in disguise)"
    return None


def host_problem(text: Any) -> str | None:
    """None when `text` is a host name or address fleet takes, else why not."""
    if not isinstance(text, str):
        return f"a host name is text, not {type(text).__name__}"
    if not text:
        return "empty"
    if ":" in text or "%" in text:
        return _ip_problem(text)
    if not text.isascii():
        return "not ASCII (write an internationalised name in its xn-- form)"
    if _ip_problem(text) is None:
        return None
    return _dns_problem(text.removesuffix(".") if len(text) > 1 else text)


def validate_host(text: Any, what: str = "host name") -> str:
    """The name as written (a trailing root dot dropped), or BadHostName saying why not."""
    problem = host_problem(text)
    if problem is not None:
        raise BadHostName(f"bad {what} {shown(text)}: {problem}")
    return text if is_ip_address(text) else text.removesuffix(".")


def validate_port(value: Any, what: str = "port") -> int:
    """A TCP port, 1-65535, given as a number or as digits."""
    port = value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 5:
        port = int(value)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise BadHostName(f"bad {what} {shown(value)}: a port is a number from 1 to 65535")
    return port


_GROUP = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}\Z")


def group_problem(text: Any) -> str | None:
    """None for a group name fleet takes: letters, digits, `_`, `-` and `.` (not first).
    Ansible's own advice is letters, digits and `_`; it warns about `-` and `.` but reads
    them, and so does fleet. Anything else (spaces, `:` `,` `!` `&` `~` `@` `*` `[`, control
    characters) could not be named in a pattern and must not reach the screen."""
    if not isinstance(text, str):
        return f"a group name is text, not {type(text).__name__}"
    if not _GROUP.match(text):
        return "a group name holds letters, digits, '_', '-' and '.' (not first)"
    return None
