"""The planner as data: (desired, robot state, registry) -> actions, one case a YAML entry
in tests/unit/data/plan_cases/. Each expected action lists only the fields it checks;
`reason` is checked as a part of the planned reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from fleet.credentials.store import Credential
from fleet.platform import Platform
from fleet.registry.model import Layer, PlatformManifest, ResolvedImage
from fleet.tasks import desired as desired_mod
from fleet.tasks.actions import Action
from fleet.tasks.desired import DesiredCredential, DesiredState
from fleet.tasks.plan import RegistryAnswer, Unresolved, plan, secret_sha256
from fleet.tasks.state import (
    ConfigStatus,
    DiskFacts,
    DockerConfigFacts,
    DockerFacts,
    HeldCredential,
    HeldImage,
    RobotState,
)

CASE_DIR = Path(__file__).parent / "data" / "plan_cases"


def _load_cases() -> list[dict[str, Any]]:
    cases = []
    for file in sorted(CASE_DIR.glob("*.yaml")):
        for case in YAML(typ="safe").load(file.read_text()):
            case["file"] = file.name
            cases.append(case)
    return cases


CASES = _load_cases()


def desired_state(spec: dict[str, Any]) -> DesiredState:
    store: dict[str, dict[str, str]] = spec.get("store") or {}

    def lookup(registry: str, username: str | None) -> Credential | None:
        accounts = store.get(registry) or {}
        if username is None and len(accounts) == 1:
            username = next(iter(accounts))
        secret = accounts.get(username or "")
        return Credential(registry, username, secret) if username and secret else None

    credentials = [
        DesiredCredential(registry, user, lookup(registry, user), force=spec.get("force", False))
        for registry, user in (spec.get("registries") or {}).items()
    ]
    credentials += [
        DesiredCredential(registry, None, None, present=False)
        for registry in spec.get("logout") or []
    ]
    return DesiredState(
        credentials=tuple(credentials),
        images=desired_mod.parse_images(spec.get("images")),
        arch_override=spec.get("arch"),
        always=spec.get("always", False),
        delivery=spec.get("delivery", "direct"),
    )


def robot_state(spec: dict[str, Any]) -> RobotState:
    docker = spec.get("docker")
    disk = spec.get("disk")
    config = spec.get("config")
    return RobotState(
        host="robot.local",
        docker=DockerFacts(os="linux", arch=docker.get("arch"), kernel_arch=docker.get("kernel"))
        if docker is not None
        else None,
        disk=DiskFacts("/var/lib/docker", disk.get("free")) if disk is not None else None,
        images=tuple(_held_image(i) for i in spec.get("images") or []),
        config=_config(config) if config is not None else None,
    )


def _held_image(spec: dict[str, Any]) -> HeldImage:
    platform = spec.get("platform")
    return HeldImage(
        id=spec["id"],
        repo_tags=tuple(spec.get("tags") or ()),
        repo_digests=tuple(spec.get("digests") or ()),
        platform=Platform.parse(platform) if platform else None,
        created=spec.get("created", ""),
        layers=tuple(spec.get("layers") or ()),
        in_use=spec.get("in_use", False),
    )


def _config(spec: dict[str, Any]) -> DockerConfigFacts:
    held = [
        HeldCredential(
            registry, entry["user"], secret_sha256(entry["secret"]), entry.get("via", "auths")
        )
        for registry, entry in (spec.get("held") or {}).items()
    ]
    return DockerConfigFacts(
        path="/root/.docker/config.json",
        status=ConfigStatus(spec.get("status", "ok")),
        sha256=spec.get("sha256"),
        problem=spec.get("problem"),
        credentials=tuple(held),
        creds_store=spec.get("creds_store"),
        cred_helpers=tuple((spec.get("cred_helpers") or {}).items()),
    )


def registry_answers(spec: dict[str, Any]) -> dict[str, RegistryAnswer]:
    answers: dict[str, RegistryAnswer] = {}
    for reference, entry in (spec or {}).items():
        if "unresolved" in entry:
            answers[reference] = Unresolved(entry["unresolved"])
            continue
        repository_and_tag = reference.split("/", 1)[1]
        answers[reference] = ResolvedImage(
            registry=reference.split("/", 1)[0],
            repository=repository_and_tag.rpartition(":")[0],
            tag=repository_and_tag.rpartition(":")[2],
            digest=entry["digest"],
            media_type=(
                "application/vnd.oci.image.index.v1+json"
                if entry.get("index", True)
                else "application/vnd.oci.image.manifest.v1+json"
            ),
            manifests=tuple(_manifest(m) for m in entry["manifests"]),
        )
    return answers


def _manifest(spec: dict[str, Any]) -> PlatformManifest:
    return PlatformManifest(
        platform=Platform.parse(spec["platform"]),
        digest=spec.get("digest"),
        config_digest=spec.get("config"),
        layers=tuple(Layer(d, size, diff) for d, size, diff in spec.get("layers") or ()),
    )


def _projection(action: Action, expected: dict[str, Any]) -> dict[str, Any]:
    """The action's fields that the case names, in the case's terms."""
    record = action.record()
    seen: dict[str, Any] = {"kind": action.kind, "item": action.item, "drift": str(action.drift)}
    for key in expected:
        if key in seen:
            continue
        if key == "reason":
            text = getattr(action, "reason", None) or action.describe()
            seen[key] = expected[key] if expected[key] in text else text
        elif key == "requires":
            seen[key] = list(action.requires)
        elif key == "replace_corrupt":
            seen[key] = getattr(action, "replace_corrupt", None)
        elif key in record:
            seen[key] = record[key]
        else:
            seen[key] = getattr(action, key, f"<no field {key}>")
    return {key: seen[key] for key in expected}


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['file']}: {c['name']}")
def test_plan_case(case):
    actions = plan(
        desired_state(case["desired"]),
        robot_state(case["robot"]),
        registry_answers(case.get("registry")),
    )
    assert all({"kind", "item"} <= set(e) for e in case["actions"]), "name kind and item"
    got = [_projection(a, e) for a, e in zip(actions, case["actions"], strict=False)]
    assert got == case["actions"]
    assert len(actions) == len(case["actions"]), [a.describe() for a in actions]


def test_there_are_enough_cases():
    assert len(CASES) >= 30
