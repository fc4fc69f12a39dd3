"""Local files survive parallel fleets, kills and full disks: the credential store, the
retry file, saved inventories (known_hosts has its own tests in test_known_hosts.py)."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fleet import files
from fleet.credentials.store import Credential, InvalidSecret, Store
from fleet.errors import FleetError
from fleet.files import locked_update, replace_file

WRITERS = 12


def _start_writers(code: str, count: int, go: Path, *args: str) -> list[subprocess.Popen]:
    """`count` Python processes that import fleet, wait for `go` to exist, then run `code`
    (with `i` their number): they all start writing within a millisecond of each other."""
    program = textwrap.dedent(
        f"""
        import os, sys, time
        from pathlib import Path
        i = int(sys.argv[1])
        while not os.path.exists({str(go)!r}):
            time.sleep(0.001)
        """
    ) + textwrap.dedent(code)
    return [subprocess.Popen([sys.executable, "-c", program, str(i), *args]) for i in range(count)]


def _run_together(processes: list[subprocess.Popen], go: Path) -> None:
    go.touch()
    for process in processes:
        assert process.wait(timeout=120) == 0


def test_twelve_parallel_logins_all_land_in_the_store(tmp_path):
    path = tmp_path / "config" / "fleet" / "credentials.json"
    go = tmp_path / "go"
    code = """
        from fleet.credentials.store import Credential, Store
        store = Store(Path(sys.argv[2]))
        for n in range(5):  # each writer logs in a few accounts, as a script would
            store.add(Credential(f"registry{n}.example", f"writer{i}", f"secret-{i}-{n}"))
    """
    _run_together(_start_writers(code, WRITERS, go, str(path)), go)
    stored = Store(path).all()
    assert len(stored) == WRITERS * 5
    assert {(c.registry, c.username, c.secret) for c in stored} == {
        (f"registry{n}.example", f"writer{i}", f"secret-{i}-{n}")
        for i in range(WRITERS)
        for n in range(5)
    }
    json.loads(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_a_writer_killed_at_any_moment_leaves_the_old_or_the_new_file(tmp_path):
    path = tmp_path / "known_hosts"
    # Large enough that a write takes a while, each version recognisable as a whole.
    versions = [(f"version {n} " * 40_000 + "\n").encode() for n in range(2)]
    path.write_bytes(versions[0])
    rng = random.Random(1234)
    for _ in range(100):
        pid = os.fork()
        if pid == 0:  # the child rewrites the file until it is killed
            try:
                n = 1
                while True:
                    replace_file(path, versions[n % 2])
                    n += 1
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0, 0.004))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        assert path.read_bytes() in versions
    leftovers = [p for p in tmp_path.iterdir() if p.name != "known_hosts"]
    assert all(p.name.startswith(".known_hosts.") for p in leftovers)


@pytest.mark.parametrize("failing", ["write", "fsync"])
def test_a_full_disk_leaves_the_original_file_intact(tmp_path, monkeypatch, failing):
    # ENOSPC cannot be caused for real without mounting a small filesystem (root).
    path = tmp_path / "inventory.yaml"
    path.write_text("all:\n  hosts:\n    robot01.local:\n")

    def no_space(*args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, failing, no_space)
    with pytest.raises(OSError, match="No space left"):
        replace_file(path, "all: {}\n")
    with pytest.raises(OSError, match="No space left"):
        with locked_update(path) as update:
            update.write("all: {}\n")
    monkeypatch.undo()
    assert path.read_text() == "all:\n  hosts:\n    robot01.local:\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".inventory.yaml.lock", path.name]


def test_a_full_disk_during_login_is_a_clear_error_and_loses_no_account(tmp_path, monkeypatch):
    store = Store(tmp_path / "credentials.json")
    store.add(Credential("r.example", "site-a", "one"))
    before = store.path.read_bytes()
    monkeypatch.setattr(
        files.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full"))
    )
    with pytest.raises(FleetError, match="cannot write .*left as it was"):
        store.add(Credential("r.example", "site-b", "two"))
    monkeypatch.undo()
    assert store.path.read_bytes() == before


def test_replace_file_gives_the_new_file_its_mode_and_follows_symlinks(tmp_path):
    real = tmp_path / "dotfiles" / "known_hosts"
    real.parent.mkdir()
    real.write_text("old\n")
    real.chmod(0o644)
    link = tmp_path / "known_hosts"
    link.symlink_to(real)
    replace_file(link, "new\n")
    assert link.is_symlink() and real.read_text() == "new\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o644  # an existing file keeps its mode
    replace_file(tmp_path / "secret", "x", mode=0o600)
    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600


def test_locked_update_writes_nothing_when_the_block_fails_or_changes_nothing(tmp_path):
    path = tmp_path / "f"
    path.write_text("a\n")
    before = path.stat().st_ino
    with locked_update(path) as update:
        assert update.current == "a\n"
        update.write("a\n")
    assert path.stat().st_ino == before  # not even rewritten
    with pytest.raises(RuntimeError), locked_update(path) as update:
        update.write("b\n")
        raise RuntimeError
    assert path.read_text() == "a\n"
    with locked_update(tmp_path / "new") as update:
        assert update.current is None
        update.write("created\n")
    assert (tmp_path / "new").read_text() == "created\n"


# -- the credential store --


def test_a_store_others_can_read_is_refused_with_the_command_that_fixes_it(tmp_path):
    store = Store(tmp_path / "credentials.json")
    store.add(Credential("r.example", "site-a", "one"))
    store.path.chmod(0o644)
    for use in (store.all, lambda: store.add(Credential("r.example", "b", "two"))):
        with pytest.raises(FleetError) as caught:
            use()
        assert f"`chmod 600 {store.path}`" in str(caught.value)
        assert caught.value.exit_code == 1
    store.path.chmod(0o600)
    assert len(store.all()) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_store_owned_by_another_user_is_refused(tmp_path):
    store = Store(tmp_path / "credentials.json")
    store.add(Credential("r.example", "site-a", "one"))
    os.chown(store.path, 4242, -1)
    with pytest.raises(FleetError, match="belongs to another user"):
        store.all()


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        "7",
        '{"version": 2, "registries": {}}',
        '{"registries": []}',
        '{"registries": {"r.example": ["site-a"]}}',
        '{"registries": {"r.example": {"site-a": "one"}}}',
        '{"registries": {"r.example": {"site-a": {"secret": 5}}}}',
        '{"registries": {"r.example": {"site-a": {}}}}',
    ],
)
def test_a_corrupt_store_is_a_clear_error_naming_the_file(tmp_path, text):
    path = tmp_path / "credentials.json"
    path.write_text(text)
    path.chmod(0o600)
    for use in (Store(path).all, lambda: Store(path).add(Credential("r", "u", "s"))):
        with pytest.raises(FleetError, match=f"^{path}: the credential store is corrupt"):
            use()
    assert path.read_text() == text


def test_a_corrupt_store_through_the_cli_is_exit_1_without_a_traceback(tmp_path):
    path = tmp_path / "credentials.json"
    path.write_text('{"registries": {"r.example": {"site-a": {"secret": 5}}}}')
    path.chmod(0o600)
    env = {**os.environ, "FLEET_CREDENTIALS": str(path)}
    done = subprocess.run(
        [sys.executable, "-m", "fleet", "credentials", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert str(path) in done.stderr and "corrupt" in done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr


@pytest.mark.parametrize("secret", ["", "two\nlines", "a\rb", "nul\0byte", "bad\udcffutf8"])
def test_a_secret_that_is_not_one_line_of_text_is_refused(tmp_path, secret):
    store = Store(tmp_path / "credentials.json")
    with pytest.raises(InvalidSecret) as caught:
        store.add(Credential("r.example", "site-a", secret))
    assert isinstance(caught.value, ValueError)
    if secret:
        assert secret not in str(caught.value)
    assert not store.path.exists()


def test_the_log_file_is_created_private(tmp_path):
    log = tmp_path / "fleet.log"
    env = {**os.environ, "FLEET_LOG_FILE": str(log)}
    done = subprocess.run(
        [sys.executable, "-m", "fleet", "credentials", "list"],
        capture_output=True,
        text=True,
        env={**env, "FLEET_CREDENTIALS": str(tmp_path / "none.json")},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_the_retry_file_is_replaced_atomically(tmp_path, monkeypatch):
    from fleet.report import write_retry_file
    from fleet.results import HostResult, RunReport, Status

    path = tmp_path / "state" / "last.retry"
    report = RunReport((HostResult("robot01.local", Status.UNREACHABLE, "down"),))
    assert write_retry_file(report, path) == path
    monkeypatch.setattr(
        files.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full"))
    )
    other = RunReport((HostResult("robot02.local", Status.FAILED, "x"),))
    with pytest.raises(OSError):
        write_retry_file(other, path)
    monkeypatch.undo()
    assert path.read_text() == "robot01.local\n"


def test_parallel_inventory_saves_all_land(tmp_path):
    path = tmp_path / "inventory" / "room.yaml"
    path.parent.mkdir()
    path.write_text("# my classroom\nall:\n  children:\n    room:\n      hosts:\n")
    go = tmp_path / "go"
    code = """
        from fleet.inventory.save import save_hosts
        save_hosts(Path(sys.argv[2]), "room", {f"robot{i:02d}.local": {}})
    """
    _run_together(_start_writers(code, WRITERS, go, str(path)), go)
    text = path.read_text()
    assert text.startswith("# my classroom\n")
    assert all(f"robot{i:02d}.local" in text for i in range(WRITERS))


def test_twelve_real_fleet_logins_at_once_each_with_its_own_account(tmp_path):
    """The same as the store's own test, through the real command: 12 `fleet login`
    processes, each blocked on its --password-stdin until all have started, then released
    together into one store (HOME and XDG directories in tmp_path)."""
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    env.pop("FLEET_CREDENTIALS", None)
    accounts = [(f"site{i:02d}", f"token-{i:02d}-{'x' * 40}") for i in range(1, WRITERS + 1)]
    stderrs = [(tmp_path / f"{user}.stderr").open("wb") for user, _ in accounts]
    logins = [
        subprocess.Popen(
            [sys.executable, "-m", "fleet", "login", "registry.example:5000"]
            + ["-u", user, "--password-stdin", "--no-verify"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
        for (user, _), stderr in zip(accounts, stderrs, strict=True)
    ]
    for stderr in stderrs:
        stderr.close()  # the children hold their own copies
    for login, (_, secret) in zip(logins, accounts, strict=True):
        assert login.stdin is not None
        login.stdin.write(secret.encode())
    for login in logins:
        assert login.stdin is not None
        login.stdin.close()  # end of stdin: every login goes on to the store at once
    for login, (user, _) in zip(logins, accounts, strict=True):
        assert login.wait(timeout=120) == 0, (tmp_path / f"{user}.stderr").read_text()
    path = tmp_path / "config" / "fleet" / "credentials.json"
    data = json.loads(path.read_text())
    assert set(data["registries"]) == {"registry.example:5000"}
    stored = {(c.username, c.secret) for c in Store(path).all()}
    assert stored == set(accounts)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == [".credentials.json.lock", path.name]
