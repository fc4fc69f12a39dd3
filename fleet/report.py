"""What a run amounts to, for people and for programs: recap rows, JSON records and the
retry file (pure, but for writing that file)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from fleet.files import replace_file
from fleet.results import HostResult, RunReport, Status, exit_code

STATUS_STYLE = {
    Status.OK: "green",
    Status.CHANGED: "yellow",
    Status.FAILED: "red",
    Status.UNREACHABLE: "magenta",
    Status.SKIPPED: "cyan",
}


# C0 and C1 controls (escape sequences, carriage returns, newlines, bells) and the
# bidirectional overrides that reorder what a line seems to say.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Text from a robot, a registry or mDNS as a screen may show it: every control
    character written out (`\\x1b`), so none can move the cursor, restyle or fake a line."""
    return _UNPRINTABLE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def default_retry_file() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(state) / "fleet" / "last.retry"


def result_record(result: HostResult) -> dict[str, Any]:
    return {
        "event": "result",
        "host": result.host,
        "status": str(result.status),
        "reason": result.reason,
        "seconds": round(result.seconds, 3),
        "data": dict(result.data),
    }


def recap_record(report: RunReport, retry_file: Path | None) -> dict[str, Any]:
    counts = report.counts()
    return {
        "event": "recap",
        "hosts": len(report.results),
        **{str(s): counts.get(s, 0) for s in Status},
        "interrupted": report.interrupted,
        "exit_code": exit_code((r.status for r in report.results), report.interrupted),
        "retry_file": str(retry_file) if retry_file else None,
    }


def write_retry_file(report: RunReport, path: Path) -> Path | None:
    """Failed and unreachable robots, one a line, for `--limit @FILE`; None when none."""
    hosts = report.needing_retry()
    if not hosts:
        path.unlink(missing_ok=True)
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, "".join(f"{h}\n" for h in hosts))
    return path
