"""Importing what the user's own `docker login` stored on this machine (I/O)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from fleet.credentials import dockerconfig
from fleet.credentials.store import Credential
from fleet.errors import FleetError


def docker_config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")
    return Path(base) / "config.json"


def import_credential(registry: str, path: Path | None = None) -> Credential:
    """The account `docker login` stored for `registry`, from auths or a credential helper."""
    path = path or docker_config_path()
    try:
        config = dockerconfig.parse(path.read_text())
    except FileNotFoundError:
        raise FleetError(f"{path} does not exist: run docker login first") from None
    except dockerconfig.CorruptConfig as exc:
        raise FleetError(f"{path} is {exc}") from None
    helper = dockerconfig.helper_for(config, registry)
    if helper:
        try:
            done = subprocess.run(
                [f"docker-credential-{helper}", "get"],
                input=registry.encode(),
                capture_output=True,
                timeout=30,
                check=False,
            )
        except FileNotFoundError:
            raise FleetError(
                f"docker-credential-{helper} (named in {path}) is not installed"
            ) from None
        if done.returncode == 0:
            data = json.loads(done.stdout)
            return Credential(registry, str(data["Username"]), str(data["Secret"]))
    decoded = dockerconfig.decode_auth((config.get("auths") or {}).get(registry))
    if decoded is None:
        raise FleetError(f"{path} holds no credential for {registry}")
    return Credential(registry, decoded[0], decoded[1])
