import pytest

from fleet.lab import spec


def test_default_plan_is_three_native_robots():
    planned = spec.plan()
    assert [r.name for r in planned.robots] == ["robot01", "robot02", "robot03"]
    assert [r.address for r in planned.robots] == ["198.18.0.11", "198.18.0.12", "198.18.0.13"]
    assert {r.profile for r in planned.robots} == {"amd64"}
    assert not any(r.duckiebot for r in planned.robots)


def test_duckiebots_are_the_first_robots():
    planned = spec.plan(robots=4, duckiebots=2)
    assert [r.duckiebot for r in planned.robots] == [True, True, False, False]


def test_names_widen_past_99_robots():
    planned = spec.plan(robots=120, name_prefix="bot")
    assert planned.robots[0].name == "bot001"
    assert planned.robots[-1].name == "bot120"
    assert planned.robots[-1].veth == "flab120"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"robots": 0}, "1 to 200"),
        ({"robots": 201}, "1 to 200"),
        ({"robots": 2, "duckiebots": 3}, "has 2 robots"),
        ({"name_prefix": "Robot"}, "lowercase"),
        ({"name_prefix": "9bot"}, "starting with a letter"),
        ({"link_rate": "fast"}, "tc rate"),
        ({"link_rate": "50"}, "tc rate"),
        ({"robots": 3, "profiles": [("amd64", 2)]}, "disagrees"),
    ],
)
def test_bad_input_is_refused_with_a_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        spec.plan(**kwargs)


@pytest.mark.parametrize("rate", ["50mbit", "800kbit", "1gbit", "1.5mbit"])
def test_tc_rates_are_accepted(rate):
    assert spec.plan(link_rate=rate).link_rate == rate


def test_profile_counts():
    assert spec.parse_profile_counts(["amd64:2", "amd64"]) == [("amd64", 2), ("amd64", 1)]
    with pytest.raises(ValueError, match="unknown profile"):
        spec.parse_profile_counts(["pdp11"])
    with pytest.raises(ValueError, match="NAME\\[:COUNT\\]"):
        spec.parse_profile_counts(["amd64:two"])
    with pytest.raises(ValueError, match="at least 1"):
        spec.parse_profile_counts(["amd64:0"])


def test_spec_round_trips_through_its_saved_form():
    planned = spec.plan(robots=5, duckiebots=2, link_rate="50mbit", name_prefix="db")
    assert spec.LabSpec.from_dict(planned.to_dict()) == planned


def test_addresses_stay_in_the_benchmarking_range():
    planned = spec.plan(robots=spec.MAX_ROBOTS)
    for robot in planned.robots:
        assert robot.address.startswith("198.18.0.")
    assert len({r.address for r in planned.robots}) == spec.MAX_ROBOTS
    assert planned.bridge_address not in {r.address for r in planned.robots}
