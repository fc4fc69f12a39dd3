"""The `fleet` command line: typer commands that parse options, call the core, render."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import threading
from collections.abc import Iterator, Sequence

import typer
from typer._click import Command  # typer vendors click from 0.26 on
from typer._click.exceptions import ClickException
from typer.core import TyperGroup

from fleet import __version__
from fleet.cli.deferred import defer_unused_imports
from fleet.cli.terminal import Terminal, current_terminal
from fleet.errors import LOG_FILE_ENV, ExitCode, FleetError, bug_hint

# Each subcommand's module, imported only when that subcommand runs (or for --help):
# `fleet pull` must not pay for the lab's or discovery's imports (zeroconf, asyncio,
# cryptography's x509) on every start. Name -> (module, a typer command function or app).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "discover": ("fleet.cli.discover", "discover"),
    "facts": ("fleet.cli.facts", "facts"),
    "hosts": ("fleet.cli.hosts", "hosts"),
    "login": ("fleet.cli.credentials", "login"),
    "logout": ("fleet.cli.credentials", "logout"),
    "pull": ("fleet.cli.pull", "pull"),
    "apply": ("fleet.cli.apply", "apply"),
    "status": ("fleet.cli.status", "status"),
    "forget": ("fleet.cli.ssh_cmds", "forget"),
    "cache": ("fleet.cli.cache", "app"),
    "contexts": ("fleet.cli.contexts", "app"),
    "lab": ("fleet.cli.lab", "app"),
    "credentials": ("fleet.cli.credentials", "credentials_app"),
    "keys": ("fleet.cli.ssh_cmds", "keys_app"),
}


class LazyGroup(TyperGroup):
    """The root command group, building a subcommand from its module on first use."""

    def list_commands(self, ctx: object) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: object, cmd_name: str) -> Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        if cmd_name not in self.commands:
            self.commands[cmd_name] = load_subcommand(cmd_name)
        return self.commands[cmd_name]


def load_subcommand(name: str) -> Command:
    module, attribute = SUBCOMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    command: Command
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name=name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


app = typer.Typer(
    cls=LazyGroup,
    name="fleet",
    help="Provision fleets of Raspberry Pi and Jetson robots from one laptop: find them over "
    "mDNS, give them registry credentials over SSH, pull the image variant each can run.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        current_terminal().echo(f"fleet {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="Log more to stderr (-v info, -vv debug)."
    ),
) -> None:
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    root_logger = logging.getLogger()
    stderr = logging.StreamHandler(current_terminal().stderr)
    stderr.setLevel(level)
    stderr.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root_logger.addHandler(stderr)
    root_logger.setLevel(level)
    log_file = os.environ.get(LOG_FILE_ENV)
    if log_file:
        # Created private before logging opens it: a debug log names robots and accounts.
        os.close(os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600))
        handler = logging.FileHandler(log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root_logger.addHandler(handler)
        root_logger.setLevel(logging.DEBUG)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM does what Ctrl-C does (a service manager, `timeout`, a CI runner or `kill`
    stops fleet the way a person would): the first stops starting robots and lets those
    in flight finish, the second stops them; the recap, the retry file and exit 130 follow.
    Python's own SIGINT handler raises KeyboardInterrupt in the main thread; SIGTERM gets
    that same handler, and the one before it back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (main() run in a test's thread)
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None, terminal: Terminal | None = None) -> int:
    """Entry point: one place turns errors into a message and an exit code, which it
    returns (the `fleet` script exits with it). `argv` is sys.argv[1:] when None;
    `terminal` the process's own streams."""
    defer_unused_imports()
    terminal = terminal if terminal is not None else Terminal()
    err = terminal.stderr
    try:
        with sigterm_as_interrupt(), logging_handlers_restored():
            returned = app(args=argv, standalone_mode=False, obj=terminal)
    except ClickException as exc:
        # Bad usage is exit 1 here (click says 2, which fleet uses for "some robots failed").
        exc.show(file=err)
        return int(ExitCode.USAGE)
    except FleetError as exc:
        typer.secho(f"error: {exc}", file=err, fg=typer.colors.RED)
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("interrupted", file=err)
        return int(ExitCode.INTERRUPTED)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except BrokenPipeError:
        return int(ExitCode.USAGE)
    except Exception as exc:  # a bug: say so, never a bare traceback
        logging.getLogger("fleet").debug("unexpected error", exc_info=True)
        typer.secho(
            f"internal error ({type(exc).__name__}): this is a bug in fleet; {bug_hint()}; "
            "please report it",
            file=err,
            fg=typer.colors.RED,
        )
        return 70
    return returned if isinstance(returned, int) else 0


@contextlib.contextmanager
def logging_handlers_restored() -> Iterator[None]:
    """The root logger's handlers and level as they were before: main() run twice in one
    process (a test) must not log to the first run's streams."""
    root_logger = logging.getLogger()
    handlers, level = list(root_logger.handlers), root_logger.level
    try:
        yield
    finally:
        for handler in root_logger.handlers:
            if handler not in handlers:
                root_logger.removeHandler(handler)
                handler.close()
        root_logger.setLevel(level)
