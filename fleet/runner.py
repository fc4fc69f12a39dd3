"""Running one task per robot in a bounded pool: per-robot results, per-robot timeouts,
and Ctrl-C that stops starting robots but lets the ones in flight finish their step.

Workers never touch the screen: they post events on a queue, and the caller's thread
hands them to `on_event` (the renderer) in order, as docker-compose v1's
parallel_execute_iter does.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleet.results import HostResult, RunReport, Status


@dataclass(frozen=True)
class Event:
    kind: str  # "start", "progress" or "result"
    host: str
    result: HostResult | None = None
    data: dict[str, Any] = field(default_factory=dict)


class TaskContext:
    """What a task gets besides its host: a way to report progress and to see a cancel."""

    def __init__(self, host: str, events: queue.Queue[Event], cancelled: threading.Event) -> None:
        self.host = host
        self._events = events
        self.cancelled = cancelled

    def progress(self, **data: Any) -> None:
        self._events.put(Event("progress", self.host, data=data))


Task = Callable[[str, TaskContext], HostResult]


def run_tasks(
    hosts: Sequence[str],
    task: Task,
    *,
    forks: int = 10,
    timeout: float | None = None,
    on_event: Callable[[Event], None] = lambda _: None,
    tick: float = 0.1,
) -> RunReport:
    """Run `task` for every host, at most `forks` at a time; never raises for one host.

    A task that outlives `timeout` ends as unreachable and frees its slot at once; its
    thread is left to finish in the background (it is a daemon thread).
    """
    events: queue.Queue[Event] = queue.Queue()
    cancelled = threading.Event()
    results: dict[str, HostResult] = {}
    pending = list(hosts)
    running: dict[str, float] = {}  # host -> start time
    interrupted = False

    def worker(host: str) -> None:
        started = time.monotonic()
        try:
            result = task(host, TaskContext(host, events, cancelled))
        except Exception as exc:  # noqa: BLE001 - one robot's bug must not end the run
            result = HostResult(host, Status.FAILED, f"{type(exc).__name__}: {exc}")
        seconds = result.seconds or time.monotonic() - started
        events.put(Event("result", host, _with_seconds(result, seconds)))

    def finish(result: HostResult) -> None:
        if result.host in results:
            return  # already timed out; a late answer changes nothing
        results[result.host] = result
        running.pop(result.host, None)
        on_event(Event("result", result.host, result))

    while pending or running:
        try:
            while pending and len(running) < forks and not cancelled.is_set():
                host = pending.pop(0)
                running[host] = time.monotonic()
                threading.Thread(
                    target=worker, args=(host,), daemon=True, name=f"fleet-{host}"
                ).start()
                on_event(Event("start", host))
            if cancelled.is_set() and pending:
                for host in pending:
                    finish(HostResult(host, Status.SKIPPED, "interrupted before it started"))
                pending.clear()
            try:
                event = events.get(timeout=tick)
            except queue.Empty:
                event = None
            if event is not None:
                if event.kind == "result" and event.result is not None:
                    finish(event.result)
                elif event.host not in results:
                    on_event(event)
            if timeout is not None:
                now = time.monotonic()
                for host, started in list(running.items()):
                    if now - started > timeout:
                        finish(
                            HostResult(
                                host,
                                Status.UNREACHABLE,
                                f"timed out after {timeout:g} s",
                                seconds=now - started,
                            )
                        )
        except KeyboardInterrupt:
            if interrupted:
                raise  # a second Ctrl-C: stop waiting for the robots in flight
            interrupted = True
            cancelled.set()
    ordered = tuple(results[h] for h in hosts if h in results)
    return RunReport(ordered, interrupted=interrupted)


def _with_seconds(result: HostResult, seconds: float) -> HostResult:
    if result.seconds:
        return result
    return HostResult(result.host, result.status, result.reason, result.data, seconds)
