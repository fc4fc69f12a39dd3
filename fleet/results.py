"""How each robot ended a command, and what the whole run amounts to (pure)."""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from fleet.errors import ExitCode

if TYPE_CHECKING:
    from fleet.tasks.actions import ActionResult


class Status(enum.StrEnum):
    OK = "ok"
    CHANGED = "changed"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class HostResult:
    host: str
    status: Status
    reason: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    actions: tuple[ActionResult, ...] = ()
    started: bool = True  # False: never started (interrupted, or the rollout stopped)

    def action_counts(self) -> Counter[Status]:
        """Per status, how many of the robot's actions ended so (Ansible's recap)."""
        return Counter(result.status for result in self.actions)

    def with_seconds(self, seconds: float) -> HostResult:
        return replace(self, seconds=self.seconds or seconds)


@dataclass(frozen=True)
class RunReport:
    results: tuple[HostResult, ...]
    interrupted: bool = False

    def counts(self) -> Counter[Status]:
        return Counter(r.status for r in self.results)

    def needing_retry(self) -> list[str]:
        """Failed and unreachable robots, and those never started: what a rerun must do."""
        return [
            r.host
            for r in self.results
            if r.status in (Status.FAILED, Status.UNREACHABLE) or not r.started
        ]


def exit_code(statuses: Iterable[Status], interrupted: bool = False) -> int:
    """0 all ok/changed/skipped; 2 some failed; 4 some unreachable; 6 both; 130 interrupted."""
    if interrupted:
        return int(ExitCode.INTERRUPTED)
    seen = set(statuses)
    code = 0
    if Status.FAILED in seen:
        code |= int(ExitCode.FAILED)
    if Status.UNREACHABLE in seen:
        code |= int(ExitCode.UNREACHABLE)
    return code
