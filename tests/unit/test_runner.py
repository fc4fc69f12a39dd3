import threading
import time

import pytest

from fleet.errors import RobotError, Unreachable
from fleet.results import HostResult, Status, exit_code
from fleet.runner import batches, parse_serial, run_batches, run_tasks

HOSTS = [f"robot{i:02d}" for i in range(1, 21)]
RAISING = {"robot03", "robot09", "robot15"}
HANGING = {"robot05", "robot12"}


def fake_task(host, ctx):
    if host in RAISING:
        raise RuntimeError(f"boom on {host}")
    if host in HANGING:
        ctx.cancelled.wait(30)  # hangs past the runner's timeout
        return HostResult(host, Status.OK, "too late")
    ctx.progress(step="working")
    time.sleep(0.05)
    return HostResult(host, Status.CHANGED if host.endswith("2") else Status.OK, "done")


def test_failures_and_hangs_stay_with_their_robot():
    events = []
    started = time.monotonic()
    report = run_tasks(HOSTS, fake_task, forks=5, timeout=1.0, on_event=events.append, tick=0.02)
    elapsed = time.monotonic() - started
    by_host = {r.host: r for r in report.results}
    assert [r.host for r in report.results] == HOSTS
    for host in RAISING:
        assert by_host[host].status is Status.FAILED
        assert f"boom on {host}" in by_host[host].reason
    for host in HANGING:
        assert by_host[host].status is Status.UNREACHABLE
        assert "timed out after 1 s" in by_host[host].reason
    others = set(HOSTS) - RAISING - HANGING
    assert {by_host[h].status for h in others} <= {Status.OK, Status.CHANGED}
    # Two hung slots out of five: the other fifteen robots still ran three at a time,
    # so the run took about one timeout, not one per hung robot.
    assert elapsed < 2 * 1.0 + 2
    kinds = [e.kind for e in events]
    assert kinds.count("start") == 20 and kinds.count("result") == 20
    assert sum(1 for e in events if e.kind == "progress") == len(others)
    assert exit_code(r.status for r in report.results) == 6


def test_ctrl_c_starts_no_new_robot_and_lets_running_ones_finish():
    finished = []
    lock = threading.Lock()

    def slow(host, ctx):
        time.sleep(0.3)
        with lock:
            finished.append(host)
        return HostResult(host, Status.OK)

    starts = []

    def on_event(event):
        if event.kind == "start":
            starts.append(event.host)
            if len(starts) == 4:
                raise KeyboardInterrupt

    report = run_tasks(HOSTS, slow, forks=4, on_event=on_event, tick=0.02)
    assert report.interrupted
    by_host = {r.host: r.status for r in report.results}
    assert [h for h, s in by_host.items() if s is Status.OK] == HOSTS[:4]
    assert sorted(finished) == HOSTS[:4]
    assert all(by_host[h] is Status.SKIPPED for h in HOSTS[4:])
    assert exit_code(by_host.values(), interrupted=report.interrupted) == 130


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        ([], 0),
        ([Status.OK, Status.CHANGED], 0),
        ([Status.OK, Status.SKIPPED], 0),
        ([Status.OK, Status.FAILED], 2),
        ([Status.UNREACHABLE, Status.OK], 4),
        ([Status.FAILED, Status.UNREACHABLE], 6),
    ],
)
def test_exit_codes(statuses, code):
    assert exit_code(statuses) == code


def test_a_pull_progress_line():
    from fleet.cli.render import progress_text

    line = progress_text(
        {
            "variant": "arm32v7",
            "layers_done": 2,
            "layers": 6,
            "bytes_done": 20 * 2**20,
            "bytes_total": 50 * 2**20,
        }
    )
    assert line == "arm32v7 2/6 layers"  # bytes, speed and ETA are the bar's columns


def test_json_events_are_one_plain_line_each_and_progress_is_thinned():
    import io
    import json

    from rich.console import Console

    from fleet.cli.render import Renderer
    from fleet.runner import Event

    out = io.StringIO()
    renderer = Renderer(
        Console(file=out, width=20), Console(file=io.StringIO()), json_mode=True, hosts=["r1"]
    )
    long_reason = "pulled arm32v7 " + "[not markup] " * 10
    renderer.on_event(Event("start", "r1"))
    for done in range(5):  # within one progress interval: only the first is kept
        renderer.on_event(Event("progress", "r1", data={"bytes_done": done}))
    renderer.on_event(Event("result", "r1", HostResult("r1", Status.CHANGED, long_reason)))
    lines = out.getvalue().splitlines()
    records = [json.loads(line) for line in lines]  # a 20-column console wraps nothing
    assert [r["event"] for r in records] == ["start", "progress", "result"]
    assert records[1]["bytes_done"] == 0
    assert records[2]["reason"] == long_reason


def test_a_robot_that_answered_and_then_hung_failed_one_that_never_did_is_unreachable():
    def task(host, ctx):
        if host == "answered":
            ctx.mark_reached()
        ctx.cancelled.wait(30)
        return HostResult(host, Status.OK, "too late")

    report = run_tasks(["answered", "silent"], task, timeout=0.3, tick=0.02)
    by_host = {r.host: r for r in report.results}
    assert by_host["answered"].status is Status.FAILED
    assert by_host["answered"].reason == "timed out after 0.3 s"
    assert by_host["silent"].status is Status.UNREACHABLE
    assert "never answered" in by_host["silent"].reason


def test_what_a_task_raises_becomes_its_result_in_one_place():
    def task(host, ctx):
        raise {
            "gone": Unreachable("connection refused"),
            "refused": RobotError("no space left on device"),
            "bug": KeyError("variant"),
        }[host]

    report = run_tasks(["gone", "refused", "bug"], task, tick=0.02)
    by_host = {r.host: r for r in report.results}
    assert by_host["gone"].status is Status.UNREACHABLE
    assert by_host["refused"].status is Status.FAILED
    assert by_host["refused"].reason == "no space left on device"
    assert by_host["bug"].status is Status.FAILED
    assert by_host["bug"].reason.startswith("internal error (KeyError")
    assert "bug in fleet" in by_host["bug"].reason


def test_a_second_ctrl_c_asks_the_robots_in_flight_to_stop():
    def patient(host, ctx):
        ctx.cancelled.wait(30)
        return HostResult(host, Status.FAILED, "cancelled")

    starts = []

    def on_event(event):
        if event.kind == "start":
            starts.append(event.host)
            if len(starts) == 2:
                raise KeyboardInterrupt
        if event.kind == "interrupt" and event.data["count"] == 1:
            raise KeyboardInterrupt

    started = time.monotonic()
    report = run_tasks(HOSTS[:6], patient, forks=2, on_event=on_event, tick=0.02)
    assert time.monotonic() - started < 5
    assert report.interrupted
    statuses = [r.status for r in report.results]
    assert statuses[:2] == [Status.FAILED, Status.FAILED]
    assert statuses[2:] == [Status.SKIPPED] * 4
    assert [r.started for r in report.results] == [True, True] + [False] * 4


@pytest.mark.parametrize(
    ("serial", "sizes"),
    [("1", [1] * 5), ("2", [2, 2, 1]), ("40%", [2, 2, 1]), ("10%", [1] * 5), ("100%", [5])],
)
def test_robots_go_in_batches_like_ansible_serial(serial, sizes):
    assert [len(b) for b in batches(HOSTS[:5], parse_serial(serial))] == sizes


@pytest.mark.parametrize("text", ["0", "-1", "0%", "101%", "half", "1.5"])
def test_a_serial_that_means_nothing_is_refused(text):
    with pytest.raises(ValueError, match="serial"):
        parse_serial(text)


def test_the_rollout_stops_after_a_batch_that_failed_too_much():
    def canary_fails(host, ctx):
        return HostResult(host, Status.FAILED if host == HOSTS[0] else Status.OK, "")

    events = []
    report = run_batches(
        batches(HOSTS[:5], parse_serial("1")),
        canary_fails,
        max_fail_percent=0,
        on_event=events.append,
        tick=0.02,
    )
    statuses = [r.status for r in report.results]
    assert statuses == [Status.FAILED] + [Status.SKIPPED] * 4
    assert "failed in batch 1" in report.results[1].reason
    assert report.needing_retry() == HOSTS[:5]
    assert [e.kind for e in events].count("batch") == 1


def test_a_rollout_goes_on_while_failures_stay_within_the_limit():
    def second_fails(host, ctx):
        return HostResult(host, Status.FAILED if host == HOSTS[1] else Status.OK, "")

    report = run_batches(
        batches(HOSTS[:6], parse_serial("3")), second_fails, max_fail_percent=50, tick=0.02
    )
    assert [r.status for r in report.results].count(Status.OK) == 5
    assert report.needing_retry() == [HOSTS[1]]
