"""Which robots a command acts on: `-i INVENTORY`, `-l PATTERN`, `-H HOSTS` (pure but for
reading the inventory)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fleet.errors import FleetError
from fleet.inventory import load, patterns
from fleet.inventory.model import Host, Inventory
from fleet.inventory.ranges import MAX_HOSTS, RangeError, count, expand
from fleet.names import BadHostName, validate_host

DEFAULT_INVENTORY = Path("inventory")


@dataclass(frozen=True)
class Targets:
    hosts: list[Host]
    warnings: list[str] = field(default_factory=list)


def adhoc_names(text: str) -> list[str]:
    """`a.local,robot[01:03].local` -> every name, ranges expanded, each checked,
    duplicates dropped; at most MAX_HOSTS in all, counted before any is made."""
    names: dict[str, None] = {}
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        total = sum(count(p) for p in parts)
        if total > MAX_HOSTS:
            raise FleetError(f"-H stands for {total} hosts; fleet takes at most {MAX_HOSTS}")
        for part in parts:
            names.update(dict.fromkeys(validate_host(n) for n in expand(part)))
    except (RangeError, BadHostName) as exc:
        raise FleetError(f"-H: {exc}") from None
    if not names:
        raise FleetError("-H: no host names given")
    return list(names)


def select_targets(inventory_path: Path | None, limit: str | None, hosts: str | None) -> Targets:
    """Hosts to act on. With -H, an inventory is read only when -i names one, to give the
    named hosts their variables; without -H, the inventory (default `inventory/`) is read
    and `-l` picks from it (default all)."""
    warnings: list[str] = []
    if hosts:
        inventory = Inventory()
        known = Inventory()
        if inventory_path is not None:
            loaded = load.load(inventory_path)
            known, warnings = loaded.inventory, loaded.warnings
        for name in adhoc_names(hosts):
            inventory.add_host(
                name, "all", known.host(name).vars if name in known.host_vars else {}
            )
        inventory.reconcile()
    else:
        path = inventory_path or DEFAULT_INVENTORY
        if inventory_path is None and not path.exists():
            raise FleetError(
                f"no inventory at {path}/: pass -i PATH, or -H HOST[,HOST...] for robots "
                "without one (fleet discover --save FILE writes an inventory)"
            )
        loaded = load.load(path)
        inventory, warnings = loaded.inventory, loaded.warnings
    names = patterns.select(inventory, limit) if limit else list(inventory.host_vars)
    if not names:
        raise FleetError("the inventory has no hosts")
    return Targets(inventory.hosts(names), warnings)
