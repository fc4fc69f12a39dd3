"""Reading Ansible YAML inventories: one file, or every *.yml / *.yaml file of a directory."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from fleet.errors import FleetError
from fleet.inventory.model import Inventory
from fleet.inventory.ranges import RangeError, expand

GROUP_KEYS = ("hosts", "vars", "children")
# Every variable of fleet's own; a `fleet_` name outside this list is probably a typo.
FLEET_VARS = (
    "fleet_arch",
    "fleet_docker_host",
    "fleet_registry_accounts",
    "fleet_registries",
    "fleet_images",
    "fleet_serial",
    "fleet_lab_profile",
)


class InventoryError(FleetError):
    """Bad inventory input: the message names the file, the line and the key."""


@dataclass
class Loaded:
    inventory: Inventory
    warnings: list[str] = field(default_factory=list)
    sources: list[Path] = field(default_factory=list)


def inventory_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(
            p
            for p in path.iterdir()
            if p.suffix in (".yml", ".yaml") and not p.name.startswith(".") and p.is_file()
        )
        if not files:
            raise InventoryError(f"{path}: no *.yml or *.yaml inventory files in this directory")
        return files
    if not path.exists():
        raise InventoryError(f"{path}: no such inventory file or directory")
    return [path]


def load(path: Path) -> Loaded:
    loaded = Loaded(Inventory())
    for file in inventory_files(path):
        _load_file(file, loaded)
        loaded.sources.append(file)
    _check_names(loaded.inventory)
    return loaded


def load_text(text: str, name: str = "<inventory>") -> Loaded:
    """Parse inventory YAML held in memory (tests, `-H` built inventories)."""
    loaded = Loaded(Inventory())
    _parse(text, Path(name), loaded)
    _check_names(loaded.inventory)
    return loaded


def _load_file(file: Path, loaded: Loaded) -> None:
    try:
        text = file.read_text()
    except OSError as exc:
        raise InventoryError(f"{file}: cannot read it ({exc.strerror})") from None
    _parse(text, file, loaded)


def _parse(text: str, file: Path, loaded: Loaded) -> None:
    try:
        document = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{file}:{mark.line + 1}" if mark else str(file)
        raise InventoryError(f"{where}: YAML syntax error: {exc.problem or exc.context}") from None
    except YAMLError as exc:
        raise InventoryError(f"{file}: YAML error: {exc}") from None
    if document is None:
        return
    if not isinstance(document, CommentedMap):
        raise InventoryError(f"{file}:1: an inventory is a mapping of groups (e.g. `all:`)")
    reader = _Reader(file, loaded)
    for name in document:
        reader.group(str(name), document[name], document, name, parent=None)


class _Reader:
    def __init__(self, file: Path, loaded: Loaded) -> None:
        self.file = file
        self.loaded = loaded
        self.inventory = loaded.inventory

    def where(self, mapping: Any, key: Any) -> str:
        try:
            line = mapping.lc.key(key)[0] + 1
        except (AttributeError, KeyError, TypeError):
            return str(self.file)
        return f"{self.file}:{line}"

    def fail(self, mapping: Any, key: Any, message: str) -> InventoryError:
        return InventoryError(f"{self.where(mapping, key)}: {message}")

    def group(self, name: str, body: Any, owner: Any, key: Any, parent: str | None) -> None:
        if parent is not None:
            self.inventory.link(parent, name)
        else:
            self.inventory.group(name)
        if body is None:
            return
        if not isinstance(body, CommentedMap):
            raise self.fail(
                owner, key, f"group {name!r} must be a mapping of {', '.join(GROUP_KEYS)}"
            )
        for section in body:
            if section not in GROUP_KEYS:
                hint = _closest(str(section), GROUP_KEYS)
                raise self.fail(
                    body,
                    section,
                    f"unknown key {section!r} in group {name!r}{hint}; "
                    f"a group holds {', '.join(GROUP_KEYS)}",
                )
        self.group_vars(name, body)
        self.hosts(name, body)
        children = body.get("children")
        if children is not None:
            if not isinstance(children, CommentedMap):
                raise self.fail(
                    body, "children", f"children of {name!r} must be a mapping of groups"
                )
            for child in children:
                self.group(str(child), children[child], children, child, parent=name)

    def group_vars(self, name: str, body: CommentedMap) -> None:
        values = body.get("vars")
        if values is None:
            return
        if not isinstance(values, CommentedMap):
            raise self.fail(body, "vars", f"vars of {name!r} must be a mapping")
        self.check_vars(values)
        self.inventory.group(name).vars.update(_plain(values))

    def hosts(self, group: str, body: CommentedMap) -> None:
        hosts = body.get("hosts")
        if hosts is None:
            return
        if isinstance(hosts, CommentedSeq):
            raise self.fail(
                body, "hosts", f"hosts of {group!r} must be a mapping (`name:` lines), not a list"
            )
        if not isinstance(hosts, CommentedMap):
            raise self.fail(body, "hosts", f"hosts of {group!r} must be a mapping")
        for pattern in hosts:
            values = hosts[pattern]
            if values is not None and not isinstance(values, CommentedMap):
                raise self.fail(hosts, pattern, f"variables of host {pattern!r} must be a mapping")
            if values is not None:
                self.check_vars(values)
            try:
                names = expand(str(pattern))
            except RangeError as exc:
                raise self.fail(hosts, pattern, str(exc)) from None
            for host in names:
                self.inventory.add_host(host, group, _plain(values) if values else None)

    def check_vars(self, values: CommentedMap) -> None:
        for key in values:
            name = str(key)
            if name.startswith("fleet_") and name not in FLEET_VARS:
                hint = _closest(name, FLEET_VARS)
                self.loaded.warnings.append(
                    f"{self.where(values, key)}: unknown fleet variable {name!r}{hint}"
                )


def _closest(word: str, choices: tuple[str, ...]) -> str:
    match = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _check_names(inventory: Inventory) -> None:
    clashes = [h for h in inventory.host_vars if h in inventory.groups]
    if clashes:
        raise InventoryError(
            f"{clashes[0]!r} is both a host and a group; a name must be one or the other"
        )
    try:
        inventory.depths()
    except ValueError as exc:
        raise InventoryError(str(exc)) from None
