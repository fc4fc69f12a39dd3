"""Choosing hosts with Ansible's patterns (pure but for reading `@retryfile`).

`all` or `*`, a group, a host, globs (`robot0*`), regexes (`~robot0[12]`), unions
(`a:b` or `a,b`), exclusions (`a:!b`), intersections (`a:&b`) and `@FILE` (one host a line).
As in Ansible, unions are taken first, then intersections, then exclusions.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Callable
from pathlib import Path

from fleet.errors import FleetError
from fleet.inventory.model import Inventory


class PatternError(FleetError):
    pass


def split_pattern(pattern: str) -> list[str]:
    """`a:!b,&c` -> ["a", "!b", "&c"]. A ':' in brackets or an IPv6 address is kept."""
    if pattern.startswith("@") or _is_ip_address(pattern):
        return [pattern]
    terms, depth, current = [], 0, ""
    for char in pattern:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        if char in ",:" and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [t.strip() for t in terms if t.strip()]


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _read_retry_file(path: str) -> list[str]:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise PatternError(f"@{path}: cannot read the retry file ({exc.strerror})") from None
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def match_term(
    inventory: Inventory, term: str, read_file: Callable[[str], list[str]] = _read_retry_file
) -> list[str]:
    hosts = list(inventory.host_vars)
    if term.startswith("@"):
        wanted = read_file(term[1:])
        return [h for h in hosts if h in wanted]
    if term in ("all", "*"):
        return hosts
    if term == "ungrouped" and term not in inventory.groups:
        return inventory.ungrouped()
    if term in inventory.groups:
        return inventory.hosts_of(term)
    if term in inventory.host_vars:
        return [term]
    if term.startswith("~"):
        try:
            regex = re.compile(term[1:])
        except re.error as exc:
            raise PatternError(f"bad regular expression in pattern {term!r}: {exc}") from None
        found_groups = [g for g in inventory.groups if regex.match(g)]
        found_hosts = [h for h in hosts if regex.match(h)]
    elif any(c in term for c in "*?["):
        found_groups = [g for g in inventory.groups if fnmatch.fnmatchcase(g, term)]
        found_hosts = [h for h in hosts if fnmatch.fnmatchcase(h, term)]
    else:
        return []
    members = {h for g in found_groups for h in inventory.hosts_of(g)} | set(found_hosts)
    return [h for h in hosts if h in members]


def select(
    inventory: Inventory,
    pattern: str,
    read_file: Callable[[str], list[str]] = _read_retry_file,
) -> list[str]:
    """Host names a pattern selects, in inventory order; an error when it selects none."""
    terms = split_pattern(pattern)
    if not terms:
        raise PatternError("empty host pattern")
    union: list[str] = []
    intersections: list[set[str]] = []
    exclusions: set[str] = set()
    for term in terms:
        if term.startswith("!"):
            exclusions |= set(match_term(inventory, term[1:], read_file))
        elif term.startswith("&"):
            intersections.append(set(match_term(inventory, term[1:], read_file)))
        else:
            found = match_term(inventory, term, read_file)
            if not found:
                raise PatternError(f"pattern {term!r} matches no host or group in the inventory")
            union.extend(h for h in found if h not in union)
    if not union and (intersections or exclusions):
        union = list(inventory.host_vars)
    chosen = [h for h in union if all(h in s for s in intersections) and h not in exclusions]
    if not chosen:
        raise PatternError(f"pattern {pattern!r} selects no hosts")
    order = list(inventory.host_vars)
    return sorted(chosen, key=order.index)
