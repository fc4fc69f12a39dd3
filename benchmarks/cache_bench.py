"""Classroom scale: `fleet pull --via cache` against direct pulls, side by side on one lab.

16 native robots on 50 Mbit/s links; the hub (Docker Hub's stand-in) behind one 20 Mbit/s
uplink that every robot and this machine share. demo/payload:v1 (about 50 MB) from the hub:
- `fleet pull --via cache` with a cold cache (emptied before each repetition),
- `fleet pull` direct,
- `xargs -P docker -H ssh://root@ROBOT pull` direct,
- `fleet pull --via cache` with a warm cache (the robots lack the image, the cache holds it).
Each starts from robots without the image. For each: wall time, the bytes the hub served
(its access log: what crossed the uplink), and this machine's CPU seconds.
Run as root: .venv/bin/python benchmarks/cache_bench.py [--reps 1]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import FLEET, client_env, lab_up, median, timed  # noqa: E402
from fleet.lab.paths import LabPaths  # noqa: E402

IMAGE = "demo/payload:v1"
_BLOB = re.compile(r'"GET /v2/\S+/blobs/sha256:[0-9a-f]{64} HTTP/1\.1" 200 (\d+)')


def hub_bytes(paths: LabPaths) -> int:
    """Blob bytes the hub has served so far (its access log)."""
    log = (paths.hub_dir / "registry.log").read_text(errors="replace")
    return sum(int(m.group(1)) for m in _BLOB.finditer(log))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--robots", type=int, default=16)
    parser.add_argument("--link-rate", default="50mbit")
    parser.add_argument("--uplink-rate", default="20mbit")
    args = parser.parse_args()
    status = lab_up(
        "--robots", str(args.robots), "--link-rate", args.link_rate,
        "--uplink-rate", args.uplink_rate,
    )  # fmt: skip
    paths = LabPaths.from_env()
    accounts = json.loads(paths.credentials.read_text())
    image = f"{accounts['hub']}/{IMAGE}"
    work = Path(tempfile.mkdtemp(prefix="fleet-cache-bench-"))
    addresses = [r["address"] for r in status["robots"]]
    names = [f"{r['name']}.local" for r in status["robots"]]
    env = client_env(work, paths, accounts, addresses, names)
    env |= {"XDG_STATE_HOME": str(work / "state"), "XDG_CACHE_HOME": str(work / "cache")}
    common = [
        "-i", str(paths.inventory), "--known-hosts", str(work / "known_hosts"),
        "-f", str(len(names)), "--ca-cert", str(paths.ca_cert), "--json",
    ]  # fmt: skip

    def remove() -> None:
        for address in addresses:
            subprocess.run(
                ["docker", "-H", f"ssh://root@{address}", "rmi", "-f", image],
                capture_output=True,
                env=env,
            )

    def empty_cache() -> None:
        subprocess.run([*FLEET, "cache", "down", "--purge"], capture_output=True, env=env)
        shutil.rmtree(work / "cache", ignore_errors=True)

    def fleet_pull(*via: str):
        return lambda: timed([*FLEET, "pull", image, *common, *via], env=env)

    def xargs():
        command = f"printf '%s\\n' {' '.join(addresses)} | xargs -P {len(addresses)} -I{{}} " + (
            f"docker -H ssh://root@{{}} pull -q {image}"
        )
        return timed(command, env=env, shell=True)

    cases = {
        "cache, cold": (fleet_pull("--via", "cache"), empty_cache),
        "fleet direct": (fleet_pull(), lambda: None),
        "xargs -P direct": (xargs, lambda: None),
        "cache, warm": (fleet_pull("--via", "cache"), lambda: None),
    }
    results: dict[str, list[tuple[float, int, float]]] = {case: [] for case in cases}
    for _ in range(args.reps):
        for case, (run, prepare) in cases.items():
            prepare()
            remove()
            before = hub_bytes(paths)
            result = run()
            if result.returncode != 0:
                print(f"  {case} failed: exit {result.returncode}", file=sys.stderr)
            results[case].append((result.seconds, hub_bytes(paths) - before, result.cpu))
    print(
        f"lab: {len(names)} robots, links {args.link_rate}, uplink {args.uplink_rate}; "
        f"{IMAGE} from the hub; {args.reps} repetition(s), medians"
    )
    print(f"{'case':<16} {'wall s':>8} {'upstream MB':>12} {'cpu s':>7} {'vs xargs':>9}")
    base = median([r[0] for r in results["xargs -P direct"]])
    for case, runs in results.items():
        seconds = median([r[0] for r in runs])
        upstream = median([r[1] for r in runs]) / 1e6
        cpu = median([r[2] for r in runs])
        print(f"{case:<16} {seconds:>8.1f} {upstream:>12.1f} {cpu:>7.2f} {base / seconds:>8.1f}x")
    empty_cache()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
