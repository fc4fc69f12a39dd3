"""The Docker user's ~/.docker/config.json on a robot: read, replace, and its credential
helpers (I/O over the run's SSH connection).

Every step runs as the user who owns the file (the SSH user, or `runuser -u USER` when
fleet logs in as root, or through sudo when the inventory sets ansible_become; see
`fleet.become` for how the become password and the data share stdin), never as root on
a path that user controls: a user in the docker
group could otherwise point ~/.docker or config.json at a root-owned file. A symlinked
~/.docker, a config.json that is not a regular file or not the user's, or one larger than
any real config is refused. config.json may be a symlink to a file of the same user (a
dotfiles repository), as docker allows; the write goes through it.

A write holds a lock beside the file and replaces it only if it is still the version the
plan read (its SHA-256): two runs writing one robot never lose each other's registry.
Secrets travel on stdin only.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass

from fleet.become import Become, Call, Sudo
from fleet.errors import RobotError
from fleet.transport.ssh import CommandResult, Connection

MAX_CONFIG_BYTES = 1024 * 1024  # docker's own config.json is a few KB
MAX_HELPER_BYTES = 64 * 1024
PROBE_TIMEOUT = 30.0  # sudo with a wrong password waits a few seconds (PAM), no more
CHANGED_SINCE_READ = 75  # EX_TEMPFAIL: the file changed between read and write
# Matched whole (fullmatch): `$` would also match before a trailing newline.
_USER = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")
_HELPER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

_PATHS = (
    'home=$(getent passwd "$(id -u)" | cut -d: -f6); '
    '[ -n "$home" ] || { echo "the user has no home directory" >&2; exit 3; }; '
    'dir="$home/.docker"; cfg="$dir/config.json"; '
)
# Sets $target (the file to read or replace) or says why the file is not one to touch.
_CHECK = (
    'unsafe() { echo "unsafe $1"; exit 0; }; '
    '[ -L "$dir" ] && unsafe "~/.docker is a symbolic link"; '
    '[ ! -e "$dir" ] || [ "$(stat -c %u -- "$dir")" = "$(id -u)" ] '
    '|| unsafe "~/.docker belongs to another user"; '
    'target=$cfg; [ -L "$cfg" ] && target=$(readlink -f -- "$cfg"); '
    'if [ -e "$target" ]; then '
    '[ -f "$target" ] || unsafe "config.json is not a regular file"; '
    '[ "$(stat -c %u -- "$target")" = "$(id -u)" ] '
    '|| unsafe "config.json belongs to another user"; '
    f'[ "$(stat -c %s -- "$target")" -le {MAX_CONFIG_BYTES} ] '
    f'|| unsafe "config.json is larger than {MAX_CONFIG_BYTES} bytes"; fi; '
)
READ_SCRIPT = (
    f"{_PATHS}{_CHECK}"
    'printf "%s\\n" "$cfg"; '
    'if [ -e "$target" ]; then echo present; '
    f'head -c {MAX_CONFIG_BYTES} -- "$target"; else echo missing; fi'
)


class RemoteError(RobotError):
    """A step on the robot failed; the message says which and why."""


@dataclass(frozen=True)
class ConfigFile:
    path: str
    text: str | None  # None: missing
    unsafe: str | None = None  # why fleet will not touch it

    @property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.text.encode()).hexdigest() if self.text is not None else None


def as_user(docker_user: str | None, ssh_user: str, script: str) -> str:
    """A shell command running `script` as the Docker user (the SSH user when None)."""
    if docker_user is None or docker_user == ssh_user:
        return "sh -c " + shlex.quote(script)
    _check_user(docker_user)
    if ssh_user != "root":
        raise RemoteError(
            f"writing {docker_user}'s Docker config needs root on the robot: log in as root, "
            f"or as {docker_user}, or set ansible_become"
        )
    return f"runuser -u {docker_user} -- sh -c {shlex.quote(script)}"


def _check_user(docker_user: str) -> None:
    if not _USER.fullmatch(docker_user):
        raise RemoteError(f"--docker-user {docker_user!r} is not a user name")


def needs_become(docker_user: str | None, ssh_user: str, become: Become | None) -> bool:
    """Whether a step as the Docker user goes through sudo: only when the inventory says
    become, the step is another user's, and the SSH user is not root already (root gets
    there with runuser, as without become)."""
    return (
        become is not None
        and docker_user is not None
        and docker_user != ssh_user
        and ssh_user != "root"
    )


def sudo_words(docker_user: str, become: Become) -> str:
    """What follows sudo to reach the Docker user: nothing when sudo becomes that user,
    runuser when it becomes root."""
    _check_user(docker_user)
    if become.user == docker_user:
        return ""
    if become.user != "root":
        raise RemoteError(
            f"writing {docker_user}'s Docker config needs root or {docker_user} on the robot, "
            f"and ansible_become_user is {become.user}"
        )
    return f"runuser -u {docker_user} --"


class UserShell:
    """Runs scripts on a robot as the Docker user over the run's SSH connection: as the
    SSH user, with runuser when that is root, or through sudo (ansible_become). The sudo
    probe runs once, before the first command that needs it."""

    def __init__(
        self,
        conn: Connection,
        docker_user: str | None,
        become: Become | None = None,
        become_password: str | None = None,
        probe_timeout: float = PROBE_TIMEOUT,
    ) -> None:
        self.conn = conn
        self.docker_user = docker_user
        self._sudo: Sudo | None = None
        self._words = ""
        if become is not None and docker_user is not None:
            if needs_become(docker_user, conn.target.user, become):
                self._words = sudo_words(docker_user, become)
                self._sudo = Sudo(become, become_password)
        self._probed = False
        self._probe_timeout = probe_timeout

    def run(self, script: str, stdin: bytes | None = None) -> CommandResult:
        if self._sudo is None:
            return self.conn.run(as_user(self.docker_user, self.conn.target.user, script), stdin)
        self._probe(self._sudo)
        call = self._sudo.run(self._words, script, stdin)
        done = self.conn.run(call.command, call.stdin)
        clean = self._sudo.clean
        return CommandResult(done.exit_status, clean(done.stdout), clean(done.stderr))

    def _probe(self, sudo: Sudo) -> None:
        if self._probed:
            return
        if sudo.asks_password:
            quiet = self._probe_run(sudo.quiet_probe(self._words))
            if quiet.exit_status == 0:
                sudo.asks_nothing()
                self._probed = True
                return
        done = self._probe_run(sudo.probe(self._words))
        problem = sudo.probe_problem(done.exit_status, sudo.clean(done.stderr))
        if problem is not None:
            raise RemoteError(problem)
        self._probed = True

    def _probe_run(self, call: Call) -> CommandResult:
        try:
            return self.conn.run(call.command, call.stdin, timeout=self._probe_timeout)
        except TimeoutError:
            raise RemoteError(
                f"sudo did not answer within {self._probe_timeout:g} s "
                "(does it want a terminal, or a password some other way?)"
            ) from None


def read_config(shell: UserShell) -> ConfigFile:
    done = shell.run(READ_SCRIPT)
    text = done.stdout.decode(errors="replace")
    if done.exit_status != 0:
        raise RemoteError(f"cannot read the Docker config: {_said(done.stderr)}")
    if text.startswith("unsafe "):
        path = "~/.docker/config.json"
        return ConfigFile(path, None, unsafe=text.removeprefix("unsafe ").strip()[:200])
    path, _, rest = text.partition("\n")
    state, _, content = rest.partition("\n")
    if state not in ("present", "missing"):
        raise RemoteError("the robot's answer about its Docker config made no sense")
    return ConfigFile(path[:4096], content if state == "present" else None)


def write_config(
    shell: UserShell,
    text: str,
    expected_sha256: str | None,
    *,
    backup: bool = False,
) -> None:
    """Replace config.json with `text` if it is still the version read (else RemoteError
    with exit status CHANGED_SINCE_READ: read it again). Killed at any moment, the robot
    keeps the old file or the new one: the new one is renamed over only when complete."""
    data = text.encode()
    expected = expected_sha256 or "none"
    keep = (
        '[ ! -e "$target" ] || { b=$(mktemp "$dir/config.json.fleet-backup-XXXXXX"); '
        'cat -- "$target" > "$b"; }; '
        if backup
        else ""
    )
    script = (
        f"set -eu; umask 077; {_PATHS}{_CHECK}"
        'mkdir -p -- "$dir"; chmod 700 -- "$dir"; '
        # The lock is the directory itself: no file of ours is left beside config.json.
        'exec 9<"$dir"; '
        'flock -w 30 9 || { echo "another writer holds the lock" >&2; exit 1; }; '
        'now=none; [ -e "$target" ] && now=$(sha256sum < "$target" | cut -c1-64); '
        f'[ "$now" = {shlex.quote(expected)} ] || exit {CHANGED_SINCE_READ}; '
        'place=$(dirname -- "$target"); '
        # What a killed run left; we hold the lock, so no live writer owns these.
        'rm -f -- "$place"/.config.json.fleet-*; '
        f"{keep}"
        'tmp=$(mktemp "$place/.config.json.fleet-XXXXXX"); cat > "$tmp"; '
        f'if [ "$(wc -c < "$tmp")" -ne {len(data)} ]; then rm -f -- "$tmp"; '
        'echo "the new config arrived incomplete; nothing changed" >&2; exit 1; fi; '
        'sync -- "$tmp" 2>/dev/null || true; mv -f -- "$tmp" "$target"'
    )
    done = shell.run(script, stdin=data)
    if done.stdout.startswith(b"unsafe "):
        raise RemoteError(f"refusing to write: {done.stdout.decode(errors='replace')[7:].strip()}")
    if done.exit_status == CHANGED_SINCE_READ:
        raise ConfigChanged("config.json changed since it was read")
    if done.exit_status != 0:
        raise RemoteError(f"cannot write the Docker config: {_said(done.stderr)}")


class ConfigChanged(RemoteError):
    """Another writer replaced config.json after fleet read it."""


def helper_command(helper: str, verb: str) -> str:
    if not _HELPER.fullmatch(helper):
        raise RemoteError(f"credential helper name {helper!r} is not one docker would run")
    return f"docker-credential-{helper} {verb}"


def helper_get(shell: UserShell, helper: str, registry: str) -> tuple[str, str] | None:
    """(username, secret) the helper holds for the registry; None when it holds nothing."""
    script = f"{helper_command(helper, 'get')} | head -c {MAX_HELPER_BYTES}"
    done = shell.run(script, stdin=registry.encode())
    if done.exit_status != 0:
        return None
    try:
        data = json.loads(done.stdout)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return str(data.get("Username", ""))[:256], str(data.get("Secret", ""))


def helper_call(shell: UserShell, helper: str, verb: str, payload: bytes) -> None:
    script = f"{helper_command(helper, verb)} | head -c 4096"
    done = shell.run(script, stdin=payload)
    if done.exit_status != 0:
        detail = _said(done.stdout or done.stderr)
        raise RemoteError(f"credential helper {helper} failed to {verb}: {detail}")


def helper_list(shell: UserShell, helper: str) -> list[str]:
    script = f"{helper_command(helper, 'list')} | head -c {MAX_HELPER_BYTES}"
    done = shell.run(script)
    try:
        listed = json.loads(done.stdout or b"{}")
    except ValueError:
        return []
    return [str(name)[:256] for name in listed] if isinstance(listed, dict) else []


def _said(stream: bytes) -> str:
    return stream.decode(errors="replace").strip()[:300]
