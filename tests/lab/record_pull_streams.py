"""Record the Engine API's pull streams that tests/unit/test_pullstream.py replays.

Run as root with a lab up (any profile; robot01 is used): writes one JSON message per
line, exactly as the daemon sent them, into tests/unit/data/pullstreams/.
    .venv/bin/python tests/lab/record_pull_streams.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fleet.credentials.store import Credential  # noqa: E402
from fleet.lab.paths import LabPaths  # noqa: E402
from fleet.session import Session  # noqa: E402
from fleet.targets import select_targets  # noqa: E402
from fleet.transport.docker_api import robot_docker  # noqa: E402
from fleet.transport.ssh import SSHOptions  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "unit/data/pullstreams"


def main() -> None:
    paths = LabPaths.from_env()
    accounts = json.loads(paths.credentials.read_text())
    registry = accounts["registry"]
    auth = Credential(registry, "robot", accounts["accounts"]["robot"])
    auth_config = {"username": auth.username, "password": auth.secret, "serveraddress": registry}
    (host,) = select_targets(paths.inventory, "robot01.local", None).hosts
    with Session(SSHOptions(known_hosts=OUT / "known_hosts.tmp", accept_new=True)) as session:
        client = robot_docker(host, lambda: session.connection(host).transport).client
        repository = f"{registry}/demo/payload"

        def record(name: str, tag: str, during=None) -> None:
            messages = []
            stream = client.pull(
                repository, tag=tag, auth_config=auth_config, stream=True, decode=True
            )
            for message in stream:
                messages.append(message)
                if during is not None:
                    during(message)
            (OUT / name).write_text("".join(json.dumps(m) + "\n" for m in messages))
            print(f"{name}: {len(messages)} messages")

        def remove(*tags: str) -> None:
            for tag in tags:
                try:
                    client.remove_image(f"{repository}:{tag}", force=True)
                except docker.errors.ImageNotFound:
                    pass

        remove("v1", "v2")
        record("payload-v1-cold.jsonl", "v1")
        record("payload-v1-up-to-date.jsonl", "v1")
        record("payload-v2-after-v1.jsonl", "v2")
        remove("v1", "v2")
        stopped = threading.Event()

        def stop_registry_midway(message: dict) -> None:
            detail = message.get("progressDetail") or {}
            if not stopped.is_set() and detail.get("current", 0) > 3_000_000:
                stopped.set()
                subprocess.run([sys.executable, "-m", "fleet", "lab", "stop", "registry"])

        try:
            record("payload-v1-registry-stopped.jsonl", "v1", stop_registry_midway)
        finally:
            subprocess.run([sys.executable, "-m", "fleet", "lab", "start", "registry"])
    (OUT / "known_hosts.tmp").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
