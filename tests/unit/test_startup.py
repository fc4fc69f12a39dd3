"""What a command costs before it reaches a robot: the modules it imports.

`fleet pull` on one robot is a few hundred milliseconds of network; Python's imports were
most of fleet's start. These tests keep the heavy modules a command does not use out of it.
"""

import subprocess
import sys

import pytest

from fleet.cli import SUBCOMMANDS, app, load_subcommand


def imported_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(done.stdout.split())


def as_the_command_line(*argv: str) -> str:
    """Code that runs main() as `fleet ARGV` does, and goes on after it exits."""
    return (
        f"sys.argv = ['fleet', *{list(argv)!r}]\n"
        "from fleet.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )


@pytest.mark.parametrize("command", ["pull", "facts", "login"])
def test_a_robot_command_leaves_the_lab_discovery_and_invoke_unimported(command):
    module = SUBCOMMANDS[command][0]
    loaded = imported_after(as_the_command_line(command, "--help"))
    assert module in loaded
    assert "paramiko" in loaded  # so invoke was deferred, not merely never reached
    unwanted = {"fleet.lab.lifecycle", "fleet.lab.pki", "zeroconf", "asyncio", "invoke.context"}
    assert loaded & unwanted == set()


def test_the_root_command_imports_no_subcommand():
    loaded = imported_after("import fleet.cli")
    assert {module for module, _ in SUBCOMMANDS.values()} & loaded == set()
    assert "paramiko" not in loaded
    assert "rich.console" not in loaded  # terminal.py builds consoles, imports rich late


def test_paramiko_still_runs_match_exec_through_the_deferred_invoke():
    loaded = imported_after(
        "from fleet.cli.deferred import defer_unused_imports\n"
        "defer_unused_imports()\n"
        "import paramiko\n"
        "assert 'invoke.context' not in sys.modules\n"
        "config = paramiko.SSHConfig.from_text('Match exec \"true\"\\n    User robo\\n')\n"
        "assert config.lookup('robot01.local')['user'] == 'robo'"
    )
    assert "invoke.context" in loaded  # it was really used, and then really imported


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_every_subcommand_loads_under_its_name(name):
    command = load_subcommand(name)
    assert command.name == name
    assert command.help


def test_an_unknown_subcommand_is_none():
    import typer.main

    group = typer.main.get_command(app)
    assert group.get_command(None, "bogus") is None
    assert group.list_commands(None) == list(SUBCOMMANDS)


@pytest.mark.parametrize("statement", ["import fleet", "import fleet.cli", "import fleet.session"])
def test_importing_fleet_leaves_invoke_as_python_finds_it(statement):
    # A program using fleet as a library asks whether invoke is installed; a stand-in in
    # sys.modules with no spec made find_spec raise ValueError.
    loaded = imported_after(
        f"{statement}\n"
        "import importlib.util\n"
        "assert importlib.util.find_spec('invoke') is not None\n"
        "assert type(sys.modules.get('invoke')).__name__ != 'ImportOnFirstUse'"
    )
    assert "fleet" in loaded


def test_find_spec_still_answers_once_main_deferred_invoke():
    imported_after(
        "from fleet.cli.deferred import defer_unused_imports\n"
        "defer_unused_imports()\n"
        "import importlib.util\n"
        "assert type(sys.modules['invoke']).__name__ == 'ImportOnFirstUse'\n"
        "assert importlib.util.find_spec('invoke').name == 'invoke'\n"
        "assert 'invoke.context' not in sys.modules"
    )
