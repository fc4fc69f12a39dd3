"""Starting long-lived daemons (the lab's, and fleet's own pull-through cache) and stopping
them again."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path


def start_detached(args: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> int:
    """Start `args` as a daemon in a session of its own, output to `log_path`; return its pid.

    A shell starts it in the background and exits at once, so the daemon is adopted by
    init: it is never our child, never our zombie, and outlives `fleet lab up`.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    launcher = 'exec "$@" >>"$FLEET_LAB_LOG" 2>&1 </dev/null & echo $!'
    done = subprocess.run(
        ["sh", "-c", launcher, "sh", *args],
        env={**os.environ, **(env or {}), "FLEET_LAB_LOG": str(log_path)},
        capture_output=True,
        start_new_session=True,
        check=True,
        timeout=30,
    )
    return int(done.stdout)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # A zombie has exited: field 3 is the state, after the parenthesised command name.
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def stop(pids: Iterable[int], grace: float = 5.0) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL whatever is left."""
    remaining = {pid for pid in pids if alive(pid)}
    for pid in remaining:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while remaining and time.monotonic() < deadline:
        time.sleep(0.05)
        remaining = {pid for pid in remaining if alive(pid)}
    for pid in remaining:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
