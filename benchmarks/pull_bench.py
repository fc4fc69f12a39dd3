"""`fleet pull` against the plain docker CLI, side by side on one lab.

16 native robots on links shaped like classroom WiFi (50 Mbit/s). For 1, 4, 8 and 16
robots: `fleet pull` of demo/payload:v1 (about 50 MB), a sequential
`docker -H ssh://root@ROBOT pull` loop, and the same commands run at once with
`xargs -P`; each starts from robots without the image. Then the no-op case: every robot
already holds the image. Prints medians, ratios, controller CPU seconds and peak memory.
Run as root: .venv/bin/python benchmarks/pull_bench.py [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import FLEET, client_env, lab_up, median, timed  # noqa: E402
from fleet.lab.paths import LabPaths  # noqa: E402

IMAGE = "demo/payload:v1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3, help="repetitions of the no-op case")
    parser.add_argument("--cold-reps", type=int, default=3, help="repetitions of full pulls")
    parser.add_argument("--sizes", default="1,4,8,16")
    parser.add_argument("--link-rate", default="50mbit")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    status = lab_up("--robots", str(max(sizes)), "--link-rate", args.link_rate)
    paths = LabPaths.from_env()
    accounts = json.loads(paths.credentials.read_text())
    registry = accounts["registry"]
    image = f"{registry}/{IMAGE}"
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    addresses = [r["address"] for r in status["robots"]]
    names = [f"{r['name']}.local" for r in status["robots"]]
    env = client_env(work, paths, accounts, addresses, names)
    known = work / "known_hosts"
    inventory = paths.inventory

    def remove(n: int) -> None:
        for address in addresses[:n]:
            subprocess.run(
                ["docker", "-H", f"ssh://root@{address}", "rmi", "-f", image],
                capture_output=True,
                env=env,
            )

    def fleet_pull(n: int):
        return timed(
            [
                *FLEET,
                "pull",
                image,
                "-i",
                str(inventory),
                "-l",
                ",".join(names[:n]),
                "--known-hosts",
                str(known),
                "-f",
                str(max(n, 1)),
                "--json",
            ],
            env=env,
        )

    def sequential(n: int):
        loop = " ; ".join(f"docker -H ssh://root@{a} pull -q {image}" for a in addresses[:n])
        return timed(loop, env=env, shell=True)

    def parallel(n: int):
        listing = " ".join(addresses[:n])
        command = f"printf '%s\\n' {listing} | xargs -P {n} -I{{}} " + (
            f"docker -H ssh://root@{{}} pull -q {image}"
        )
        return timed(command, env=env, shell=True)

    methods = {"fleet pull": fleet_pull, "docker loop": sequential, "xargs -P": parallel}
    print(
        f"lab: {len(addresses)} robots, links {args.link_rate}; image {IMAGE}; "
        f"reps: {args.cold_reps} cold, {args.reps} no-op"
    )
    for case in ("cold", "no-op"):
        print(f"\n== {case} ({'robots without the image' if case == 'cold' else 'all up to date'})")
        print(f"{'robots':>6} {'method':<12} {'median s':>9} {'cpu s':>7} {'ratio':>8}")
        for n in sizes:
            runs: dict[str, list] = {m: [] for m in methods}
            for _ in range(args.cold_reps if case == "cold" else args.reps):
                for method, run in methods.items():
                    if case == "cold":
                        remove(n)
                    else:
                        fleet_pull(n)  # make sure every robot holds it
                    result = run(n)
                    if result.returncode != 0:
                        print(f"  {method} failed on {n} robots", file=sys.stderr)
                    runs[method].append(result)
            base = median([r.seconds for r in runs["xargs -P"]])
            for method, results in runs.items():
                seconds = median([r.seconds for r in results])
                cpu = median([r.cpu for r in results])
                print(f"{n:>6} {method:<12} {seconds:>9.2f} {cpu:>7.2f} {seconds / base:>7.2f}x")
            loop = median([r.seconds for r in runs["docker loop"]])
            fleet_s = median([r.seconds for r in runs["fleet pull"]])
            print(
                f"{'':>6} fleet vs xargs -P: {fleet_s / base:.2f}x; "
                f"docker loop / fleet: {loop / fleet_s:.1f}x faster"
            )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\npeak memory of the largest child process in this run: {peak:.0f} MB")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
