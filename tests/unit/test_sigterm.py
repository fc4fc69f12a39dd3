"""SIGTERM stops a run the way Ctrl-C does: a real `fleet` process, signalled.

The first SIGTERM stops starting robots and lets the one in flight finish; the recap, the
retry file and exit 130 follow. The second asks the robots in flight to stop. Robots here
are loopback sockets that accept and never speak SSH (the first test) or a task that waits
to be told to stop (the second), so no test depends on a clock.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

FIRST = "interrupted: no new robots start, those working finish; Ctrl-C again"


class Stderr:
    """A process's stderr, read as it comes, so a test can wait for one line."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._reader.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.lines.append("")  # end of stream
            self._changed.notify_all()

    def wait_for(self, text: str) -> None:
        def seen() -> bool:
            return any(text in line for line in self.lines) or "" in self.lines

        with self._changed:
            self._changed.wait_for(seen, timeout=60)
        assert any(text in line for line in self.lines), "".join(self.lines)

    def text(self) -> str:
        self._reader.join(timeout=60)
        return "".join(self.lines)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return {
        **os.environ,
        "HOME": str(home),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "COLUMNS": "200",
    }


@pytest.fixture
def silent_robots() -> Iterator[list[socket.socket]]:
    """Two loopback listeners that accept and then say nothing: an SSH handshake in flight."""
    listeners = []
    for _ in range(2):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listener.settimeout(60)
        listeners.append(listener)
    yield listeners
    for listener in listeners:
        listener.close()


def test_the_first_sigterm_lets_the_robot_in_flight_finish_then_recap_retry_file_130(
    tmp_path: Path, env: dict[str, str], silent_robots: list[socket.socket]
) -> None:
    first, second = "robot1", "robot2"
    inventory = tmp_path / "robots.yml"
    inventory.write_text(
        "all:\n  hosts:\n"
        + "".join(
            f"    {name}: {{ansible_host: 127.0.0.1, ansible_port: {s.getsockname()[1]}}}\n"
            for name, s in zip((first, second), silent_robots, strict=True)
        )
    )
    retry = tmp_path / "fleet.retry"
    args = ["facts", "-i", str(inventory), "--forks", "1", "--retry-file", str(retry)]
    args += ["--known-hosts", str(tmp_path / "known_hosts")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        stderr = Stderr(proc)
        in_flight, _ = silent_robots[0].accept()  # the first robot's handshake has begun
        proc.send_signal(signal.SIGTERM)
        stderr.wait_for(FIRST)
        in_flight.close()  # ... and it finishes on its own: this robot hung up
        stdout, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, stderr.text()
    assert "Traceback" not in stdout and "internal error" not in stderr.text()
    assert first in stdout and second in stdout  # the recap names both
    assert "interrupted before it started" in stdout
    assert "(interrupted)" in stdout
    assert retry.read_text().split() == [first, second]
    silent_robots[1].settimeout(0)
    with pytest.raises(BlockingIOError):
        silent_robots[1].accept()  # the second robot was never contacted


BLOCKER = textwrap.dedent(
    """
    import os
    import sys
    from pathlib import Path

    import typer

    import fleet.cli
    from fleet.cli.common import RunOptions, run_on_robots
    from fleet.results import HostResult, Status


    def blocker() -> None:
        # A robot task that works until it is told to stop, as every fleet task must.
        def task(session, host, ctx):
            sys.stderr.write(f"in flight: {host.name}\\n")
            sys.stderr.flush()
            if ctx.cancelled.wait(120):
                return HostResult(host.name, Status.FAILED, "stopped as asked")
            return HostResult(host.name, Status.OK, "never asked to stop")

        retry_file = Path(os.environ["BLOCKER_RETRY"])
        options = RunOptions(hosts=os.environ["BLOCKER_HOSTS"], forks=1, retry_file=retry_file)
        raise typer.Exit(run_on_robots(options, task))


    fleet.cli.SUBCOMMANDS["blocker"] = ("__main__", "blocker")
    sys.exit(fleet.cli.main())
    """
)


def test_the_second_sigterm_stops_the_robots_in_flight(tmp_path: Path, env: dict[str, str]):
    script = tmp_path / "blocker.py"
    script.write_text(BLOCKER)
    retry = tmp_path / "fleet.retry"
    env = {**env, "BLOCKER_HOSTS": "r1.local,r2.local", "BLOCKER_RETRY": str(retry)}
    proc = subprocess.Popen(
        [sys.executable, str(script), "blocker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        stderr = Stderr(proc)
        stderr.wait_for("in flight: r1.local")
        proc.send_signal(signal.SIGTERM)
        stderr.wait_for(FIRST)
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, stderr.text()
    assert "stopped as asked" in stdout  # the task saw `cancelled`: the run asked it to stop
    assert "interrupted before it started" in stdout
    assert "in flight: r2.local" not in stderr.text()
    assert retry.read_text().split() == ["r1.local", "r2.local"]
