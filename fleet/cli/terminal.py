"""All of the command line's terminal I/O in one object (httpie's `Environment`).

main() is given a Terminal, or makes one of the process's own streams, and hands it to
the commands through click's context; a test gives main() one of StringIO streams and
reads what fleet printed. Every rich Console is built here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

import typer
from typer._click.globals import get_current_context

if TYPE_CHECKING:
    from rich.console import Console

# Off a terminal rich assumes 80 columns; a recap piped to a file should not wrap.
WIDE = 200


def isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


@dataclass(frozen=True)
class Terminal:
    """The streams fleet reads and writes, and the consoles on them."""

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)

    @property
    def stdin_isatty(self) -> bool:
        return isatty(self.stdin)

    @property
    def stdout_isatty(self) -> bool:
        return isatty(self.stdout)

    @property
    def stderr_isatty(self) -> bool:
        return isatty(self.stderr)

    def console(self, stderr: bool = False, width_off_terminal: int | None = WIDE) -> Console:
        """A console on stdout (`width_off_terminal` columns when it is not a terminal;
        None: rich's 80) or on stderr (rich's width, for messages)."""
        from rich.console import Console  # tens of ms `fleet --version` need not pay

        if stderr:
            return Console(file=self.stderr)
        return Console(file=self.stdout, width=None if self.stdout_isatty else width_off_terminal)

    def consoles(self) -> tuple[Console, Console]:
        """stdout's console and stderr's, for a command that renders robots' results."""
        return self.console(), self.console(stderr=True)

    def echo(self, message: str, err: bool = False) -> None:
        """One line of plain text, as `typer.echo` writes it."""
        typer.echo(message, file=self.stderr if err else self.stdout)


def current_terminal() -> Terminal:
    """The Terminal main() gave the running command; the process's own outside main()."""
    ctx = get_current_context(silent=True)
    found = ctx.find_object(Terminal) if ctx is not None else None
    return found if found is not None else Terminal()
