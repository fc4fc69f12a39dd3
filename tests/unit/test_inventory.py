"""Inventory loading, ranges, precedence and patterns, as data (tests/unit/data)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from fleet.inventory import load, patterns
from fleet.inventory.ranges import RangeError, expand
from tests.unit.tools import write_inventory_case

DATA = Path(__file__).parent / "data"
CASES = YAML(typ="safe").load((DATA / "inventory_cases.yaml").read_text())


def _select_cases():
    for case in CASES:
        for pattern, expected in (case.get("select") or {}).items():
            yield pytest.param(case, str(pattern), expected, id=f"{case['name']}|{pattern}")


def _var_cases():
    for case in CASES:
        for host, expected in (case.get("vars") or {}).items():
            yield pytest.param(case, host, expected, id=f"{case['name']}|{host}")


@pytest.mark.parametrize(("case", "pattern", "expected"), list(_select_cases()))
def test_patterns(tmp_path, case, pattern, expected):
    inventory = load.load(write_inventory_case(tmp_path, case)).inventory
    if isinstance(expected, str):
        with pytest.raises(patterns.PatternError, match=re.escape(expected)):
            patterns.select(inventory, pattern)
    else:
        assert patterns.select(inventory, pattern) == expected


@pytest.mark.parametrize(("case", "host", "expected"), list(_var_cases()))
def test_variable_precedence(tmp_path, case, host, expected):
    inventory = load.load(write_inventory_case(tmp_path, case)).inventory
    assert dict(inventory.host(host).vars) == expected


def test_retry_file_pattern(tmp_path):
    inventory = load.load_text("all:\n  hosts:\n    a:\n    b:\n    c:\n").inventory
    retry = tmp_path / "fleet.retry"
    retry.write_text("c\n# a comment\na\n")
    assert patterns.select(inventory, f"@{retry}") == ["a", "c"]
    with pytest.raises(patterns.PatternError, match="cannot read the retry file"):
        patterns.select(inventory, f"@{tmp_path / 'missing'}")


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("robot[01:03].local", ["robot01.local", "robot02.local", "robot03.local"]),
        ("bot[a:c]", ["bota", "botb", "botc"]),
        ("n[8:11]", ["n8", "n9", "n10", "n11"]),
        ("n[0:10:5]", ["n0", "n5", "n10"]),
        ("r[1:2]-[a:b]", ["r1-a", "r1-b", "r2-a", "r2-b"]),
        ("plain.local", ["plain.local"]),
    ],
)
def test_ranges(pattern, expected):
    assert expand(pattern) == expected


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("r[05:01]", "starts after it ends"),
        ("r[1:a]", "numbers"),
        ("r[01:100]", "one width"),
        ("r[1:]", "START:END"),
        ("r[1:3:0]", "at least 1"),
        ("r[1:3", "unbalanced"),
        ("r[aa:bb]", "single letters"),
    ],
)
def test_bad_ranges(pattern, message):
    with pytest.raises(RangeError, match=message):
        expand(pattern)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("all:\n  hosts:\n    a: b: c\n", r"<inventory>:3: YAML syntax error"),
        (
            "all:\n  host:\n    a:\n",
            r"<inventory>:2: unknown key 'host' in group 'all' \(did you mean 'hosts'\?\)",
        ),
        ("all:\n  hosts:\n    - a\n", r"<inventory>:2: hosts of 'all' must be a mapping"),
        ("all:\n  hosts:\n    r[3:1]:\n", r"<inventory>:3: 'r\[3:1\]': the range starts after"),
        ("all:\n  hosts:\n    a: 5\n", r"<inventory>:3: variables of host 'a' must be a mapping"),
        ("all:\n  children:\n    a:\n  hosts:\n    a:\n", r"'a' is both a host and a group"),
        ("- a\n- b\n", r"<inventory>:1: an inventory is a mapping of groups"),
        ("g:\n  children:\n    h:\n      children:\n        g:\n", r"its own ancestor"),
        # values fleet knows are checked where they are written
        ("all:\n  hosts:\n    1:\n", r"<inventory>:3: host 1 is not text; put it in quotes"),
        ("all:\n  hosts:\n    a.local:0:\n", r"<inventory>:3: bad port '0'"),
        ("g:\n  vars:\n    ansible_group_priority: high\n", r"<inventory>:3: .*whole number"),
        ("all:\n  vars:\n    fleet_serial: 0\n", r"<inventory>:3: fleet_serial: a batch size"),
        ("all:\n  hosts:\n    r[0:10001]:\n", r"'r\[0:10001\]' stands for 10002 hosts"),
    ],
)
def test_bad_inventories_name_the_place(text, message):
    with pytest.raises(load.InventoryError, match=message):
        load.load_text(text)


def test_unknown_fleet_variable_is_a_warning_with_the_closest_name():
    loaded = load.load_text("all:\n  vars:\n    fleet_ach: arm32v7\n    fleet_arch: arm64v8\n")
    assert loaded.warnings == [
        "<inventory>:3: unknown fleet variable 'fleet_ach' (did you mean 'fleet_arch'?)"
    ]


def test_a_directory_merges_its_yaml_files_in_name_order(tmp_path):
    (tmp_path / "b.yaml").write_text(
        "all:\n  vars: {x: b}\n  children:\n    g:\n      hosts: {two: }\n"
    )
    (tmp_path / "a.yml").write_text(
        "all:\n  vars: {x: a, y: a}\n  children:\n    g:\n      hosts: {one: }\n"
    )
    (tmp_path / "notes.txt").write_text("not an inventory")
    loaded = load.load(tmp_path)
    assert patterns.select(loaded.inventory, "g") == ["one", "two"]
    assert dict(loaded.inventory.host("one").vars) == {"x": "b", "y": "a"}


def test_missing_inventory_is_a_clear_error(tmp_path):
    with pytest.raises(load.InventoryError, match="no such inventory"):
        load.load(tmp_path / "nope.yaml")
    with pytest.raises(load.InventoryError, match="no \\*.yml or \\*.yaml"):
        load.load(tmp_path)


def test_group_vars_files_are_checked_like_the_inventory(tmp_path):
    (tmp_path / "inventory.yaml").write_text("lab:\n  hosts:\n    robot01.local:\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "lab.yaml").write_text("x: 1\nfleet_serail: 5\n")
    loaded = load.load(tmp_path / "inventory.yaml")
    assert loaded.warnings == [
        f"{tmp_path}/group_vars/lab.yaml:2: unknown fleet variable 'fleet_serail' "
        "(did you mean 'fleet_serial'?)"
    ]
    (tmp_path / "group_vars" / "lab.yaml").write_text("x: 1\nfleet_arch: armv9\n")
    with pytest.raises(load.InventoryError, match=r"group_vars/lab.yaml:2: fleet_arch: unknown"):
        load.load(tmp_path / "inventory.yaml")
    (tmp_path / "group_vars" / "lab.yaml").write_text("ansible_host: 'a,b'\n")
    with pytest.raises(load.InventoryError, match=r"lab.yaml:1: ansible_host: bad ansible_host"):
        load.load(tmp_path / "inventory.yaml")
    (tmp_path / "group_vars" / "lab.yaml").write_text("- a list\n")
    with pytest.raises(load.InventoryError, match=r"lab.yaml:1: a vars file is a mapping"):
        load.load(tmp_path / "inventory.yaml")


def test_vaulted_values_are_never_decrypted_nor_shown():
    text = "all:\n  hosts:\n    a.local:\n      ansible_password: !vault |\n        $ANSIBLE\n"
    value = load.load_text(text).inventory.host("a.local").vars["ansible_password"]
    assert str(value) == "<vault>" and "ANSIBLE" not in repr(value)
