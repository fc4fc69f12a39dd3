"""The one user-facing error type and the exit codes every command shares."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    USAGE = 1  # bad usage or input
    FAILED = 2  # some robot failed
    UNREACHABLE = 4  # some robot unreachable (2 | 4 = 6 when both)
    INTERRUPTED = 130


class FleetError(Exception):
    """An error the user can act on: printed as one message, never as a traceback."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code
