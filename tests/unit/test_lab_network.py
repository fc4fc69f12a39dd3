"""Removing lab links when the kernel removes them too (a race no test can time for real)."""

import subprocess

import pytest

from fleet.lab import network
from fleet.lab.sh import LabError


def _ip(exists_after_delete: bool, calls: list):
    state = {"exists": True}

    def run(args, check=True, **kwargs):
        calls.append(args[:3])
        if args[:3] == ["ip", "link", "show"]:
            return subprocess.CompletedProcess(args, 0 if state["exists"] else 1, b"", b"")
        state["exists"] = exists_after_delete  # the delete fails, as if the link had gone
        return subprocess.CompletedProcess(args, 1, b"", b'Cannot find device "flab014"')

    return run


def test_a_link_that_vanishes_before_its_delete_is_gone_not_an_error(monkeypatch):
    calls = []
    monkeypatch.setattr(network, "run", _ip(exists_after_delete=False, calls=calls))
    network.delete_link("flab014")
    assert ["ip", "link", "delete"] in calls


def test_a_link_that_stays_after_a_failed_delete_is_an_error(monkeypatch):
    monkeypatch.setattr(network, "run", _ip(exists_after_delete=True, calls=[]))
    with pytest.raises(LabError, match="flab014"):
        network.delete_link("flab014")
