"""fleet's real main() run in-process, as the `fleet` script runs it, its terminal in strings."""

from __future__ import annotations

import io
from dataclasses import dataclass

from fleet.cli import main
from fleet.cli.terminal import Terminal


@dataclass(frozen=True)
class Ran:
    """What a run of fleet printed, and its exit status (named as subprocess names them)."""

    returncode: int
    stdout: str
    stderr: str


def run_fleet(*args: str, stdin: str = "") -> Ran:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), Terminal(stdin=io.StringIO(stdin), stdout=out, stderr=err))
    return Ran(code, out.getvalue(), err.getvalue())
