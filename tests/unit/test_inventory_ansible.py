"""fleet reads every example inventory as Ansible does: same hosts, groups and variables.

ansible-core is a test dependency; `ansible-inventory --list` is the reference."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from fleet.inventory import load
from tests.unit.tools import ansible_list

REPO = Path(__file__).resolve().parents[2]
CASES = YAML(typ="safe").load((Path(__file__).parent / "data/inventory_cases.yaml").read_text())


def _examples():
    for path in sorted((REPO / "inventory").glob("*.yaml")):
        yield pytest.param(path.read_text(), id=path.name)
    for case in CASES:
        yield pytest.param(case["inventory"], id=case["name"])


@pytest.mark.parametrize("text", list(_examples()))
def test_same_hosts_groups_and_vars_as_ansible(tmp_path, text):
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    listed = ansible_list(path)
    inventory = load.load(path).inventory

    ansible_vars = listed["_meta"]["hostvars"]
    assert sorted(inventory.host_vars) == sorted(
        {h for name, g in listed.items() if name != "_meta" for h in g.get("hosts", [])}
    )
    for host in inventory.host_vars:
        assert dict(inventory.host(host).vars) == ansible_vars.get(host, {}), host
    for name, group in listed.items():
        # Ansible files hosts written under `all` in `ungrouped`, compared below.
        if name in ("_meta", "all", "ungrouped"):
            continue
        ours = inventory.groups[name]
        assert sorted(group.get("hosts", [])) == sorted(ours.hosts), name
        assert sorted(group.get("children", [])) == sorted(ours.children), name
    top_level = {g for g, parents in inventory.parents().items() if "all" in parents}
    assert set(listed["all"]["children"]) - {"ungrouped"} == top_level
    assert sorted(listed.get("ungrouped", {}).get("hosts", [])) == sorted(inventory.ungrouped())
