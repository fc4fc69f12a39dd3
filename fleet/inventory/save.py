"""Adding discovered robots to an Ansible YAML inventory without disturbing it: the
user's comments, order and variables survive (ruamel.yaml's round trip)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from fleet.files import locked_update
from fleet.inventory.load import InventoryError, load_text
from fleet.names import BadHostName, group_problem, shown, validate_host, validate_port


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    return yaml


def merge_hosts(
    text: str, group: str, hosts: Mapping[str, Mapping[str, Any]]
) -> tuple[str, list[str]]:
    """Add `hosts` (name -> vars) under `group` (created under `all.children` if missing);
    hosts already anywhere in the inventory are left as they are. Returns the new text
    and the names added. Every name and address is checked first: nothing unchecked is
    written (a discovered name with a range or a newline would poison every later load)."""
    hosts = _checked(group, hosts)
    existing = load_text(text).inventory if text.strip() else None
    yaml = _yaml()
    document = yaml.load(text) if text.strip() else None
    if document is None:
        document = CommentedMap()
    if not isinstance(document, CommentedMap):
        raise InventoryError("the inventory is not a mapping of groups")
    added = [n for n in hosts if existing is None or n not in existing.host_vars]
    if not added:
        return text, []
    target = _find_group(document, group) or _create_group(document, group)
    if target.get("hosts") is None:
        target["hosts"] = CommentedMap()
    for name in added:
        target["hosts"][name] = CommentedMap(hosts[name]) if hosts[name] else None
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue(), added


def _checked(group: str, hosts: Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    problem = group_problem(group)
    if problem is not None:
        raise InventoryError(f"bad group name {shown(group)}: {problem}")
    checked: dict[str, Mapping[str, Any]] = {}
    try:
        for name, host_vars in hosts.items():
            if "ansible_host" in host_vars:
                validate_host(host_vars["ansible_host"], "ansible_host")
            if "ansible_port" in host_vars:
                validate_port(host_vars["ansible_port"], "ansible_port")
            checked[validate_host(name)] = host_vars
    except BadHostName as exc:
        raise InventoryError(f"not saved: {exc}") from None
    return checked


def _find_group(node: CommentedMap, group: str) -> CommentedMap | None:
    for name, body in node.items():
        if name == group:
            if body is None:
                node[name] = body = CommentedMap()
            return body
        children = body.get("children") if isinstance(body, CommentedMap) else None
        if isinstance(children, CommentedMap):
            found = _find_group(children, group)
            if found is not None:
                return found
    return None


def _create_group(document: CommentedMap, group: str) -> CommentedMap:
    all_group = document.get("all")
    if all_group is None:
        document["all"] = all_group = CommentedMap()
    if all_group.get("children") is None:
        all_group["children"] = CommentedMap()
    all_group["children"][group] = CommentedMap()
    return all_group["children"][group]


def save_hosts(path: Path, group: str, hosts: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Merge into the file (created if missing), replacing it atomically."""
    with locked_update(path) as update:  # a second `fleet discover --save` waits its turn
        new_text, added = merge_hosts(update.current or "", group, hosts)
        if added:
            update.write(new_text, mode=None if update.current is not None else 0o644)
    return added
