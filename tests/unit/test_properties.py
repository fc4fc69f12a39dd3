"""Property tests of the parsers that take outside input: whatever comes in ends in a
value or the module's own error (never another exception), quickly (hypothesis'
deadline), and every host name that comes out passes the validator."""

from __future__ import annotations

import json
import string
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fleet import reference
from fleet.credentials import dockerconfig
from fleet.discovery.records import DUCKIETOWN, SERVICE_TYPES, ServiceRecord, merge
from fleet.inventory import load, patterns, ranges
from fleet.names import BadHostName, host_problem, is_ip_address, validate_host, validate_port

# No example database: nothing is written outside the test's temporary directories.
PROPERTY = settings(
    database=None,
    max_examples=150,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Characters that mean something somewhere a name goes: YAML, known_hosts, patterns,
# ranges, terminals; and a few letters and digits so that some names are good.
HOSTILE = ",:[]!&~@*?|# \t\n\r\x1b\x00{}'\"\\%.-_/" + "ab01" + "é\u202e"
hostile_text = st.text(alphabet=HOSTILE + string.ascii_lowercase, max_size=40)
good_name = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9]{0,5}){0,2}", fullmatch=True)
host_key = st.one_of(
    good_name,
    hostile_text,
    st.builds(lambda n, p: f"{n}:{p}", good_name, st.integers(-5, 70_000)),
    st.builds(lambda n, a, b: f"{n}[{a}:{b}]", good_name, st.integers(0, 30), st.integers(0, 30)),
    st.sampled_from(["[::1]:2222", "fe80::1", "10.0.0.1:22", "r[a:C:2]", "r[:3]", "x[0:99999999]"]),
)
scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), hostile_text)
variables = st.dictionaries(
    st.one_of(hostile_text, st.sampled_from(["ansible_host", "ansible_port", "fleet_arch"])),
    st.recursive(scalar, lambda inner: st.lists(inner, max_size=3), max_leaves=6),
    max_size=4,
)


def _group(depth: int) -> st.SearchStrategy:
    body = {
        "hosts": st.none() | st.dictionaries(host_key, st.none() | variables, max_size=4),
        "vars": st.none() | variables,
    }
    if depth:
        body["children"] = st.none() | st.dictionaries(
            st.one_of(good_name, hostile_text), _group(depth - 1), max_size=2
        )
    return st.none() | st.fixed_dictionaries({}, optional=body)


inventories = st.dictionaries(
    st.one_of(st.just("all"), good_name, hostile_text), _group(2), min_size=1, max_size=3
)


def _assert_checked(loaded: load.Loaded) -> None:
    inventory = loaded.inventory
    for name in inventory.host_vars:
        assert validate_host(name) == name
        host = inventory.host(name)
        if "ansible_host" in host.vars:
            validate_host(host.vars["ansible_host"])
        if "ansible_port" in host.vars:
            validate_port(host.vars["ansible_port"])


@PROPERTY
@given(inventories)
def test_any_inventory_structure_loads_or_is_an_inventory_error(document):
    # JSON is YAML: the document as ansible-inventory would read it.
    try:
        loaded = load.load_text(json.dumps(document))
    except load.InventoryError as exc:
        assert "Traceback" not in str(exc) and "\n" not in str(exc)
        return
    _assert_checked(loaded)


@PROPERTY
@given(st.text(alphabet=HOSTILE + string.ascii_lowercase + "&*|>-\n ", max_size=200))
def test_any_text_loads_or_is_an_inventory_error(text):
    try:
        loaded = load.load_text(text)
    except load.InventoryError:
        return
    _assert_checked(loaded)


@PROPERTY
@given(st.lists(host_key, min_size=1, max_size=5))
def test_any_host_key_loads_or_names_its_line(keys):
    text = "all:\n  hosts:\n" + "".join(f"    {json.dumps(k)}:\n" for k in keys)
    try:
        loaded = load.load_text(text)
    except load.InventoryError as exc:
        assert str(exc).startswith("<inventory>:")
        return
    _assert_checked(loaded)


INVENTORY = load.load_text(
    "all:\n  hosts:\n    loner.local:\n  children:\n"
    "    lab:\n      hosts:\n        robot[01:05].local:\n"
    "      children:\n        bench:\n          hosts:\n            b1.local:\n"
    "    spare:\n      hosts:\n        robot05.local:\n        s1.local:\n"
).inventory
pattern_term = st.one_of(
    st.sampled_from(["all", "*", "lab", "bench", "spare", "ungrouped", "robot0*", "loner.local"]),
    st.builds(lambda g, i: f"{g}[{i}]", st.sampled_from(["lab", "all", "*"]), st.integers(-9, 9)),
    st.builds(
        lambda g, a, b: f"{g}[{a}:{b}]",
        st.sampled_from(["lab", "spare"]),
        st.integers(0, 9),
        st.sampled_from(["", "0", "3", "20"]),
    ),
    st.builds(lambda r: "~" + r, st.text(alphabet="rob0-9[]().*?+^$|\\", max_size=12)),
    hostile_text,
)
host_patterns = st.builds(
    lambda terms, seps: "".join(s + t for t, s in zip(terms, seps, strict=False)),
    st.lists(pattern_term, min_size=1, max_size=4),
    st.lists(st.sampled_from(["", ":", ",", ":!", ":&", ",!", ",&", "!", "&"]), min_size=4),
)


@PROPERTY
@given(host_patterns)
def test_any_pattern_selects_known_hosts_or_is_a_pattern_error(pattern):
    assume(not pattern.startswith("@"))
    try:
        chosen = patterns.select(INVENTORY, pattern)
    except patterns.PatternError:
        return
    assert chosen and set(chosen) <= set(INVENTORY.host_vars)
    assert chosen == [h for h in INVENTORY.host_vars if h in chosen]  # inventory order


@pytest.fixture(scope="module")
def retry_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("retry")


@PROPERTY
@given(st.lists(st.one_of(good_name, hostile_text, st.just("# a comment")), max_size=6))
def test_any_retry_file_selects_checked_names_or_is_a_pattern_error(retry_dir, lines):
    path = retry_dir / "last.retry"
    path.write_text("\n".join(lines))
    try:
        names = patterns.read_retry_file(str(path))
    except patterns.PatternError as exc:
        assert str(exc).startswith(f"@{path}:")
        return
    assert all(host_problem(n) is None for n in names)


range_body = st.one_of(
    st.builds(lambda a, b: f"{a}:{b}", st.integers(0, 120), st.integers(0, 120)),
    st.builds(
        lambda a, b, c: f"{a}:{b}:{c}", st.integers(0, 50), st.integers(0, 50), st.integers(-1, 7)
    ),
    st.builds(lambda a, b: f"{a}:{b}", st.sampled_from("aAzZ0"), st.sampled_from("bCzZ9")),
    st.sampled_from(["01:10", "001:100", ":3", "1:", "a:", "0:99999999", "1:2:3:4", ""]),
    st.text(alphabet="0123456789:abc[", max_size=8),
)


@PROPERTY
@given(st.lists(st.tuples(st.text(alphabet="ab.-", max_size=3), range_body), max_size=4))
def test_any_range_expands_to_its_count_or_is_a_range_error(pieces):
    pattern = "".join(f"{text}[{body}]" for text, body in pieces) + "x"
    try:
        names = ranges.expand(pattern)
    except ranges.RangeError:
        return
    assert len(names) == ranges.count(pattern) <= ranges.MAX_HOSTS
    assert not any("[" in n or "]" in n for n in names)


txt_value = st.one_of(
    st.none(),
    st.binary(max_size=64),
    st.just(b"x" * 10_000),
    # nested deeper than Python's json recurses, yet within MAX_TXT_BYTES
    st.builds(lambda n: b"[" * n + b"]" * n, st.integers(1100, 2048)),
    st.builds(lambda n: b"[" * n + b"{}" + b"]" * n, st.integers(1100, 2000)),
    st.builds(lambda v: json.dumps({"type": v}).encode(), hostile_text),
)
service_name = st.one_of(
    hostile_text,
    st.builds(lambda k, h: f"DT::{k}::{h}.{DUCKIETOWN}", hostile_text, hostile_text),
)
records = st.builds(
    ServiceRecord,
    type=st.sampled_from([*SERVICE_TYPES, "_other._tcp.local."]),
    name=service_name,
    server=st.none() | hostile_text | st.builds(lambda n: n + ".local.", good_name),
    addresses=st.lists(
        st.one_of(hostile_text, st.sampled_from(["192.0.2.1", "fe80::1%eth0"])), max_size=3
    ).map(tuple),
    port=st.none() | st.integers(0, 65535),
    # zeroconf shows a Duckietown TXT record (one JSON string) as a key without a value
    properties=st.one_of(
        st.dictionaries(st.binary(max_size=8), txt_value, max_size=3),
        st.dictionaries(txt_value.filter(lambda v: v is not None), st.none(), max_size=2),
    ),
)


# Well-formed Duckietown records, so that their TXT records are read: huge, nested, odd.
duckietown_records = st.builds(
    ServiceRecord,
    type=st.just(DUCKIETOWN),
    name=st.builds(
        lambda k, h: f"DT::{k}::{h}.{DUCKIETOWN}", st.sampled_from(["ROBOT_TYPE", "X"]), good_name
    ),
    server=st.none() | st.builds(lambda n: n + ".local.", good_name),
    port=st.just(0),
    properties=st.dictionaries(txt_value.filter(lambda v: v is not None), st.none(), max_size=2),
)


@PROPERTY
@given(st.one_of(st.lists(records, max_size=6), st.lists(duckietown_records, max_size=3)))
def test_any_mdns_records_merge_into_checked_robots(found):
    robots = merge(found)
    for robot in robots:
        assert validate_host(robot.hostname) == robot.hostname
        assert all(is_ip_address(a) for a in robot.addresses)
        json.dumps(robot.as_record(), default=str)
    assert [r.hostname for r in robots] == sorted({r.hostname for r in robots})


@PROPERTY
@given(st.text(alphabet=string.ascii_lowercase + "ABC0189./:@_-{}" + " \n", max_size=60))
def test_any_image_reference_parses_and_round_trips_or_is_refused(text):
    try:
        parsed = reference.parse(text)
    except reference.BadReference:
        return
    assert str(reference.parse(str(parsed))) == str(parsed)


references = st.builds(
    lambda registry, repo, tag: f"{registry}{repo}{tag}",
    st.sampled_from(["", "docker.io/", "localhost:5000/", "r.example/", "index.docker.io/"]),
    st.from_regex(r"[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+){0,2}", fullmatch=True),
    st.one_of(
        st.just(""),
        st.from_regex(r":[A-Za-z0-9_][A-Za-z0-9_.{}-]{0,130}", fullmatch=True),
        st.builds(lambda n: ":" + "t" * n, st.integers(110, 130)),
    ),
)


@PROPERTY
@given(references, st.sampled_from(["arm32v7", "arm64v8", "amd64"]), st.booleans())
def test_a_reference_for_a_robot_is_a_reference_docker_takes(text, variant, suffix):
    try:
        chosen = reference.for_robot(text, variant, suffix)
    except reference.BadReference:
        return
    assert str(reference.parse(str(chosen))) == str(chosen)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
configs = st.dictionaries(
    st.one_of(st.text(max_size=8), st.sampled_from(["auths", "credsStore", "credHelpers"])),
    json_values,
    max_size=4,
)
registry = st.sampled_from(["https://index.docker.io/v1/", "r.example", "localhost:5000"])


auth_entry = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "auth": st.sampled_from(["dTpz", "!!", "dTpz\n", "", 5, True, [1], {"a": 1}]),
            "username": json_values,
            "password": json_values,
        },
    ),
)


def _with_auths(config: dict, auths: dict) -> dict:
    return {**config, "auths": auths} if auths is not None else config


@PROPERTY
@given(
    configs,
    st.none() | st.dictionaries(registry | st.text(max_size=6), auth_entry, max_size=3),
    registry,
    st.text(max_size=10),
    st.text(max_size=10),
    st.sampled_from(["\t", "  ", "    "]),
)
def test_set_and_remove_auth_keep_every_other_key(config, auths, where, user, secret, indent):
    config = _with_auths(config, auths)
    text = json.dumps(config, indent=indent)
    if not isinstance(config.get("auths", {}), dict):
        with pytest.raises(dockerconfig.CorruptConfig):
            dockerconfig.set_auth(text, where, user, secret)
        return
    logged_in = dockerconfig.set_auth(text, where, user, secret)
    logged_out = dockerconfig.remove_auth(text, where)
    others = {k: v for k, v in config.items() if k != "auths"}
    kept = {k: v for k, v in config.get("auths", {}).items() if k != where}
    for edit in (logged_in, logged_out):
        result = json.loads(edit.text)
        assert {k: v for k, v in result.items() if k != "auths"} == others
        assert {k: v for k, v in result.get("auths", {}).items() if k != where} == kept
    entry = json.loads(logged_in.text)["auths"][where]
    assert dockerconfig.decode_auth(entry) == (user, secret) or ":" in user  # user:secret
    assert where not in json.loads(logged_out.text).get("auths", {})


@PROPERTY
@given(
    st.one_of(
        st.text(max_size=40),
        st.builds(lambda n: "[" * n + "]" * n, st.integers(900, 5000)),
        st.builds(lambda n: '{"auths": ' * n + "{}" + "}" * n, st.integers(900, 3000)),
    )
)
def test_any_config_text_parses_or_is_a_corrupt_config(text):
    try:
        dockerconfig.parse(text)
    except dockerconfig.CorruptConfig:
        pass


@PROPERTY
@given(st.text(max_size=30))
def test_the_validator_never_raises_anything_else(text):
    try:
        kept = validate_host(text)
    except BadHostName:
        return
    assert host_problem(kept) is None and kept.isascii() and kept.isprintable()
    assert not any(c in kept for c in ",[]*?!&~@ \n")
