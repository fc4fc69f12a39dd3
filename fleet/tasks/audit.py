"""`fleet credentials audit`: which registries a robot holds credentials for, as whom,
with each secret's fingerprint (read-only; the secrets themselves never leave here)."""

from __future__ import annotations

from typing import Any

from fleet.credentials import dockerconfig
from fleet.credentials.names import display_name, fingerprint
from fleet.results import HostResult, Status
from fleet.tasks.gather import Robot
from fleet.tasks.robot_config import RemoteError, helper_get, helper_list, read_config


def audit_robot(robot: Robot) -> HostResult:
    shell = robot.shell
    file = read_config(shell)
    if file.unsafe:
        raise RemoteError(f"refusing to read {file.path}: {file.unsafe}")
    try:
        config = dockerconfig.parse(file.text or "")
    except dockerconfig.CorruptConfig as exc:
        raise RemoteError(f"{file.path} is {exc}") from None
    held: list[dict[str, Any]] = [
        {
            "registry": display_name(registry),
            "username": user,
            "fingerprint": fingerprint(secret) if secret is not None else None,
            "via": "auths",
        }
        for registry, user, secret in dockerconfig.held_accounts(config)
    ]
    helpers = {config.get("credsStore")} | set((config.get("credHelpers") or {}).values())
    for helper in sorted(h for h in helpers if isinstance(h, str) and h):
        for registry in helper_list(shell, helper):
            got = helper_get(shell, helper, registry)
            if got:
                held.append(
                    {
                        "registry": display_name(registry),
                        "username": got[0],
                        "fingerprint": fingerprint(got[1]),
                        "via": helper,
                    }
                )
    summary = ", ".join(f"{h['registry']}={h['username']}" for h in held) or "no credentials"
    return HostResult(robot.host.name, Status.OK, summary, {"credentials": held})
