"""Choosing hosts with Ansible's patterns (pure but for reading `@retryfile`).

As ansible-core's InventoryManager reads them: `all` or `*`, a group, a host, globs
(`robot0*`, matched whole), regexes (`~robot0[12]`, Python's re.match: anchored at the
start only), unions (`a,b`, or `a:b` when there is no comma), exclusions (`a:!b`),
intersections (`a:&b`), subscripts (`lab[0]`, `lab[-1]`, `lab[0:2]` inclusive, `lab[1:]`),
and `@FILE`. Unions are taken first, then intersections, then exclusions.

Where fleet differs, on purpose:
- the hosts chosen are listed in inventory order, not in the order of the terms;
- a term that matches nothing is an error (Ansible warns and goes on), and so is a `[`
  without its `]` (Ansible drops it: `~[` would be `~`, which matches every host);
- no implicit `localhost`: fleet reaches robots over SSH only;
- `@FILE` holds host names, one a line (fleet's retry file), not patterns, and may stand
  anywhere a pattern may; each line is checked as a host name.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable

from fleet.errors import FleetError
from fleet.inventory.address import split_host_port
from fleet.inventory.model import Inventory
from fleet.inventory.ranges import RangeError, expand
from fleet.names import BadHostName, host_problem, shown, validate_host

MAX_RETRY_FILE_BYTES = 1 << 20

# A pattern ending in a subscript: [N], [-N], [N:M], [N:] (and Ansible's old [N-M]).
_SUBSCRIPT = re.compile(r"(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]\Z", re.DOTALL)
# A term of a colon-separated pattern: no space, no ':' outside a bracketed expression.
_COLON_TERM = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")

ReadFile = Callable[[str], list[str]]


class PatternError(FleetError):
    pass


def split_pattern(pattern: str) -> list[str]:
    """`a:!b:&c` -> ["a", "!b", "&c"], as Ansible's split_host_pattern: commas when there is
    one; else the whole pattern when it is one host (an IPv6 address, a range); else
    colons outside brackets."""
    if pattern.startswith("@"):
        return [pattern]
    if "," in pattern:
        return [t.strip() for t in pattern.split(",") if t.strip()]
    if _is_one_host(pattern):
        return [pattern.strip()]
    terms = _COLON_TERM.findall(pattern)
    if _COLON_TERM.sub("", pattern).strip(" \t\n:"):
        raise PatternError(f"pattern {shown(pattern)}: a '[' or ']' without its partner")
    return terms


def _is_one_host(pattern: str) -> bool:
    """Whether Ansible's parse_address takes the whole pattern as a host (ranges allowed)."""
    host, _ = split_host_port(pattern.strip())
    try:
        names = expand(host, limit=1)
    except RangeError as exc:
        return "stands for" in str(exc)  # a valid range, just a large one
    return host_problem(names[0]) is None


def read_retry_file(path: str) -> list[str]:
    """Host names, one a line; `#` comments and blank lines skipped; each name checked."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_RETRY_FILE_BYTES + 1)
    except OSError as exc:
        raise PatternError(f"@{path}: cannot read the retry file ({exc.strerror})") from None
    if len(data) > MAX_RETRY_FILE_BYTES:
        raise PatternError(f"@{path}: larger than {MAX_RETRY_FILE_BYTES} bytes")
    names = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            names.append(validate_host(line))
        except BadHostName as exc:
            raise PatternError(f"@{path}:{number}: {exc}") from None
    return names


def split_subscript(term: str) -> tuple[str, tuple[int, int | None] | None]:
    """`lab[1:]` -> ("lab", (1, -1)); `lab[0]` -> ("lab", (0, None)); a regex has none."""
    if term.startswith("~"):
        return term, None
    match = _SUBSCRIPT.match(term)
    if not match:
        return term, None
    expr, index, start, _, end = match.groups()
    if index:
        return expr, (int(index), None)
    return expr, (int(start), int(end) if end else -1)


def apply_subscript(hosts: list[str], subscript: tuple[int, int | None] | None) -> list[str]:
    """Ansible's _apply_subscript: [N] is one host (from the end when negative), [N:M] the
    hosts N to M inclusive, [N:] from N on. A single index past the end is an IndexError."""
    if not hosts or subscript is None:
        return hosts
    start, end = subscript
    if end:
        if end == -1:
            end = len(hosts) - 1
        return hosts[start : end + 1]
    return [hosts[start]]


def _matcher(expr: str) -> Callable[[str], object]:
    try:
        regex = re.compile(expr[1:] if expr.startswith("~") else fnmatch.translate(expr))
    except (re.error, RecursionError, OverflowError) as exc:
        raise PatternError(f"bad regular expression in pattern {shown(expr)}: {exc}") from None
    return regex.match


def enumerate_matches(inventory: Inventory, expr: str) -> list[str]:
    """Ansible's _enumerate_matches: hosts of every group the expression matches; and,
    when no group does or it is a regex or a glob (or has a '.'), hosts it matches."""
    match = _matcher(expr)
    groups = [g for g in inventory.groups if match(g)]
    found = [h for g in groups for h in inventory.hosts_of(g)]
    if not groups or expr.startswith("~") or any(c in expr for c in ".?*["):
        found += [h for h in inventory.host_vars if match(h)]
    return found


def match_term(inventory: Inventory, term: str, read_file: ReadFile = read_retry_file) -> list[str]:
    """The hosts one term (without its `!` or `&`) stands for."""
    if term.startswith("@"):
        wanted = set(read_file(term[1:]))
        return [h for h in inventory.host_vars if h in wanted]
    if term in inventory.host_vars:
        return [term]
    expr, subscript = split_subscript(term)
    found = enumerate_matches(inventory, expr)
    try:
        chosen = apply_subscript(found, subscript)
    except IndexError:
        raise PatternError(f"no hosts matched the subscripted pattern {shown(term)}") from None
    return list(dict.fromkeys(chosen))


def select(inventory: Inventory, pattern: str, read_file: ReadFile = read_retry_file) -> list[str]:
    """Host names a pattern selects, in inventory order; an error when it selects none."""
    terms = split_pattern(pattern)
    if not terms:
        raise PatternError("empty host pattern")
    union: dict[str, None] = {}
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
                raise PatternError(
                    f"pattern {shown(term)} matches no host or group in the inventory"
                )
            union.update(dict.fromkeys(found))
    if not union and (intersections or exclusions):
        union = dict.fromkeys(inventory.host_vars)
    chosen = set(union) - exclusions
    chosen = {h for h in chosen if all(h in s for s in intersections)}
    if not chosen:
        raise PatternError(f"pattern {shown(pattern)} selects no hosts")
    return [h for h in inventory.host_vars if h in chosen]
