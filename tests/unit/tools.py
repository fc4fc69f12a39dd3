"""Test dependencies' own commands: where they are, and how the tests run them."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ANSIBLE_INVENTORY = shutil.which(
    "ansible-inventory", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
)


def _ansible_json(command: list[str], path: Path, stdin: str | None = None) -> Any:
    """Run one of ansible-core's commands on an inventory; its stdout, parsed as JSON."""
    env = {**os.environ, "ANSIBLE_LOCAL_TEMP": str(path.parent / "ansible-tmp")}
    env["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "true"
    done = subprocess.run(
        [*command, str(path)], input=stdin, capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def ansible_list(path: Path) -> dict:
    """What `ansible-inventory -i PATH --list` makes of an inventory file."""
    return _ansible_json([ANSIBLE_INVENTORY, "--list", "-i"], path)


_SELECT = """
import json, sys
from ansible.parsing.dataloader import DataLoader
from ansible.inventory.manager import InventoryManager
from ansible.errors import AnsibleError
inventory = InventoryManager(loader=DataLoader(), sources=[sys.argv[1]])
found = {}
for pattern in json.loads(sys.stdin.read()):
    try:
        found[pattern] = [h.name for h in inventory.get_hosts(pattern)]
    except AnsibleError as exc:
        found[pattern] = str(exc)
print(json.dumps(found))
"""


def ansible_select(path: Path, patterns: list[str]) -> dict[str, list[str] | str]:
    """Pattern -> the host names ansible-core's InventoryManager selects (in its order), or
    its error text; all patterns in one process (ansible takes a second to start)."""
    return _ansible_json([sys.executable, "-c", _SELECT], path, json.dumps(patterns))


def write_inventory_case(tmp_path: Path, case: dict) -> Path:
    """An inventory case (tests/unit/data/inventory_cases.yaml) on disk: its inventory as
    inventory.yaml, or as inv/hosts.yaml when `directory` is set, with its `files` (e.g.
    group_vars/lab.yaml) beside it; returns the path -i takes."""
    base = tmp_path / "inv" if case.get("directory") else tmp_path
    base.mkdir(exist_ok=True)
    name = "hosts.yaml" if case.get("directory") else "inventory.yaml"
    (base / name).write_text(case["inventory"])
    for relative, text in (case.get("files") or {}).items():
        path = base / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return base if case.get("directory") else base / name
