"""How each robot ended a command, and what the whole run amounts to (pure)."""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fleet.errors import ExitCode


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


@dataclass(frozen=True)
class RunReport:
    results: tuple[HostResult, ...]
    interrupted: bool = False

    def counts(self) -> Counter[Status]:
        return Counter(r.status for r in self.results)

    def needing_retry(self) -> list[str]:
        return [r.host for r in self.results if r.status in (Status.FAILED, Status.UNREACHABLE)]


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
