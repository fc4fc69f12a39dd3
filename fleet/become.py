"""Becoming another user on a robot, with Ansible's meaning of `ansible_become`,
`ansible_become_user` (default root) and `ansible_become_method` (only sudo here): what
an inventory asks for, and the sudo command lines and stdin that carry it out (pure).

The become password travels on stdin, never in argv. The stdin of a command run through
sudo is framed so that it works whether or not sudo reads a password:

    [PASSWORD "\\n"] FRAME "\\n" DATA

`sudo -S` reads the password one byte at a time up to the first newline and leaves the
rest of stdin to the command. A NOPASSWD rule makes sudo read nothing, so the password
line would reach the command: the command therefore starts by reading lines up to the
frame line (a random token, at most one line before it) and discarding them; only then
does it read DATA (a new config.json, a helper's payload). Whether sudo asked or not,
the command sees exactly DATA and never keeps the password.

`-k` makes every sudo authenticate afresh (no cached timestamp), so sudo's behaviour is
the same for every command of a run. Before any command with DATA, probes run the same
command line with a script that only exits (sudoers decides per command, so probing
`true` could pass where `sh` is asked for a password):
- first `sudo -n` with empty stdin: when it passes, sudo asks nothing on this robot and
  the password is never sent to it (a NOPASSWD robot's command would read the password
  line, and sudo's I/O log may record a command's stdin);
- else, with a password, `sudo -S` with only the password line: a wrong one ends there,
  as "sudo: wrong become password", so DATA is never read as a second attempt.
`-p` sets a prompt of our own, so that its echo on stderr can be removed from what the
robot said; the password itself is masked in anything the robot sends back (a hostile
sudo could echo its stdin).
"""

from __future__ import annotations

import re
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

BECOME_PASSWORD_ENV = "FLEET_BECOME_PASSWORD"
METHODS = ("sudo",)
BECOME_VARIABLES = ("ansible_become", "ansible_become_user", "ansible_become_method")
# Ansible's booleans (module_utils.parsing.convert_bool), lowercased.
_TRUE = frozenset({"yes", "on", "1", "true", "y", "t"})
_FALSE = frozenset({"no", "off", "0", "false", "n", "f"})
_USER = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")  # fullmatch: `$` would let "root\n" by
# What sudo says when the password it read was wrong (sudo 1.8 and 1.9, and PAM's).
_WRONG = ("incorrect password attempt", "Sorry, try again", "Authentication failure")
_NEEDS = ("a password is required", "a terminal is required")


class BadBecome(ValueError):
    """An inventory asks to become in a way fleet cannot: the message names the host and
    the variable."""


@dataclass(frozen=True)
class Become:
    user: str = "root"
    method: str = "sudo"


def ansible_bool(value: Any) -> bool | None:
    """Ansible's reading of a boolean variable; None when it is not one."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    return None


def variable_problem(name: str, value: Any) -> str | None:
    """What is wrong with a become variable's value wherever it is declared (None: fine,
    or not a become variable). Whether the method is one fleet supports is asked only of
    a host that becomes: an inventory written for Ansible may use `su` elsewhere."""
    if name == "ansible_become" and ansible_bool(value) is None:
        return "true or false (yes/no, on/off, 1/0)"
    if name == "ansible_become_user" and not (isinstance(value, str) and _USER.fullmatch(value)):
        return "a user name"
    if name == "ansible_become_method" and not isinstance(value, str):
        return "a method name such as sudo"
    return None


def become_for(host: str, variables: Mapping[str, Any]) -> Become | None:
    """What `host` becomes for the steps that need another user; None: it does not."""
    for name in BECOME_VARIABLES:
        if name in variables:
            problem = variable_problem(name, variables[name])
            if problem is not None:
                raise BadBecome(f"{host}: {name} must be {problem}")
    if not ansible_bool(variables.get("ansible_become", False)):
        return None
    method = str(variables.get("ansible_become_method", "sudo"))
    if method not in METHODS:
        raise BadBecome(
            f"{host}: ansible_become_method {method!r} is not supported: fleet becomes "
            f"another user only with {', '.join(METHODS)}"
        )
    return Become(str(variables.get("ansible_become_user", "root")), method)


def password_problem(password: str) -> str | None:
    """Why a become password cannot be sent as sudo's one line of stdin."""
    if any(c in password for c in "\n\r\0"):
        return "the become password holds a line break or NUL, which sudo cannot read"
    try:
        password.encode()
    except UnicodeEncodeError:  # undecodable bytes from the environment
        return "the become password is not valid UTF-8 text"
    return None


@dataclass(frozen=True)
class Call:
    """One command for the robot's shell and the bytes for its stdin."""

    command: str
    stdin: bytes = field(repr=False)  # may hold the password


class Sudo:
    """The sudo command lines of one robot's run, as `become.user`, with or without a
    password (None: sudo must not ask, `-n`)."""

    def __init__(self, become: Become, password: str | None, token: str | None = None) -> None:
        if password is not None and password_problem(password):
            raise ValueError(password_problem(password))
        if not _USER.fullmatch(become.user):
            raise ValueError(f"ansible_become_user {become.user!r} is not a user name")
        token = token or secrets.token_hex(12)
        self.user = become.user
        self.prompt = f"[fleet-sudo-{token}]"  # no '%': sudo expands %-escapes in -p
        self.frame = f"fleet-become-{token}"
        self._password = password

    def __repr__(self) -> str:  # never the password
        return f"Sudo(user={self.user!r}, password={'set' if self._password else 'none'})"

    @property
    def _sudo(self) -> str:
        if self._password is None:
            return f"sudo -n -k -u {self.user} --"
        return f"sudo -S -k -p {shlex.quote(self.prompt)} -u {self.user} --"

    @property
    def _password_line(self) -> bytes:
        return b"" if self._password is None else self._password.encode() + b"\n"

    @property
    def asks_password(self) -> bool:
        return self._password is not None

    def quiet_probe(self, words: str) -> Call:
        """The command line of `run(words, ...)` with `sudo -n` and nothing on stdin:
        passes when sudo asks no password for it."""
        inner = f"{words} sh -c 'exit 0'".strip()
        return Call(f"sudo -n -k -u {self.user} -- {inner}", b"")

    def probe(self, words: str) -> Call:
        """The command line of `run(words, ...)` with a script that only exits, and only
        the password line on stdin: checks that sudo lets us in, and the password."""
        inner = f"{words} sh -c 'exit 0'".strip()
        return Call(f"{self._sudo} {inner}", self._password_line)

    def asks_nothing(self) -> None:
        """sudo asks no password on this robot: the password is not sent to it."""
        self._password = None

    def run(self, words: str, script: str, data: bytes | None) -> Call:
        """`words` (e.g. `runuser -u pi --`, or nothing) then `sh -c script`, under sudo,
        the script reading only `data` from stdin."""
        guarded = f"{self.guard()}{script}"
        inner = f"{words} sh -c {shlex.quote(guarded)}".strip()
        stdin = self._password_line + self.frame.encode() + b"\n" + (data or b"")
        return Call(f"{self._sudo} {inner}", stdin)

    def guard(self) -> str:
        """Shell that consumes stdin up to and including the frame line (at most one line
        before it: the password sudo did not read)."""
        frame = shlex.quote(self.frame)
        return (
            "fleet_frame() { IFS= read -r fleet_l || return 1; "
            f'[ "$fleet_l" = {frame} ] && return 0; '
            f'IFS= read -r fleet_l && [ "$fleet_l" = {frame} ]; }}; '
            'fleet_frame || { echo "stdin did not carry fleet\'s frame line" >&2; exit 125; }; '
            "unset fleet_l; "
        )

    def clean(self, said: bytes) -> bytes:
        """What the robot said (stdout or stderr) without sudo's echoes of our prompt and
        with the password masked, should anything there have echoed it."""
        said = said.replace(self.prompt.encode(), b"")
        if self._password:
            said = said.replace(self._password.encode(), b"***")
        return said

    def probe_problem(self, exit_status: int, stderr: bytes) -> str | None:
        """Why the probe's answer means no command can run through sudo (None: they can)."""
        if exit_status == 0:
            return None
        said = self.clean(stderr).decode(errors="replace")
        if self._password is not None and any(w in said for w in _WRONG):
            return "sudo: wrong become password"
        if self._password is None and any(w in said for w in _NEEDS):
            return (
                f"sudo wants a password to become {self.user}: pass --ask-become-pass "
                f"or set {BECOME_PASSWORD_ENV}"
            )
        if exit_status == 127 and "not found" in said:
            return "sudo is not installed on the robot (ansible_become_method sudo)"
        lines = [line.strip() for line in said.splitlines() if line.strip()]
        return f"sudo refused to become {self.user}: {' | '.join(lines)[:300] or 'no reason given'}"
