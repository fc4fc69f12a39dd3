"""100 lab robots; `fleet discover --json` at several timeouts, 20 trials each: recall
against time (robots listed / robots there), the time until the last robot was seen
within one browse, and peak memory.
Run as root: .venv/bin/python benchmarks/discover_bench.py [--robots 100] [--trials 20]"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import FLEET, lab_up, median, timed  # noqa: E402
from fleet.discovery.browse import Browser, interface_addresses  # noqa: E402
from fleet.discovery.records import merge  # noqa: E402
from fleet.lab.spec import BRIDGE  # noqa: E402


def time_to_last_robot(expected: set[str], limit: float = 10.0) -> float | None:
    """Seconds from starting a browse until every expected robot has been seen."""
    start = time.monotonic()
    with Browser(interface_addresses(BRIDGE), one_shot=True) as browser:
        while time.monotonic() - start < limit:
            if expected <= {r.hostname for r in merge(browser.records())}:
                return time.monotonic() - start
            time.sleep(0.01)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--robots", type=int, default=100)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--timeouts", default="1,2,3", help="comma-separated seconds")
    args = parser.parse_args()
    status = lab_up("--robots", str(args.robots))
    expected = {f"{r['name']}.local" for r in status["robots"]}
    print(f"robots: {len(expected)}, trials per timeout: {args.trials}")
    print("timeout  complete trials  mean recall  min recall  median wall  peak RSS")
    for timeout in [float(t) for t in args.timeouts.split(",")]:
        recalls, walls, rss = [], [], []
        for _ in range(args.trials):
            run = timed(
                [*FLEET, "discover", "--timeout", str(timeout), "--json", "--interface", BRIDGE]
            )
            found = {json.loads(line)["hostname"] for line in run.stdout.splitlines()}
            recalls.append(len(found & expected) / len(expected))
            walls.append(run.seconds)
            rss.append(run.max_rss_mb)
        complete = sum(1 for r in recalls if r == 1.0)
        mean = sum(recalls) / len(recalls)
        print(
            f"{timeout:6.1f} s  {complete:6d}/{args.trials:<8d}  {mean:11.3f}"
            f"  {min(recalls):10.3f}  {median(walls):9.2f} s  {max(rss):6.1f} MB"
        )
    lasts = [time_to_last_robot(expected) for _ in range(args.trials)]
    seen = [t for t in lasts if t is not None]
    if seen:
        print(
            f"time until the last robot was seen in one browse: median {median(seen):.3f} s, "
            f"max {max(seen):.3f} s ({len(seen)}/{args.trials} browses saw all within 10 s)"
        )
    else:
        print(f"no browse saw all {len(expected)} robots within 10 s")


if __name__ == "__main__":
    main()
