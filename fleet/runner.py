"""Running one task per robot in a bounded pool: per-robot results, per-robot timeouts,
rollouts in batches, and Ctrl-C that stops starting robots but lets the ones in flight
finish their step (a second Ctrl-C asks them to stop, and waits a moment for them).

Workers never touch the screen: they post events on a queue, and the caller's thread
hands them to `on_event` (the renderer) in order, as docker-compose v1's
parallel_execute_iter does. This is also the one place where what a task raised becomes
a robot's result.
"""

from __future__ import annotations

import logging
import math
import queue
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fleet.errors import FleetError, RobotError, Unreachable, bug_hint
from fleet.results import HostResult, RunReport, Status

if TYPE_CHECKING:
    from fleet.tasks.actions import ActionResult

log = logging.getLogger(__name__)

STOP_GRACE = 5.0  # seconds robots in flight get to stop after a second Ctrl-C or a timeout


@dataclass(frozen=True)
class Event:
    kind: str  # "start", "progress", "action", "result", "batch" or "interrupt"
    host: str
    result: HostResult | None = None
    action: ActionResult | None = None
    data: dict[str, Any] = field(default_factory=dict)


class TaskContext:
    """What a task gets besides its host: a way to report progress and actions, and to
    see that it must stop (`cancelled`: it timed out, or the user insisted)."""

    def __init__(self, host: str, events: queue.Queue[Event]) -> None:
        self.host = host
        self._events = events
        self.cancelled = threading.Event()
        self.reached = False  # the robot answered once: a timeout is then a failure

    def progress(self, **data: Any) -> None:
        self._events.put(Event("progress", self.host, data=data))

    def action(self, result: ActionResult) -> None:
        self._events.put(Event("action", self.host, action=result))

    def mark_reached(self) -> None:
        self.reached = True


Task = Callable[[str, TaskContext], HostResult]


def outcome(host: str, ctx: TaskContext, task: Task) -> HostResult:
    """Run the task; what it raises becomes the robot's result, here and nowhere else."""
    try:
        return task(host, ctx)
    except Unreachable as exc:
        return HostResult(host, Status.UNREACHABLE, str(exc))
    except RobotError as exc:
        return HostResult(host, Status.FAILED, str(exc))
    except TimeoutError as exc:
        status = Status.FAILED if ctx.reached else Status.UNREACHABLE
        return HostResult(host, status, str(exc) or "timed out")
    except FleetError as exc:
        return HostResult(host, Status.FAILED, str(exc))
    except Exception as exc:  # noqa: BLE001 - one robot's bug must not end the run, nor hide
        log.debug("internal error on %s", host, exc_info=True)
        return HostResult(
            host,
            Status.FAILED,
            f"internal error ({type(exc).__name__}: {exc}); this is a bug in fleet, {bug_hint()}",
        )


def run_tasks(
    hosts: Sequence[str],
    task: Task,
    *,
    forks: int = 10,
    timeout: float | None = None,
    on_event: Callable[[Event], None] = lambda _: None,
    tick: float = 0.1,
    grace: float = STOP_GRACE,
) -> RunReport:
    """Run `task` for every host, at most `forks` at a time; never raises for one host.

    A robot that outlives `timeout` ends `failed` ("timed out") when it had answered,
    `unreachable` when it never did; it is asked to stop and its slot is freed at once.
    """
    events: queue.Queue[Event] = queue.Queue()
    results: dict[str, HostResult] = {}
    pending = list(hosts)
    running: dict[str, tuple[float, TaskContext, threading.Thread]] = {}
    threads: list[threading.Thread] = []
    interrupts = 0

    def worker(host: str, ctx: TaskContext) -> None:
        started = time.monotonic()
        result = outcome(host, ctx, task)
        events.put(Event("result", host, result.with_seconds(time.monotonic() - started)))

    def finish(result: HostResult) -> None:
        if result.host in results:
            return  # already timed out; a late answer changes nothing
        results[result.host] = result
        running.pop(result.host, None)
        on_event(Event("result", result.host, result))

    def deliver(event: Event) -> None:
        if event.kind == "result" and event.result is not None:
            finish(event.result)
        elif event.host not in results:
            on_event(event)

    while pending or running:
        try:
            while pending and len(running) < forks and not interrupts:
                host = pending.pop(0)
                ctx = TaskContext(host, events)
                thread = threading.Thread(
                    target=worker, args=(host, ctx), daemon=True, name=f"fleet-{host}"
                )
                running[host] = (time.monotonic(), ctx, thread)
                threads.append(thread)
                thread.start()
                on_event(Event("start", host))
            if interrupts and pending:
                for host in pending:
                    finish(
                        HostResult(
                            host, Status.SKIPPED, "interrupted before it started", started=False
                        )
                    )
                pending.clear()
            try:
                deliver(events.get(timeout=tick))
            except queue.Empty:
                pass
            if timeout is not None:
                _time_out(running, timeout, finish)
        except KeyboardInterrupt:
            interrupts += 1
            try:
                on_event(Event("interrupt", "", data={"count": interrupts}))
            except KeyboardInterrupt:  # the next Ctrl-C came while this one was shown
                interrupts += 1
            if interrupts >= 2:
                _stop_in_flight(running, events, deliver, finish, grace)
    _wait_for_stragglers(threads, grace)
    ordered = tuple(results[h] for h in hosts if h in results)
    return RunReport(ordered, interrupted=bool(interrupts))


def _time_out(
    running: dict[str, tuple[float, TaskContext, threading.Thread]],
    timeout: float,
    finish: Callable[[HostResult], None],
) -> None:
    now = time.monotonic()
    for host, (started, ctx, _) in list(running.items()):
        if now - started > timeout:
            ctx.cancelled.set()  # the task stops at its next step; its slot is free now
            status = Status.FAILED if ctx.reached else Status.UNREACHABLE
            never = "" if ctx.reached else " (it never answered)"
            finish(
                HostResult(
                    host, status, f"timed out after {timeout:g} s{never}", seconds=now - started
                )
            )


def _stop_in_flight(
    running: dict[str, tuple[float, TaskContext, threading.Thread]],
    events: queue.Queue[Event],
    deliver: Callable[[Event], None],
    finish: Callable[[HostResult], None],
    grace: float,
) -> None:
    """A second Ctrl-C: ask every robot in flight to stop, take what they report within
    the grace period, and give up on the rest."""
    for _, ctx, _ in running.values():
        ctx.cancelled.set()
    deadline = time.monotonic() + grace
    while running and time.monotonic() < deadline:
        try:
            deliver(events.get(timeout=0.05))
        except queue.Empty:
            continue
        except KeyboardInterrupt:
            break
    for host in list(running):
        finish(HostResult(host, Status.FAILED, "interrupted while it worked"))


def _wait_for_stragglers(threads: Sequence[threading.Thread], grace: float) -> None:
    """Robots given up on (timed out, interrupted) still run in their threads until they
    see `cancelled`; wait a moment, so their connections are not closed under them."""
    deadline = time.monotonic() + grace
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


# -- rollouts in batches (Ansible's `serial` and `max_fail_percentage`) --

_SERIAL = re.compile(r"^\s*(\d+)\s*(%?)\s*$")


@dataclass(frozen=True)
class Serial:
    size: int
    percent: bool = False

    def __str__(self) -> str:
        return f"{self.size}%" if self.percent else str(self.size)


def parse_serial(text: str | int) -> Serial:
    """`5` robots a batch, or `25%` of them (at least one)."""
    match = _SERIAL.match(str(text))
    if not match or int(match.group(1)) < 1 or (match.group(2) and int(match.group(1)) > 100):
        raise ValueError(f"serial {text!r}: a number of robots (5) or a percentage (25%)")
    return Serial(int(match.group(1)), bool(match.group(2)))


def batches(hosts: Sequence[str], serial: Serial | None) -> list[list[str]]:
    """The robots cut into batches, in order; the first batch is the canary."""
    if serial is None or not hosts:
        return [list(hosts)] if hosts else []
    size = max(1, math.floor(len(hosts) * serial.size / 100)) if serial.percent else serial.size
    return [list(hosts[i : i + size]) for i in range(0, len(hosts), size)]


def run_batches(
    groups: Sequence[Sequence[str]],
    task: Task,
    *,
    max_fail_percent: float | None = None,
    on_event: Callable[[Event], None] = lambda _: None,
    **options: Any,
) -> RunReport:
    """Each batch after the last; the rollout stops before the next batch when more than
    `max_fail_percent` of this one failed (or all of it, as Ansible stops by default).
    Robots never started are `skipped` with the reason, and are in the retry file."""
    results: list[HostResult] = []
    for number, group in enumerate(groups, start=1):
        if len(groups) > 1:
            on_event(
                Event("batch", "", data={"batch": number, "of": len(groups), "hosts": len(group)})
            )
        report = run_tasks(group, task, on_event=on_event, **options)
        results += report.results
        rest = [host for later in groups[number:] for host in later]
        if report.interrupted:
            results += _not_started(rest, "interrupted before it started", on_event)
            return RunReport(tuple(results), interrupted=True)
        failed = sum(r.status in (Status.FAILED, Status.UNREACHABLE) for r in report.results)
        share = 100 * failed / len(group) if group else 0
        too_many = max_fail_percent is not None and share > max_fail_percent
        if rest and failed and (too_many or failed == len(group)):
            limit = f"more than {max_fail_percent:g}%" if too_many else "all of them"
            reason = (
                f"not started: {failed} of {len(group)} robots failed in batch {number} "
                f"({limit}); the rollout stopped"
            )
            results += _not_started(rest, reason, on_event)
            break
    return RunReport(tuple(results))


def _not_started(
    hosts: Sequence[str], reason: str, on_event: Callable[[Event], None]
) -> list[HostResult]:
    skipped = [HostResult(host, Status.SKIPPED, reason, started=False) for host in hosts]
    for result in skipped:
        on_event(Event("result", result.host, result))
    return skipped
