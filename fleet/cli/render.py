"""The one owner of the screen while robots work: a live table on a terminal, plain lines
otherwise, JSON lines with --json. Workers never print; events reach here in order."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from fleet.report import STATUS_STYLE, recap_record, result_record
from fleet.results import HostResult, RunReport, Status
from fleet.runner import Event

Column = tuple[str, Callable[[HostResult], str]]


def progress_text(data: dict[str, Any], speed: float) -> str:
    """One robot's pull, as a line: variant, layers, bytes, speed (pure)."""
    mb = 1024 * 1024
    variant = f"{data['variant']} " if data.get("variant") else ""
    return (
        f"{variant}{data.get('layers_done', 0)}/{data.get('layers', 0)} layers  "
        f"{data['bytes_done'] / mb:.1f}/{data.get('bytes_total', 0) / mb:.1f} MB  "
        f"{speed / mb:.1f} MB/s"
    )


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
        self.state: dict[str, str] = {h: "waiting" for h in hosts}
        self.live: Live | None = None
        self.progress_interval = progress_interval
        self._last_progress: dict[str, float] = {}
        self._last_bytes: dict[str, tuple[float, int]] = {}

    def __enter__(self) -> Renderer:
        if not self.json_mode and self.err.is_terminal:
            self.live = Live(self._table(), console=self.err, refresh_per_second=8, transient=True)
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def _table(self) -> Table:
        table = Table(show_header=False, box=None)
        for host, state in self.state.items():
            table.add_row(host, state)
        return table

    def emit(self, record: dict[str, Any]) -> None:
        # Straight to the stream: rich's rendering of a line costs more than making it,
        # and a JSON line needs none of it. Flushed, so a reader sees each event as it comes.
        self.out.file.write(json.dumps(record, default=str) + "\n")
        self.out.file.flush()

    def on_event(self, event: Event) -> None:
        if event.kind == "progress":
            now = time.monotonic()
            if now - self._last_progress.get(event.host, 0) < self.progress_interval:
                return  # a few updates a second is all a person or a program can use
            self._last_progress[event.host] = now
        if self.json_mode:
            if event.kind == "result" and event.result is not None:
                self.emit(result_record(event.result))
            else:
                self.emit({"event": event.kind, "host": event.host, **event.data})
            return
        if event.kind == "start":
            self.state[event.host] = "[cyan]working[/]"
        elif event.kind == "progress":
            self.state[event.host] = self._progress_text(event.host, event.data)
        elif event.result is not None:
            result = event.result
            style = STATUS_STYLE[result.status]
            self.state[event.host] = f"[{style}]{result.status}[/] {result.reason}"
            if self.live is None:
                self.err.print(f"{result.host}: [{style}]{result.status}[/] {result.reason}")
        if self.live is not None:
            self.live.update(self._table())

    def _progress_text(self, host: str, data: dict[str, Any]) -> str:
        if "bytes_done" not in data:
            return " ".join(f"{k}={v}" for k, v in data.items())
        now, done = time.monotonic(), int(data["bytes_done"])
        then, before = self._last_bytes.get(host, (now, done))
        self._last_bytes[host] = (now, done)
        speed = (done - before) / (now - then) if now > then else 0.0
        return progress_text(data, speed)

    def recap(
        self, report: RunReport, retry_file: Path | None, columns: Sequence[Column] = ()
    ) -> None:
        if self.json_mode:
            self.emit(recap_record(report, retry_file))
            return
        table = Table(title="recap")
        table.add_column("robot")
        table.add_column("result")
        for title, _ in columns:
            table.add_column(title)
        table.add_column("reason")
        for result in report.results:
            style = STATUS_STYLE[result.status]
            table.add_row(
                result.host,
                f"[{style}]{result.status}[/]",
                *(value(result) for _, value in columns),
                result.reason,
            )
        self.out.print(table)
        counts = report.counts()
        summary = "  ".join(f"{s}={counts.get(s, 0)}" for s in Status)
        self.out.print(summary + ("  (interrupted)" if report.interrupted else ""))
        if retry_file is not None:
            self.out.print(f"retry the failed and unreachable robots with: --limit @{retry_file}")
