"""20 lab robots; `fleet discover --timeout 2` 20 times: recall, time until the last robot
was seen, and peak memory. Run as root: .venv/bin/python benchmarks/discover_bench.py"""

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
    with Browser(interface_addresses(BRIDGE)) as browser:
        while time.monotonic() - start < limit:
            if expected <= {r.hostname for r in merge(browser.records())}:
                return time.monotonic() - start
            time.sleep(0.01)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--robots", type=int, default=20)
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    status = lab_up("--robots", str(args.robots))
    expected = {f"{r['name']}.local" for r in status["robots"]}
    recalls, rss, lasts = [], [], []
    for _ in range(args.trials):
        run = timed([*FLEET, "discover", "--timeout", "2", "--json", "--interface", BRIDGE])
        found = {json.loads(line)["hostname"] for line in run.stdout.splitlines()}
        recalls.append(len(found & expected) / len(expected))
        rss.append(run.max_rss_mb)
        lasts.append(time_to_last_robot(expected))
    complete = sum(1 for r in recalls if r == 1.0)
    seen = [t for t in lasts if t is not None]
    print(f"robots: {len(expected)}, trials: {args.trials}")
    mean_recall = sum(recalls) / len(recalls)
    print(f"trials listing every robot: {complete}/{args.trials}; mean recall {mean_recall:.3f}")
    print(
        f"time until the last robot was seen: median {median(seen):.3f} s, max {max(seen):.3f} s"
        f" ({len(seen)}/{args.trials} trials saw all within 10 s)"
    )
    # RUSAGE_CHILDREN keeps the largest child's peak: one figure for all the trials.
    print(f"peak memory of fleet discover (largest of the trials): {max(rss):.1f} MB")


if __name__ == "__main__":
    main()
