"""The one user-facing error type and the exit codes every command shares."""

from __future__ import annotations

import enum
import os

LOG_FILE_ENV = "FLEET_LOG_FILE"  # a debug log of the run goes there when set


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


class Unreachable(Exception):
    """The robot could not be reached or would not let us in; the message says why."""


class RobotError(Exception):
    """A step on a robot failed for a reason the message gives: that robot ends `failed`,
    the others go on. Anything else a task raises is a bug, reported as one."""


def bug_hint() -> str:
    """Where the traceback of a bug is to be found."""
    where = os.environ.get(LOG_FILE_ENV)
    return f"its traceback is in {where}" if where else "rerun with -vv to see its traceback"
