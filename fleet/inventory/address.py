"""A host key of an Ansible YAML inventory split into a host pattern and a port (pure).

The rules are those of ansible-core's `parse_address` (what its YAML inventory plugin
calls for every key under `hosts:`): `NAME:PORT` when NAME has no `:` outside a range,
`[ANYTHING]:PORT` (the only way to give an IPv6 address a port), and a bare IPv6 address
is a host without a port. Ansible tries the bracketed form, then the plain one on what is
left. The host part may still hold ranges: it is checked once they are expanded.
"""

from __future__ import annotations

import re

_BRACKETED = re.compile(r"\[(.+)\]:([0-9]+)\Z", re.DOTALL)
# Everything before the last `:PORT`, as long as no `:` in it stands outside `[...]`.
_PLAIN = re.compile(r"((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)\Z")


def split_host_port(key: str) -> tuple[str, str | None]:
    """`robot01.local:2222` -> ("robot01.local", "2222"); `[::1]:22` -> ("::1", "22");
    `fe80::1` -> ("fe80::1", None). The port is left as text for the caller to check."""
    host, port = key, None
    for form in (_BRACKETED, _PLAIN):
        match = form.match(host)
        if match:
            host, port = match.group(1), match.group(2)
    return host, port
