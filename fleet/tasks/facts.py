"""`fleet facts`: what each robot is, in one SSH round trip."""

from __future__ import annotations

from typing import Any

from fleet.facts import probes
from fleet.inventory.model import Host
from fleet.platform import UnknownVariant, choose_variant
from fleet.results import HostResult, Status
from fleet.session import Session
from fleet.transport.ssh import Unreachable


def facts_from_output(output: str, fleet_arch: str | None) -> dict[str, Any]:
    """Parsed facts plus the chosen variant and why (pure)."""
    facts = probes.parse_all(output)
    docker = facts.get("docker") or {}
    choice = choose_variant(
        daemon_arch=docker.get("arch"), kernel_arch=facts.get("kernel_arch"), override=fleet_arch
    )
    facts["variant"] = choice.variant
    facts["variant_reason"] = choice.reason
    return facts


def gather_facts(session: Session, host: Host, timeout: float = 60) -> HostResult:
    try:
        conn = session.connection(host)
        done = conn.run(probes.script(), timeout=timeout)
    except Unreachable as exc:
        return HostResult(host.name, Status.UNREACHABLE, str(exc))
    except TimeoutError as exc:
        return HostResult(host.name, Status.UNREACHABLE, str(exc))
    try:
        facts = facts_from_output(done.text, host.vars.get("fleet_arch"))
    except UnknownVariant as exc:
        return HostResult(host.name, Status.FAILED, f"fleet_arch: {exc}")
    status = Status.OK if facts["variant"] else Status.FAILED
    return HostResult(host.name, status, facts["variant_reason"], facts)
