"""The one owner of the screen while robots work: a live view on a terminal (a line and,
for pulls, a bar with an ETA per robot), plain lines otherwise, JSON lines with --json.
Workers never print; events reach here in order.

Everything robots, registries and mDNS say is shown as text, never as markup, with
control characters escaped: a robot cannot restyle, rewrite or crash the screen.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from fleet.report import STATUS_STYLE, printable, recap_record, result_record
from fleet.results import HostResult, RunReport, Status
from fleet.runner import Event

Column = tuple[str, Callable[[HostResult], str]]


def progress_text(data: dict[str, Any]) -> str:
    """One robot's pull, as words: variant and layers (pure)."""
    variant = f"{data['variant']} " if data.get("variant") else ""
    return f"{variant}{data.get('layers_done', 0)}/{data.get('layers', 0)} layers"


def action_counts(result: HostResult) -> str:
    """`ok=3 changed=1 failed=0`, over the robot's actions, as Ansible's recap says it."""
    counts = result.action_counts()
    failed = counts.get(Status.FAILED, 0) + counts.get(Status.UNREACHABLE, 0)
    text = f"ok={counts.get(Status.OK, 0)} changed={counts.get(Status.CHANGED, 0)} failed={failed}"
    skipped = counts.get(Status.SKIPPED, 0)
    return text + (f" skipped={skipped}" if skipped else "")


def status_text(status: Status, reason: str = "") -> Text:
    text = Text(str(status), style=STATUS_STYLE[status])
    if reason:
        text.append(" " + printable(reason))
    return text


PLAN_MARK = {
    Status.OK: "=",
    Status.CHANGED: "+",
    Status.FAILED: "!",
    Status.UNREACHABLE: "!",
    Status.SKIPPED: "-",
}


def plan_text(report: RunReport) -> list[Text]:
    """Each robot's plan, an action a line: `=` nothing to do, `+` would change, `!` cannot."""
    lines = []
    for result in report.results:
        lines.append(
            Text.assemble((printable(result.host), "bold"), " ", status_text(result.status))
        )
        for action in result.actions:
            mark = PLAN_MARK[action.status]
            style = STATUS_STYLE[action.status]
            lines.append(
                Text.assemble(
                    "  ",
                    (mark, style),
                    f" {printable(action.action.item)}: {printable(action.reason)}",
                )
            )
        if not result.actions and result.status is not Status.OK:
            lines.append(Text(f"  ! {printable(result.reason)}"))
    return lines


class Renderer:
    def __init__(
        self,
        out: Console,
        err: Console,
        *,
        json_mode: bool,
        hosts: Sequence[str],
        progress_interval: float = 0.3,
    ) -> None:
        self.out, self.err, self.json_mode = out, err, json_mode
        self.hosts = list(hosts)
        self.progress_interval = progress_interval
        self._last_progress: dict[str, float] = {}
        self.live: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._bytes: dict[str, int] = {}  # bytes each robot has moved, for the last line
        self._started = time.monotonic()

    def __enter__(self) -> Renderer:
        if not self.json_mode and self.err.is_terminal:
            self.live = Progress(
                TextColumn("{task.fields[host]}", markup=False),
                TextColumn("{task.description}", markup=False),
                BarColumn(bar_width=24),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self.err,
                transient=True,
                refresh_per_second=8,
            )
            for host in self.hosts:
                self._tasks[host] = self.live.add_task(
                    "waiting", total=None, host=printable(host), start=False
                )
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def emit(self, record: dict[str, Any]) -> None:
        # Straight to the stream: rich's rendering of a line costs more than making it,
        # and a JSON line needs none of it. Flushed, so a reader sees each event as it comes.
        self.out.file.write(json.dumps(record, default=str) + "\n")
        self.out.file.flush()

    def on_event(self, event: Event) -> None:
        if event.kind == "progress":
            if "bytes_done" in event.data:
                self._bytes[event.host] = int(event.data["bytes_done"])
            now = time.monotonic()
            if now - self._last_progress.get(event.host, 0) < self.progress_interval:
                return  # a few updates a second is all a person or a program can use
            self._last_progress[event.host] = now
        if self.json_mode:
            self._emit_event(event)
        elif event.kind == "batch":
            data = event.data
            self._say(Text(f"batch {data['batch']} of {data['of']}: {data['hosts']} robots"))
        elif event.kind == "interrupt":
            again = "" if event.data["count"] > 1 else "; Ctrl-C again to stop them"
            self._say(
                Text(
                    f"interrupted: no new robots start, those working finish{again}", style="yellow"
                )
            )
        elif event.kind == "start":
            self._update(event.host, "working", start=True)
        elif event.kind == "progress":
            self._progress(event.host, event.data)
        elif event.kind == "action" and event.action is not None:
            self._update(event.host, printable(event.action.reason)[:60])
        elif event.result is not None:
            self._result(event.result)

    def _emit_event(self, event: Event) -> None:
        if event.kind == "result" and event.result is not None:
            self.emit(result_record(event.result))
        elif event.kind == "action" and event.action is not None:
            self.emit({"event": "action", "host": event.host, **event.action.record()})
        else:
            self.emit(
                {"event": event.kind, **({"host": event.host} if event.host else {}), **event.data}
            )

    def _say(self, text: Text) -> None:
        (self.live.console if self.live is not None else self.err).print(text)

    def _update(self, host: str, description: str, start: bool = False, **fields: Any) -> None:
        if self.live is None or host not in self._tasks:
            return
        task = self._tasks[host]
        if start:
            self.live.start_task(task)
        self.live.update(task, description=description, **fields)

    def _progress(self, host: str, data: dict[str, Any]) -> None:
        if "bytes_done" not in data:
            words = " ".join(f"{k}={printable(str(v))}" for k, v in data.items() if k != "item")
            self._update(host, words[:60])
            return
        total = data.get("bytes_total") or None
        self._update(host, progress_text(data), completed=int(data["bytes_done"]), total=total)

    def _result(self, result: HostResult) -> None:
        if self.live is not None and result.host in self._tasks:
            task = self._tasks[result.host]
            self.live.update(task, description=status_text(result.status, result.reason[:60]).plain)
            self.live.stop_task(task)
        else:
            self.err.print(
                Text.assemble(
                    printable(result.host) + ": ", status_text(result.status, result.reason)
                )
            )

    def recap(
        self, report: RunReport, retry_file: Path | None, columns: Sequence[Column] = ()
    ) -> None:
        if self.json_mode:
            self.emit(recap_record(report, retry_file))
            return
        with_actions = any(result.actions for result in report.results)
        table = Table(title="recap")
        table.add_column("robot")
        table.add_column("result")
        if with_actions:
            table.add_column("actions")
        for title, _ in columns:
            table.add_column(title)
        table.add_column("reason")
        for result in report.results:
            table.add_row(
                Text(printable(result.host)),
                status_text(result.status),
                *([Text(action_counts(result))] if with_actions else []),
                *(Text(printable(value(result))) for _, value in columns),
                Text(printable(result.reason)),
            )
        self.out.print(table)
        counts = report.counts()
        summary = "  ".join(f"{s}={counts.get(s, 0)}" for s in Status)
        self.out.print(Text(summary + ("  (interrupted)" if report.interrupted else "")))
        moved = self.fleet_line(report)
        if moved:
            self.out.print(Text(moved))
        if retry_file is not None:
            again = (
                f"retry the failed, unreachable and unstarted robots with: --limit @{retry_file}"
            )
            self.out.print(Text(again))

    def fleet_line(self, report: RunReport) -> str:
        """Robots done, bytes moved, aggregate speed: the whole run in one line."""
        moved = sum(self._bytes.values())
        if not moved:
            return ""
        seconds = max(time.monotonic() - self._started, 0.001)
        done = sum(r.status in (Status.OK, Status.CHANGED) for r in report.results)
        return (
            f"{done} of {len(report.results)} robots done; {moved / 1e6:.1f} MB moved in "
            f"{seconds:.1f} s ({moved / 1e6 / seconds:.1f} MB/s over the fleet)"
        )
