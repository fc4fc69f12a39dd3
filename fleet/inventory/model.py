"""An Ansible inventory as data: groups, hosts, and each host's variables resolved the way
Ansible resolves them (pure: no files here)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Group:
    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    # `hosts` as a set: membership tests stay cheap in a group of thousands.
    members: set[str] = field(default_factory=set, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.members.update(self.hosts)

    def add_host(self, name: str) -> None:
        if name not in self.members:
            self.members.add(name)
            self.hosts.append(name)

    def set_hosts(self, names: Iterable[str]) -> None:
        self.hosts[:] = list(dict.fromkeys(names))
        self.members = set(self.hosts)


@dataclass(frozen=True)
class Host:
    """One robot as a command sees it: its name and every variable that applies to it."""

    name: str
    vars: Mapping[str, Any]
    groups: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        return str(self.vars.get("ansible_host") or self.name)

    @property
    def user(self) -> str | None:
        user = self.vars.get("ansible_user")
        return str(user) if user is not None else None

    @property
    def port(self) -> int | None:
        port = self.vars.get("ansible_port")
        return int(port) if port is not None else None

    @property
    def key_file(self) -> str | None:
        key = self.vars.get("ansible_ssh_private_key_file")
        return str(key) if key is not None else None


@dataclass
class Inventory:
    """Groups and hosts as Ansible's InventoryData holds them: `all` and `ungrouped` always
    exist, and after `reconcile()` a host in no other group is in `ungrouped`."""

    groups: dict[str, Group] = field(
        default_factory=lambda: {
            "all": Group("all", children=["ungrouped"]),
            "ungrouped": Group("ungrouped"),
        }
    )
    host_vars: dict[str, dict[str, Any]] = field(default_factory=dict)  # in first-seen order
    # Variables from group_vars/ and host_vars/ beside the inventory (Ansible's
    # host_group_vars plugin): above the inventory's own group vars and host vars.
    group_file_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    host_file_vars: dict[str, dict[str, Any]] = field(default_factory=dict)

    def group(self, name: str) -> Group:
        if name not in self.groups:
            self.groups[name] = Group(name)
        return self.groups[name]

    def add_host(
        self, name: str, group: str, host_vars: Mapping[str, Any] | None, port: int | None = None
    ) -> None:
        """As Ansible's add_host: the port of a `name:port` key counts only where the host
        is first seen, and a host's own `ansible_port` overrides it."""
        if name not in self.host_vars:
            self.host_vars[name] = {"ansible_port": port} if port else {}
        self.host_vars[name].update(host_vars or {})
        self.group(group).add_host(name)

    def link(self, parent: str, child: str) -> None:
        children = self.group(parent).children
        if child not in children:
            children.append(child)
        self.group(child)

    def reconcile(self) -> None:
        """Ansible's reconcile_inventory: a host in no group but `all` is in `ungrouped`, and
        one that is in another group is not."""
        ungrouped = self.group("ungrouped")
        elsewhere = {
            h for g in self.groups.values() if g.name not in ("all", "ungrouped") for h in g.hosts
        }
        kept = [h for h in ungrouped.hosts if h not in elsewhere]
        ungrouped.set_hosts([*kept, *(h for h in self.host_vars if h not in elsewhere)])

    # -- the shape Ansible gives an inventory once it is loaded --

    def parents(self) -> dict[str, set[str]]:
        """Group -> its direct parents; a group nobody lists is a child of `all`."""
        parents: dict[str, set[str]] = {name: set() for name in self.groups}
        for group in self.groups.values():
            for child in group.children:
                parents[child].add(group.name)
        for name, found in parents.items():
            if name != "all" and not found:
                found.add("all")
        return parents

    def depths(self) -> dict[str, int]:
        """Longest distance from `all`: Ansible applies shallower groups' vars first."""
        parents = self.parents()
        memo: dict[str, int] = {"all": 0}

        def depth(name: str, seen: frozenset[str]) -> int:
            if name in memo:
                return memo[name]
            if name in seen:
                raise ValueError(f"group {name!r} is its own ancestor")
            memo[name] = 1 + max(depth(p, seen | {name}) for p in parents[name])
            return memo[name]

        for name in self.groups:
            depth(name, frozenset())
        return memo

    def descendants(self, name: str) -> list[str]:
        """The group, its children in the order written, then theirs (breadth first, as
        Ansible's get_descendants(preserve_ordering=True) walks them)."""
        found, todo = [name], [name]
        while todo:
            children = [c for g in todo for c in self.groups[g].children]
            todo = [c for c in dict.fromkeys(children) if c not in found]
            found.extend(todo)
        return found

    def hosts_of(self, group: str) -> list[str]:
        """Every host in a group or below it in Ansible's order (the group's own hosts,
        then each descendant's): the order `lab[0]` and `lab[1:]` count in."""
        found = (h for g in self.descendants(group) for h in self.groups[g].hosts)
        return list(dict.fromkeys(found))

    def groups_of(self, host: str) -> list[str]:
        direct = [g.name for g in self.groups.values() if host in g.members]
        parents = self.parents()
        found: list[str] = []
        todo = list(direct)
        while todo:
            current = todo.pop(0)
            if current not in found:
                found.append(current)
                todo.extend(sorted(parents[current]))
        if "all" not in found:
            found.append("all")
        return found

    def ungrouped(self) -> list[str]:
        grouped = {
            h for g in self.groups.values() if g.name not in ("all", "ungrouped") for h in g.hosts
        }
        return [h for h in self.host_vars if h not in grouped]

    def host(self, name: str) -> Host:
        """The host with its variables in Ansible's precedence (VARIABLE_PRECEDENCE's
        default): the inventory's group vars (`all`, then groups by depth, parents before
        children, then `ansible_group_priority`, then name), then group_vars/ files in the
        same order, then the inventory's host vars, then host_vars/ files."""
        depths = self.depths()
        groups = self.groups_of(name)

        def order(group: str) -> tuple[int, int, str]:
            priority = self.groups[group].vars.get("ansible_group_priority", 1)
            return depths[group], int(priority), group

        ordered = sorted(groups, key=order)
        resolved: dict[str, Any] = {}
        for group in ordered:
            resolved.update(self.groups[group].vars)
        # Ansible takes it as the group's priority, not as a variable.
        resolved.pop("ansible_group_priority", None)
        for group in ordered:
            resolved.update(self.group_file_vars.get(group, {}))
        resolved.update(self.host_vars[name])
        resolved.update(self.host_file_vars.get(name, {}))
        shown = tuple(g for g in ordered if g != "all")
        return Host(name=name, vars=resolved, groups=shown)

    def hosts(self, names: Iterable[str] | None = None) -> list[Host]:
        return [self.host(n) for n in (self.host_vars if names is None else names)]
