"""The lab's sudo user (fleet.lab.users), as far as it can be checked without a lab."""

from fleet.lab.users import sudo_user_script


def test_the_password_is_not_in_the_script_and_the_rule_wants_one():
    script = sudo_user_script("duckie", nopasswd=False)
    assert "duckie ALL=(ALL:ALL) ALL" in script
    assert "NOPASSWD" not in script
    assert "chpasswd" in script  # the password comes on its stdin
    assert "visudo -cq" in script


def test_nopasswd_rule():
    assert "duckie ALL=(ALL:ALL) NOPASSWD: ALL" in sudo_user_script("duckie", nopasswd=True)
