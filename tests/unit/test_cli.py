"""The real entry point, run in-process: exit codes and messages for the user."""

import logging
import subprocess
import sys

import pytest

from fleet import __version__
from tests.unit.cli_run import run_fleet


def test_version():
    done = run_fleet("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"fleet {__version__}"


def test_the_script_exits_with_what_main_returns():
    done = subprocess.run(
        [sys.executable, "-m", "fleet", "lab", "nonsense"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "No such command" in done.stderr


def test_help_lists_the_lab():
    done = subprocess.run(
        [sys.executable, "-m", "fleet", "--help"], capture_output=True, text=True, timeout=60
    )
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
    done = run_fleet(*args)
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_status_without_a_lab(tmp_path, monkeypatch):
    monkeypatch.setenv("FLEET_LAB_DIR", str(tmp_path / "nothing-here"))
    done = run_fleet("lab", "status")
    assert done.returncode == 0
    assert "no lab is up" in done.stdout


@pytest.fixture
def no_registry(tmp_path, monkeypatch):
    """A store of fleet's own in tmp_path, and a registry address where nothing answers."""
    monkeypatch.setenv("FLEET_CREDENTIALS", str(tmp_path / "credentials.json"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    return "127.0.0.1:1"


def test_login_reads_the_secret_from_the_terminals_stdin(no_registry):
    done = run_fleet("login", "--password-stdin", "-u", "robo", no_registry, stdin="s3cret\n")
    # The secret was read (no "no password" error), then checked with a registry that is not
    # there: exit 4, and the secret never printed.
    assert done.returncode == 4
    assert "could not check the account" in done.stderr
    assert "s3cret" not in done.stdout + done.stderr


def test_verbose_logs_to_the_terminal_given_and_no_handler_outlives_the_run(no_registry):
    handlers, level = list(logging.getLogger().handlers), logging.getLogger().level
    done = run_fleet("-vv", "login", "--password-stdin", "-u", "robo", no_registry, stdin="x")
    assert "DEBUG urllib3" in done.stderr  # requests' connection log, at -vv
    assert logging.getLogger().handlers == handlers
    assert logging.getLogger().level == level
