"""The one host-name validator (fleet/names.py), as data (tests/unit/data), and
fleet's own variables (fleet/variables.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from fleet import variables
from fleet.errors import FleetError
from fleet.names import BadHostName, group_problem, shown, validate_host, validate_port

CASES = YAML(typ="safe").load((Path(__file__).parent / "data/host_name_cases.yaml").read_text())


@pytest.mark.parametrize(("name", "kept"), CASES["good"].items(), ids=repr)
def test_good_names_are_kept_as_written(name, kept):
    assert validate_host(name) == kept


@pytest.mark.parametrize(("name", "reason"), CASES["bad"].items(), ids=repr)
def test_hostile_names_are_refused_and_shown_safely(name, reason):
    with pytest.raises(BadHostName, match=reason) as caught:
        validate_host(name)
    message = str(caught.value)
    assert "\n" not in message and "\x1b" not in message and "\x00" not in message
    assert repr(name)[:40] in message
    assert isinstance(caught.value, FleetError) and caught.value.exit_code == 1


def _name_of_length(length: int) -> str:
    labels, left = [], length
    while left > 0:
        size = min(63, left)
        labels.append("a" * size)
        left -= size + 1
    name = ".".join(labels)
    return name[:length]


def test_a_name_is_at_most_253_characters():
    longest = _name_of_length(253)
    assert len(longest) == 253 and validate_host(longest) == longest
    with pytest.raises(BadHostName, match="longer than 253"):
        validate_host(_name_of_length(254))


def test_a_long_refused_name_is_cut_in_the_message():
    with pytest.raises(BadHostName) as caught:
        validate_host("a," * 10_000)
    assert len(str(caught.value)) < 200 and "20000 characters" in str(caught.value)
    assert shown("x" * 61).endswith("(61 characters)")


@pytest.mark.parametrize("value", [None, 5, b"robot.local", ["robot.local"]], ids=repr)
def test_a_name_that_is_not_text_is_refused(value):
    with pytest.raises(BadHostName, match="is text"):
        validate_host(value)


@pytest.mark.parametrize(("value", "port"), [(22, 22), ("2222", 2222), (65535, 65535)])
def test_good_ports(value, port):
    assert validate_port(value) == port


@pytest.mark.parametrize("value", [0, 65536, -1, "22a", "", True, 22.0, "٢٢", None, "1" * 50])
def test_bad_ports(value):
    with pytest.raises(BadHostName, match="1 to 65535"):
        validate_port(value)


@pytest.mark.parametrize(
    ("name", "good"),
    [("lab", True), ("room-101", True), ("site.a", True), ("_x", True), ("9lives", True)]
    + [(n, False) for n in ("", "a b", "a,b", "a:b", "!a", "~a", "a*", "a[0]", "-a", ".a")]
    + [("a\x1b[31m", False), ("a\n", False), ("é", False), (5, False)],
)
def test_group_names(name, good):
    assert (group_problem(name) is None) == good


@pytest.mark.parametrize(
    ("name", "value", "good"),
    [
        ("fleet_arch", "arm32v7", True),
        ("fleet_arch", "aarch64", True),
        ("fleet_arch", "armv9", False),
        ("fleet_arch", 7, False),
        ("fleet_docker_host", "tcp://{host}:2375", True),
        ("fleet_docker_host", "http://x", False),
        ("fleet_registry_accounts", {"docker.io": "course"}, True),
        ("fleet_registry_accounts", ["docker.io"], False),
        ("fleet_registries", {"docker.io": "course"}, True),
        ("fleet_registries", {"docker.io": 5}, False),
        ("fleet_images", ["a:b", {"ref": "c:d", "keep": 1}], True),
        ("fleet_images", "a:b", False),
        ("fleet_images", [{"keep": 1}], False),
        ("fleet_serial", 5, True),
        ("fleet_serial", "25%", True),
        ("fleet_serial", "100%", True),
        ("fleet_serial", "101%", False),
        ("fleet_serial", 0, False),
        ("fleet_serial", True, False),
        ("fleet_serial", "0%", False),
        ("fleet_delivery", "cache", True),
        ("fleet_delivery", "carrier pigeon", False),
        ("fleet_lab_profile", "rpi4-32", True),
        ("fleet_something_else", object(), True),  # unknown names are the typo check's
    ],
)
def test_fleet_variables_check_their_values(name, value, good):
    assert (variables.problem(name, value) is None) == good


def test_every_fleet_variable_says_what_it_means():
    assert set(variables.VARIABLES) == {
        "fleet_arch",
        "fleet_docker_host",
        "fleet_registry_accounts",
        "fleet_registries",
        "fleet_images",
        "fleet_serial",
        "fleet_delivery",
        "fleet_lab_profile",
    }
    assert [v.name for v in variables.VARIABLES.values() if not v.read] == ["fleet_lab_profile"]
    for variable in variables.VARIABLES.values():
        assert variable.meaning and "\n" not in variable.meaning
