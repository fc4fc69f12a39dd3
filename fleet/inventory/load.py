"""Reading Ansible YAML inventories: one file, or every *.yml / *.yaml file of a directory,
with the group_vars/ and host_vars/ beside it (or inside the directory).

An inventory is outside input like any other: every host name is checked (after ranges
are expanded and a `:PORT` is split off), as are `ansible_host`, `ansible_port` and fleet's
own variables; a file is at most MAX_FILE_BYTES, and the values it holds once YAML
aliases are expanded at most MAX_VALUES (a "billion laughs" document fails at once).

Where fleet differs from ansible-core's YAML inventory plugin, on purpose: what Ansible
warns about and skips (a group that is not a mapping, a key other than hosts/vars/children)
is an error naming the file and line; a host name must pass fleet.names (Ansible also takes
non-ASCII names, `1234`, spaces); a `:PORT` must be 1-65535 (Ansible drops `:0` and takes
`:99999`); a group name is letters, digits, `_`, `-` and `.`; only *.yml and *.yaml files
of an inventory directory are read (Ansible tries every file with every plugin).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent

from fleet import become, variables
from fleet.errors import FleetError
from fleet.inventory.address import split_host_port
from fleet.inventory.model import Inventory
from fleet.inventory.ranges import RangeError, expand
from fleet.names import BadHostName, group_problem, shown, validate_host, validate_port

GROUP_KEYS = ("hosts", "vars", "children")
MAX_FILE_BYTES = 1 << 20  # an inventory of thousands of robots is a few hundred KiB
MAX_VALUES = 1_000_000  # scalars, mappings and lists of one file, aliases expanded
MAX_DEPTH = 100  # nesting of mappings and lists
MAX_FLOW_DEPTH = 32  # nesting of [ ] and { } (flow style)
MAX_HOSTS = 100_000  # host entries of one inventory, ranges expanded
VARS_EXTENSIONS = (".yml", ".yaml", ".json")  # Ansible's YAML_FILENAME_EXTENSIONS


class InventoryError(FleetError):
    """Bad inventory input: the message names the file, the line and the key."""


@dataclass(frozen=True)
class Vaulted:
    """An `!vault` value: fleet cannot decrypt it, and never shows it."""

    def __str__(self) -> str:
        return "<vault>"


@dataclass
class Loaded:
    inventory: Inventory
    warnings: list[str] = field(default_factory=list)
    sources: list[Path] = field(default_factory=list)
    host_entries: int = 0  # names added so far, ranges expanded (bounded by MAX_HOSTS)


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
        _parse(_read(file), file, loaded)
        loaded.sources.append(file)
    _check_names(loaded.inventory)
    # Ansible reads these beside the inventory source given with -i: the directory
    # itself, or the directory a file is in.
    _load_vars_dirs(path if path.is_dir() else path.parent, loaded)
    loaded.inventory.reconcile()
    return loaded


def load_text(text: str, name: str = "<inventory>") -> Loaded:
    """Parse inventory YAML held in memory (tests, `-H` built inventories)."""
    loaded = Loaded(Inventory())
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise InventoryError(f"{name}: larger than {MAX_FILE_BYTES} bytes")
    _parse(text, Path(name), loaded)
    _check_names(loaded.inventory)
    loaded.inventory.reconcile()
    return loaded


def _read(file: Path) -> str:
    try:
        with open(file, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InventoryError(f"{file}: cannot read it ({exc.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise InventoryError(
            f"{file}: larger than {MAX_FILE_BYTES} bytes; fleet reads no inventory file that big"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InventoryError(f"{file}: not UTF-8 text (byte {exc.start})") from None


def _document(text: str, file: Path) -> Any:
    try:
        _check_nesting(text, file)
        return YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{file}:{mark.line + 1}" if mark else str(file)
        raise InventoryError(f"{where}: YAML syntax error: {exc.problem or exc.context}") from None
    except YAMLError as exc:
        raise InventoryError(f"{file}: YAML error: {exc}") from None
    except RecursionError:
        raise InventoryError(f"{file}: YAML nested too deeply") from None


def _check_nesting(text: str, file: Path) -> None:
    """Refuse deep nesting before the document is built: ruamel's scanner spends time in
    proportion to the flow depth (`[[[[...`) on every token, so 1 MiB of brackets would
    take hours; and its composer recurses once per level. A first pass over the events
    stops at the first level too deep; it is skipped when the text has too few brackets
    to nest that deep in flow style (block style is bounded by its indentation)."""
    if text.count("[") + text.count("{") <= MAX_FLOW_DEPTH:
        return
    flow: list[bool] = []
    for event in YAML(typ="rt").parse(text):
        if isinstance(event, CollectionStartEvent):
            flow.append(bool(event.flow_style))
            if len(flow) > MAX_DEPTH or sum(flow) > MAX_FLOW_DEPTH:
                raise InventoryError(
                    f"{file}: YAML nested too deeply (more than {MAX_DEPTH} levels, "
                    f"or {MAX_FLOW_DEPTH} of [ ] and {{ }})"
                )
        elif isinstance(event, CollectionEndEvent):
            flow.pop()


def _parse(text: str, file: Path, loaded: Loaded) -> None:
    document = _document(text, file)
    if document is None:
        return
    if not isinstance(document, CommentedMap):
        raise InventoryError(f"{file}:1: an inventory is a mapping of groups (e.g. `all:`)")
    reader = _Reader(file, loaded)
    for name in document:
        reader.group(name, document[name], document, parent=None)


class _Reader:
    """One file's groups, hosts and variables into `loaded.inventory`."""

    def __init__(self, file: Path, loaded: Loaded) -> None:
        self.file = file
        self.loaded = loaded
        self.inventory = loaded.inventory
        self.plain = _Plain(file)

    def where(self, mapping: Any, key: Any) -> str:
        try:
            line = mapping.lc.key(key)[0] + 1
        except (AttributeError, KeyError, TypeError):
            return str(self.file)
        return f"{self.file}:{line}"

    def fail(self, mapping: Any, key: Any, message: str) -> InventoryError:
        return InventoryError(f"{self.where(mapping, key)}: {message}")

    def group(self, key: Any, body: Any, owner: CommentedMap, parent: str | None) -> None:
        problem = group_problem(key)
        if problem is not None:
            raise self.fail(owner, key, f"bad group name {shown(key)}: {problem}")
        name = str(key)
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
        # In the order written, as Ansible reads them: that order is the hosts' order.
        for section in body:
            if section not in GROUP_KEYS:
                hint = _closest(str(section), GROUP_KEYS)
                raise self.fail(
                    body,
                    section,
                    f"unknown key {shown(section)} in group {name!r}{hint}; "
                    f"a group holds {', '.join(GROUP_KEYS)}",
                )
            if section == "vars":
                self.group_vars(name, body)
            elif section == "hosts":
                self.hosts(name, body)
            else:
                self.children(name, body)

    def section(self, body: CommentedMap, key: str) -> Any:
        """A section's value; a single name written as text (`hosts: robot01.local`)
        stands for a mapping of that one name, as Ansible reads it."""
        value = body.get(key)
        if not isinstance(value, str):
            return value
        single = CommentedMap([(value, None)])
        try:
            single._yaml_set_kv_line_col(value, body.lc.key(key))  # noqa: SLF001 - keep file:line
        except (AttributeError, KeyError, TypeError):
            pass
        return single

    def children(self, name: str, body: CommentedMap) -> None:
        children = self.section(body, "children")
        if children is None:
            return
        if not isinstance(children, CommentedMap):
            raise self.fail(body, "children", f"children of {name!r} must be a mapping of groups")
        for child in children:
            self.group(child, children[child], children, parent=name)

    def group_vars(self, name: str, body: CommentedMap) -> None:
        values = self.section(body, "vars")
        if values is None:
            return
        if not isinstance(values, CommentedMap):
            raise self.fail(body, "vars", f"vars of {name!r} must be a mapping")
        self.inventory.group(name).vars.update(self.checked_vars(values))

    def hosts(self, group: str, body: CommentedMap) -> None:
        hosts = self.section(body, "hosts")
        if hosts is None:
            return
        if isinstance(hosts, CommentedSeq):
            raise self.fail(
                body, "hosts", f"hosts of {group!r} must be a mapping (`name:` lines), not a list"
            )
        if not isinstance(hosts, CommentedMap):
            raise self.fail(body, "hosts", f"hosts of {group!r} must be a mapping")
        for key in hosts:
            values = hosts[key]
            if values is not None and not isinstance(values, CommentedMap):
                raise self.fail(hosts, key, f"variables of host {shown(key)} must be a mapping")
            checked = self.checked_vars(values) if values is not None else {}
            names, port = self.host_names(hosts, key)
            for name in names:
                self.inventory.add_host(name, group, checked, port)

    def host_names(self, hosts: CommentedMap, key: Any) -> tuple[list[str], int | None]:
        """A key of `hosts:` -> its names (ranges expanded, each checked) and its port."""
        if not isinstance(key, str):
            # As Ansible: `1:` or `1.5:` is a number to YAML, not a name.
            raise self.fail(hosts, key, f"host {shown(key)} is not text; put it in quotes")
        pattern, port_text = split_host_port(key)
        try:
            names = expand(pattern)  # at most ranges.MAX_HOSTS, counted before made
            self.loaded.host_entries += len(names)
            if self.loaded.host_entries > MAX_HOSTS:
                raise self.fail(hosts, key, f"more than {MAX_HOSTS} hosts in one inventory")
            names = [validate_host(n) for n in names]
            port = validate_port(port_text) if port_text is not None else None
        except (RangeError, BadHostName) as exc:
            raise self.fail(hosts, key, str(exc)) from None
        return names, port

    def checked_vars(self, values: CommentedMap) -> dict[str, Any]:
        """Plain variables, each checked where fleet knows what it may hold."""
        checked = self.plain.value(values)
        for key in values:
            self.check_var(values, key, checked[str(key)])
        return checked

    def check_var(self, values: CommentedMap, key: Any, value: Any) -> None:
        name = str(key)
        if name.startswith("fleet_") and name not in variables.VARIABLES:
            hint = _closest(name, tuple(variables.VARIABLES))
            self.loaded.warnings.append(
                f"{self.where(values, key)}: unknown fleet variable {shown(name)}{hint}"
            )
        problem = _var_problem(name, value)
        if problem is not None:
            raise self.fail(values, key, f"{name}: {problem}")


def _var_problem(name: str, value: Any) -> str | None:
    try:
        if name == "ansible_host":
            validate_host(value, "ansible_host")
        elif name == "ansible_port":
            validate_port(value, "ansible_port")
    except BadHostName as exc:
        return str(exc)
    if name == "ansible_group_priority" and not _is_int(value):
        return "a whole number"
    problem = variables.problem(name, value) or become.variable_problem(name, value)
    return f"{problem} (not {shown(value)})" if problem else None


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (
        isinstance(value, str) and value.strip().lstrip("+-").isdigit() and len(value) < 10
    )


class _Plain:
    """ruamel's round-trip values as plain Python, counting every value made: an alias is
    one node in the document but a copy here, and nine levels of ten aliases are 10**9."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.left = MAX_VALUES

    def value(self, value: Any, depth: int = 0) -> Any:
        self.left -= 1
        if self.left < 0:
            raise InventoryError(
                f"{self.file}: more than {MAX_VALUES} values once YAML aliases are expanded "
                "(an alias bomb?); fleet stops reading here"
            )
        if depth > MAX_DEPTH:
            raise InventoryError(
                f"{self.file}: YAML nested too deeply (more than {MAX_DEPTH} levels)"
            )
        if isinstance(value, Mapping):
            return {str(k): self.value(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, depth + 1) for v in value]
        return _scalar(value)


def _scalar(value: Any) -> Any:
    """ruamel's scalar subclasses (kept for round trips) as the plain types they stand for."""
    if isinstance(value, TaggedScalar):
        return Vaulted() if str(value.tag.value) == "!vault" else str(value.value)
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


# -- group_vars/ and host_vars/ (Ansible's host_group_vars vars plugin) --


def _load_vars_dirs(base: Path, loaded: Loaded) -> None:
    inventory = loaded.inventory
    for name in inventory.groups:
        found = _vars_of(base / "group_vars", name, loaded)
        if found:
            inventory.group_file_vars[name] = found
    for name in inventory.host_vars:
        found = _vars_of(base / "host_vars", name, loaded)
        if found:
            inventory.host_file_vars[name] = found


def _vars_of(directory: Path, name: str, loaded: Loaded) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for file in vars_files(directory, name):
        merged.update(_vars_file(file, loaded))
        loaded.sources.append(file)
    return merged


def vars_files(directory: Path, name: str) -> list[Path]:
    """Ansible's DataLoader.find_vars_files: the first that exists of NAME (a file, or a
    directory of them), NAME.yml, NAME.yaml, NAME.json. Only names validated on entry come
    here (no `/`, no leading `.`), so none climbs out of `directory`."""
    for candidate in (name, *(name + ext for ext in VARS_EXTENSIONS)):
        path = directory / candidate
        if path.is_dir():
            return list(_dir_vars_files(path))
        if path.exists():
            return [path]
    return []


def _dir_vars_files(directory: Path) -> Iterator[Path]:
    """Files of a group_vars/NAME/ directory in name order, as Ansible lists them:
    sub-directories without an extension recursively; hidden and `~` backups skipped."""
    try:
        entries = sorted(os.listdir(directory))
    except OSError as exc:
        raise InventoryError(f"{directory}: cannot list it ({exc.strerror})") from None
    for entry in entries:
        if entry.startswith(".") or entry.endswith("~"):
            continue
        path = directory / entry
        extension = os.path.splitext(entry)[1]
        if path.is_dir() and not extension:
            yield from _dir_vars_files(path)
        elif path.is_file() and (not extension or extension in VARS_EXTENSIONS):
            yield path


def _vars_file(file: Path, loaded: Loaded) -> dict[str, Any]:
    document = _document(_read(file), file)
    if document is None:
        return {}
    if not isinstance(document, CommentedMap):
        raise InventoryError(f"{file}:1: a vars file is a mapping of variable names to values")
    return _Reader(file, loaded).checked_vars(document)


def _closest(word: str, choices: tuple[str, ...]) -> str:
    match = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


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
