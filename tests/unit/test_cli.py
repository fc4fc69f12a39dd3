"""The real entry point, run in-process: exit codes and messages for the user."""

import os
import subprocess
import sys

import pytest

from fleet import __version__


def fleet(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "fleet", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_version():
    done = fleet("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"fleet {__version__}"


def test_help_lists_the_lab():
    done = fleet("--help")
    assert done.returncode == 0
    assert "lab" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lab", "up", "--robots", "0"], "1 to 200"),
        (["lab", "up", "--link-rate", "fast"], "tc rate"),
        (["lab", "up", "--profile", "pdp11"], "unknown profile"),
        (["lab", "nonsense"], "No such command"),
        (["lab", "up", "--robots", "many"], "--robots"),
    ],
)
def test_bad_usage_is_exit_1_with_a_message_and_no_traceback(args, message):
    done = fleet(*args)
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_status_without_a_lab(tmp_path):
    env = {**os.environ, "FLEET_LAB_DIR": str(tmp_path / "nothing-here")}
    done = fleet("lab", "status", env=env)
    assert done.returncode == 0
    assert "no lab is up" in done.stdout
