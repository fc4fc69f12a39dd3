"""ansible_become: the inventory variables, the sudo command lines, and the stdin framing
run for real through a shell and a stand-in for sudo that reads its password the way
sudo(8) does (one byte at a time, up to the first newline), or through the real sudo
where it is installed."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleet.become import BadBecome, Become, Sudo, ansible_bool, become_for
from fleet.errors import FleetError
from fleet.inventory.load import load_text
from fleet.tasks.robot_config import RemoteError, UserShell
from fleet.transport.ssh import CommandResult

PASSWORD = "hunter2 with spaces \\ and 'quotes'"
DATA = b'{"auths": {}}\nsecond line without newline at the end'

# What fleet needs of sudo(8): -S reads the password from stdin, one byte at a time up to
# the newline (sudo's tgetpass), leaving the rest of stdin to the command; -n never asks;
# a NOPASSWD rule reads nothing; a wrong password is "Sorry, try again." and a new prompt.
FAKE_SUDO = r"""#!/bin/sh
printf '%s\n' "$*" >> "$FAKE_LOG"
stdin=0 nonint=0 prompt='[sudo] password: '
while [ $# -gt 0 ]; do
  case $1 in
    -S) stdin=1 ;; -n) nonint=1 ;; -k) ;;
    -p) shift; prompt=$1 ;; -u) shift ;;
    --) shift; break ;; *) break ;;
  esac
  shift
done
case $FAKE_RULE in
  hang) sleep 30 ;;
  missing) echo "sh: 1: sudo: not found" >&2; exit 127 ;;
  echo) cat >&2; exit 1 ;;
  password)
    [ $nonint = 0 ] || { echo "sudo: a password is required" >&2; exit 1; }
    [ $stdin = 1 ] || { echo "sudo: a terminal is required to read the password" >&2; exit 1; }
    tries=0
    while :; do
      printf '%s' "$prompt" >&2
      IFS= read -r given || { echo "sudo: $tries incorrect password attempt" >&2; exit 1; }
      [ "$given" = "$FAKE_PASSWORD" ] && break
      tries=$((tries + 1)); echo "Sorry, try again." >&2
      [ $tries -lt 3 ] || { echo "sudo: 3 incorrect password attempts" >&2; exit 1; }
    done ;;
esac
exec "$@"
"""
FAKE_RUNUSER = """#!/bin/sh
printf 'runuser %s\\n' "$*" >> "$FAKE_LOG"
shift 3
exec "$@"
"""


@dataclass(frozen=True)
class Target:
    user: str


class LocalConnection:
    """Connection.run's contract, on this machine: the command through `sh -c` as sshd
    runs it, stdin written then closed, a timeout that raises TimeoutError."""

    def __init__(self, user: str, path: str, env: dict[str, str]) -> None:
        self.target = Target(user)
        self.commands: list[tuple[str, bytes | None]] = []
        self._env = {**os.environ, **env, "PATH": path}

    def run(self, command: str, stdin: bytes | None = None, timeout: float = 60) -> CommandResult:
        self.commands.append((command, stdin))
        try:
            done = subprocess.run(
                ["sh", "-c", command], input=stdin or b"", capture_output=True, timeout=timeout,
                env=self._env,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"command did not finish in time: {command.split()[0]}") from None
        return CommandResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def robot(tmp_path):
    """A `duckie` login whose sudo follows a rule: robot(rule) -> (connection, log)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("sudo", FAKE_SUDO), ("runuser", FAKE_RUNUSER)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "argv.log"

    def make(rule: str, user: str = "duckie") -> tuple[LocalConnection, Path]:
        env = {"FAKE_RULE": rule, "FAKE_PASSWORD": PASSWORD, "FAKE_LOG": str(log)}
        return LocalConnection(user, f"{bin_dir}:{os.environ['PATH']}", env), log

    return make


ROOT = Become()


def shell(conn, password, docker_user="root", become=ROOT, **kwargs) -> UserShell:
    return UserShell(conn, docker_user, become, password, **kwargs)


# -- inventory variables --


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, None),
        ({"ansible_become": False, "ansible_become_method": "su"}, None),
        ({"ansible_become": "no"}, None),
        ({"ansible_become": True}, Become("root", "sudo")),
        ({"ansible_become": "yes", "ansible_become_user": "pi"}, Become("pi", "sudo")),
        ({"ansible_become": 1, "ansible_become_method": "sudo"}, Become("root", "sudo")),
    ],
)
def test_what_a_host_becomes(variables, expected):
    assert become_for("robot01", variables) == expected


@pytest.mark.parametrize(
    ("variables", "said"),
    [
        (
            {"ansible_become": True, "ansible_become_method": "su"},
            "robot01: ansible_become_method 'su' is not supported: fleet becomes another "
            "user only with sudo",
        ),
        ({"ansible_become": "maybe"}, "robot01: ansible_become must be true or false"),
        (
            {"ansible_become": True, "ansible_become_user": "root; rm -rf /"},
            "robot01: ansible_become_user must be a user name",
        ),
    ],
)
def test_what_fleet_cannot_become_names_the_host_and_variable(variables, said):
    with pytest.raises(BadBecome) as caught:
        become_for("robot01", variables)
    assert str(caught.value).startswith(said)


def test_booleans_read_as_ansible_reads_them():
    convert = pytest.importorskip("ansible.module_utils.parsing.convert_bool")
    for value in [*convert.BOOLEANS_TRUE, *convert.BOOLEANS_FALSE, "Yes", " TRUE "]:
        assert ansible_bool(value) is convert.boolean(value), value
    for value in ("maybe", "", 2, None, [], "enable"):
        assert ansible_bool(value) is None


def test_an_inventory_with_a_bad_become_value_fails_where_it_is_written():
    text = "all:\n  hosts:\n    robot01:\n      ansible_become: perhaps\n"
    with pytest.raises(FleetError) as caught:
        load_text(text, "hosts.yaml")
    assert "hosts.yaml" in str(caught.value)
    assert "ansible_become" in str(caught.value)


def test_an_unsupported_method_is_loaded_and_refused_only_where_it_becomes():
    text = "all:\n  hosts:\n    robot01:\n      ansible_become_method: su\n"
    load_text(text, "hosts.yaml")  # Ansible playbooks may use su; fleet does not become here


# -- command lines --


def test_the_password_is_never_in_the_command_line():
    sudo = Sudo(Become(), PASSWORD, token="t0k")
    probe, call = sudo.probe(""), sudo.run("", "cat", DATA)
    for command in (probe.command, call.command, sudo.quiet_probe("").command):
        assert PASSWORD not in command
        assert "hunter2" not in command
        assert command.startswith(("sudo -S -k -p '[fleet-sudo-t0k]' -u root -- ", "sudo -n -k"))
    assert probe.stdin == PASSWORD.encode() + b"\n"
    assert call.stdin == PASSWORD.encode() + b"\nfleet-become-t0k\n" + DATA
    assert "hunter2" not in repr(sudo) and "hunter2" not in repr(call)


def test_without_a_password_sudo_must_not_ask():
    sudo = Sudo(Become("pi"), None, token="t0k")
    assert sudo.probe("") == sudo.probe("").__class__("sudo -n -k -u pi -- sh -c 'exit 0'", b"")
    assert sudo.run("", "cat", None).stdin == b"fleet-become-t0k\n"


@pytest.mark.parametrize("password", ["two\nlines", "cr\r", "nul\0", "se\udce9cret"])
def test_a_password_sudo_cannot_read_as_one_line_is_refused(password):
    with pytest.raises(ValueError, match="line break or NUL|not valid UTF-8") as refused:
        Sudo(Become(), password)
    assert "se" not in str(refused.value).split("password")[-1]  # no part of it is shown


@pytest.mark.parametrize("user", ["root\n", "root\n-- true", "pi ", ""])
def test_a_become_user_is_a_whole_user_name(user):
    with pytest.raises(BadBecome, match="ansible_become_user must be a user name"):
        become_for("r1", {"ansible_become": True, "ansible_become_user": user})


def test_steps_as_the_ssh_user_or_from_root_do_not_use_sudo(robot):
    conn, _ = robot("password")
    for user, docker_user in (("duckie", None), ("duckie", "duckie"), ("root", "pi")):
        conn.target = Target(user)
        run = shell(conn, PASSWORD, docker_user=docker_user)
        command = run.conn.commands  # type: ignore[attr-defined]
        command.clear()
        try:
            run.run("true")
        except Exception:  # noqa: BLE001 - runuser as pi may not work here; argv is the point
            pass
        assert not command[0][0].startswith("sudo"), (user, docker_user)


def test_becoming_a_user_other_than_root_reaches_only_that_user(robot):
    conn, _ = robot("password")
    with pytest.raises(RemoteError, match="ansible_become_user is pi"):
        shell(conn, PASSWORD, docker_user="root", become=Become("pi"))


# -- the framing, through a shell and a sudo that behaves like sudo --


@pytest.mark.parametrize("rule", ["password", "nopasswd"])
@pytest.mark.parametrize("docker_user", ["root", "pi"])
def test_the_command_reads_exactly_its_data_whether_sudo_asks_or_not(robot, rule, docker_user):
    conn, log = robot(rule)
    run = shell(conn, PASSWORD, docker_user=docker_user)
    done = run.run("cat", DATA)
    assert done.exit_status == 0, done.stderr
    assert done.stdout == DATA
    assert b"fleet-sudo" not in done.stderr  # our prompt's echoes are removed
    assert run.run("cat").stdout == b""  # a command without data reads nothing
    argv = log.read_text()
    assert PASSWORD not in argv and "hunter2" not in argv
    assert ("runuser -u pi --" in argv) == (docker_user == "pi")


def test_nopasswd_works_without_a_password(robot):
    conn, _ = robot("nopasswd")
    done = shell(conn, None).run("cat", DATA)
    assert (done.exit_status, done.stdout) == (0, DATA)
    assert all(" -n " in command for command, _ in conn.commands)


def test_the_probes_run_once_per_robot_on_the_command_line_that_follows(robot):
    conn, _ = robot("password")
    run = shell(conn, PASSWORD, docker_user="pi")
    for _ in range(3):
        run.run("cat", DATA)
    probes = [command for command, _ in conn.commands if command.endswith("sh -c 'exit 0'")]
    assert len(probes) == 2  # sudo -n (refused: a password rule), then with the password
    assert all(" -- runuser -u pi -- sh -c " in command for command, _ in conn.commands)


def test_a_wrong_password_fails_before_any_data_is_sent(robot):
    conn, _ = robot("password")
    with pytest.raises(RemoteError, match="^sudo: wrong become password$"):
        shell(conn, "not-it").run("cat", DATA)
    # The probes only: DATA never became a password attempt.
    assert [stdin for _, stdin in conn.commands] == [b"", b"not-it\n"]


def test_a_robot_whose_sudo_asks_nothing_is_never_sent_the_password(robot):
    conn, _ = robot("nopasswd")
    done = shell(conn, PASSWORD, docker_user="pi").run("cat", DATA)
    assert (done.exit_status, done.stdout) == (0, DATA)
    assert all(PASSWORD.encode() not in (stdin or b"") for _, stdin in conn.commands)
    assert all(" -n " in command for command, _ in conn.commands)


def test_a_sudo_that_echoes_its_stdin_never_shows_the_password(robot):
    conn, _ = robot("echo")
    with pytest.raises(RemoteError) as refused:
        shell(conn, PASSWORD).run("cat", DATA)
    assert PASSWORD not in str(refused.value) and "hunter2" not in str(refused.value)
    assert "***" in str(refused.value)


def test_a_password_rule_without_a_password_says_how_to_give_one(robot):
    conn, _ = robot("password")
    with pytest.raises(RemoteError, match="--ask-become-pass or set FLEET_BECOME_PASSWORD"):
        shell(conn, None).run("cat", DATA)


def test_a_robot_without_sudo_says_so(robot):
    conn, _ = robot("missing")
    with pytest.raises(RemoteError, match="sudo is not installed"):
        shell(conn, PASSWORD).run("cat", DATA)


def test_a_sudo_that_never_answers_is_given_up(robot):
    conn, _ = robot("hang")
    with pytest.raises(RemoteError, match="did not answer within 0.5 s"):
        shell(conn, PASSWORD, probe_timeout=0.5).run("cat", DATA)


SUDO = shutil.which("sudo")


@pytest.mark.skipif(
    SUDO is None or os.geteuid() != 0, reason="needs the real sudo (apt-get install sudo), as root"
)
def test_real_sudo_that_does_not_ask_leaves_the_password_line_to_fleets_guard(tmp_path):
    """root is never asked for a password: the same path as a NOPASSWD rule."""
    conn = LocalConnection("duckie", os.environ["PATH"], {})
    done = shell(conn, PASSWORD).run("cat", DATA)
    assert (done.exit_status, done.stdout) == (0, DATA), done.stderr


class SudoUserConnection(LocalConnection):
    """Commands as a non-root `duckie` whose real sudo wants PASSWORD: each runs in a
    private mount namespace where a copy of /etc/passwd, /etc/shadow and /etc/group with
    duckie in it, and a sudoers.d with duckie's rule, are mounted over the real ones."""

    def __init__(self, etc: Path) -> None:
        super().__init__("duckie", os.environ["PATH"], {})
        self._etc = etc

    def run(self, command: str, stdin: bytes | None = None, timeout: float = 60) -> CommandResult:
        mounts = "; ".join(
            f"mount --bind {self._etc / name} /etc/{name}"
            for name in ("passwd", "shadow", "group", "sudoers.d")
        )
        wrapped = (
            f'set -e; {mounts}; exec setpriv --reuid=duckie --regid=duckie --init-groups sh -c "$1"'
        )
        words = ["unshare", "-m", "--propagation", "private", "sh", "-c", wrapped, "sh", command]
        outer = shlex.join(words)
        result = super().run(outer, stdin, timeout)
        self.commands[-1] = (command, stdin)
        return result


@pytest.fixture
def real_sudo(tmp_path):
    if SUDO is None or os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root, unshare and the real sudo (scripts/setup.sh installs it)")
    etc = tmp_path / "etc"
    (etc / "sudoers.d").mkdir(parents=True)
    hashed = subprocess.run(
        ["openssl", "passwd", "-6", "-stdin"], input=PASSWORD, capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    uid = 4242
    for name, line in (
        ("passwd", f"duckie:x:{uid}:{uid}::/nonexistent:/bin/sh\n"),
        ("shadow", f"duckie:{hashed}:19000:0:99999:7:::\n"),
        ("group", f"duckie:x:{uid}:\n"),
    ):
        (etc / name).write_text(Path(f"/etc/{name}").read_text() + line)
    (etc / "shadow").chmod(0o640)

    def rule(text: str) -> SudoUserConnection:
        (etc / "sudoers.d" / "duckie").write_text(text + "\n")
        (etc / "sudoers.d" / "duckie").chmod(0o440)
        return SudoUserConnection(etc)

    return rule


def test_real_sudo_with_a_password_rule(real_sudo):
    conn = real_sudo("duckie ALL=(ALL:ALL) ALL")
    done = shell(conn, PASSWORD).run("id -un; cat", DATA)
    assert (done.exit_status, done.stdout) == (0, b"root\n" + DATA), done.stderr
    with pytest.raises(RemoteError, match="^sudo: wrong become password$"):
        shell(conn, "not-it").run("cat", DATA)
    with pytest.raises(RemoteError, match="--ask-become-pass"):
        shell(conn, None).run("cat", DATA)


def test_real_sudo_with_a_nopasswd_rule(real_sudo):
    conn = real_sudo("duckie ALL=(ALL:ALL) NOPASSWD: ALL")
    for password in (PASSWORD, None):
        done = shell(conn, password).run("id -un; cat", DATA)
        assert (done.exit_status, done.stdout) == (0, b"root\n" + DATA), done.stderr


def test_real_sudo_for_a_user_it_does_not_know(real_sudo):
    conn = real_sudo("# no rule for duckie")
    with pytest.raises(RemoteError, match="duckie is not in the sudoers file"):
        shell(conn, PASSWORD).run("cat", DATA)


# -- the command line --


@pytest.mark.parametrize("command", ["login", "logout", "pull", "apply", "status"])
def test_commands_that_touch_config_json_take_ask_become_pass(command):
    done = subprocess.run(
        [sys.executable, "-m", "fleet", command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert "--ask-become-pass" in done.stdout


def test_an_unsupported_become_method_stops_the_run_naming_host_and_variable(tmp_path):
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(
        "all:\n  hosts:\n    robot01.local:\n      ansible_become: true\n"
        "      ansible_become_method: doas\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "fleet", "logout", "example.org", "-i", str(inventory)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert done.returncode == 1
    assert "robot01.local: ansible_become_method 'doas' is not supported" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_become_password_with_a_line_break_is_refused(tmp_path):
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text("all:\n  hosts:\n    robot01.local:\n      ansible_become: true\n")
    env = {**os.environ, "HOME": str(tmp_path), "FLEET_BECOME_PASSWORD": "a\nb"}
    done = subprocess.run(
        [sys.executable, "-m", "fleet", "logout", "example.org", "-i", str(inventory)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 1
    assert "line break" in done.stderr
    assert "a\nb" not in done.stderr
