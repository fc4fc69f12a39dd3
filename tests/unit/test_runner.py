import threading
import time

import pytest

from fleet.results import HostResult, Status, exit_code
from fleet.runner import run_tasks

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
        },
        speed=6 * 2**20,
    )
    assert line == "arm32v7 2/6 layers  20.0/50.0 MB  6.0 MB/s"


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
