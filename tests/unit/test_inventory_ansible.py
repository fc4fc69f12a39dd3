"""fleet reads every example inventory as Ansible does: same hosts, groups, variables
(group_vars/ and host_vars/ included), and patterns select the same hosts.

ansible-core is a test dependency; `ansible-inventory --list` and its InventoryManager are
the reference. Where fleet differs on purpose, the case says so (`ansible_differs`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from fleet.inventory import load, patterns
from tests.unit.tools import ansible_list, ansible_select, write_inventory_case

REPO = Path(__file__).resolve().parents[2]
CASES = YAML(typ="safe").load((Path(__file__).parent / "data/inventory_cases.yaml").read_text())


def _examples():
    for path in sorted((REPO / "inventory").glob("*.yaml")):
        yield pytest.param({"inventory": path.read_text()}, id=path.name)
    for case in CASES:
        yield pytest.param(case, id=case["name"])


@pytest.mark.parametrize("case", list(_examples()))
def test_same_hosts_groups_and_vars_as_ansible(tmp_path, case):
    path = write_inventory_case(tmp_path, case)
    listed = ansible_list(path)
    inventory = load.load(path).inventory

    ansible_vars = listed["_meta"]["hostvars"]
    assert sorted(inventory.host_vars) == sorted(
        {h for name, g in listed.items() if name != "_meta" for h in g.get("hosts", [])}
    )
    for host in inventory.host_vars:
        assert dict(inventory.host(host).vars) == ansible_vars.get(host, {}), host
    for name, group in listed.items():
        if name in ("_meta", "all"):
            continue
        ours = inventory.groups[name]
        assert group.get("hosts", []) == ours.hosts, name
        assert sorted(group.get("children", [])) == sorted(ours.children), name
    top_level = {g for g, parents in inventory.parents().items() if "all" in parents}
    assert set(listed["all"]["children"]) == top_level


def _select_cases():
    for case in CASES:
        chosen = {p: e for p, e in (case.get("select") or {}).items() if isinstance(e, list)}
        if chosen:
            yield pytest.param(case, chosen, id=case["name"])


@pytest.mark.parametrize(("case", "chosen"), list(_select_cases()))
def test_patterns_select_what_ansible_selects(tmp_path, case, chosen):
    """The same hosts; fleet lists them in inventory order, Ansible in the terms' order."""
    path = write_inventory_case(tmp_path, case)
    inventory = load.load(path).inventory
    theirs = ansible_select(path, list(chosen))
    for pattern in chosen:
        if pattern in (case.get("ansible_differs") or {}):
            continue
        assert sorted(patterns.select(inventory, pattern)) == sorted(theirs[pattern]), pattern
