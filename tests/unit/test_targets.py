import pytest

from fleet.errors import FleetError
from fleet.targets import adhoc_names, select_targets


def test_adhoc_hosts_expand_ranges_and_drop_duplicates():
    assert adhoc_names("a.local,robot[01:03].local,a.local") == [
        "a.local",
        "robot01.local",
        "robot02.local",
        "robot03.local",
    ]


def test_adhoc_bad_range_is_a_usage_error():
    with pytest.raises(FleetError, match="-H: 'r\\[3:1\\]'"):
        adhoc_names("r[3:1]")


def test_adhoc_hosts_take_their_vars_from_an_inventory_given_with_i(tmp_path):
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        "all:\n  vars: {ansible_user: pi}\n  hosts:\n    a.local: {ansible_port: 2222}\n"
    )
    targets = select_targets(inv, None, "a.local,b.local")
    by_name = {h.name: h for h in targets.hosts}
    assert by_name["a.local"].port == 2222 and by_name["a.local"].user == "pi"
    assert by_name["b.local"].vars == {}


def test_limit_picks_from_the_inventory(tmp_path):
    inv = tmp_path / "inv.yaml"
    inv.write_text("g:\n  hosts:\n    a:\n    b:\nh:\n  hosts:\n    c:\n")
    assert [h.name for h in select_targets(inv, "g:!b", None).hosts] == ["a"]
    assert [h.name for h in select_targets(inv, None, None).hosts] == ["a", "b", "c"]


def test_no_inventory_anywhere_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FleetError, match="pass -i PATH, or -H"):
        select_targets(None, None, None)
