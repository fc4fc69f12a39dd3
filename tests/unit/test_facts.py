"""Fact parsers on real-shaped outputs (tests/unit/data): outputs in, facts out."""

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from fleet.facts import probes
from fleet.tasks.facts import facts_from_output

DATA = Path(__file__).parent / "data"
CASES = YAML(typ="safe").load((DATA / "facts_cases.yaml").read_text())
LAB_OUTPUTS = {
    "lab-amd64.txt": {
        "kernel_arch": "x86_64",
        "userland": {"dpkg": "amd64", "long_bit": 64},
        "variant": "amd64",
    },
    "lab-jetson-nano.txt": {
        "model": "NVIDIA Jetson Nano Developer Kit",
        "kernel_arch": "aarch64",
        "variant": "arm64v8",
    },
    "lab-raspberrypi3.txt": {
        "model": "Raspberry Pi 3 Model B Rev 1.2",
        "kernel_arch": "armv7l",
        "userland": {"dpkg": "armhf", "long_bit": 32},
        "variant": "arm32v7",
    },
    "lab-raspberrypi4-32.txt": {
        "model": "Raspberry Pi 4 Model B Rev 1.4",
        "kernel_arch": "aarch64",
        "variant": "arm32v7",
    },
}


def _check(facts, expect):
    for key, value in expect.items():
        if key == "reason_contains":
            assert value in facts["variant_reason"]
        elif key == "docker" and "error" in value:
            assert value["error"] in facts["docker"]["error"]
        else:
            assert facts[key] == value, key


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_parsed_facts(case):
    _check(facts_from_output(case["output"], None), case["expect"])


@pytest.mark.parametrize("name", sorted(LAB_OUTPUTS))
def test_outputs_captured_on_the_lab_robots(name):
    facts = facts_from_output((DATA / "facts" / name).read_text(), None)
    _check(facts, LAB_OUTPUTS[name])
    assert facts["docker"]["version"]
    assert facts["docker_disk"]["free_bytes"] > 0


def test_fleet_arch_overrides_the_daemon():
    facts = facts_from_output(CASES[0]["output"], "arm64v8")
    assert facts["variant"] == "arm64v8"
    assert "fleet_arch" in facts["variant_reason"]


def test_the_script_marks_every_probe_once():
    text = probes.script()
    for probe in probes.PROBES:
        assert text.count(f"@@fleet-fact %s\\n' {probe.name};") == 1


def test_a_probe_missing_from_the_output_is_none():
    assert probes.parse_all("\n@@fleet-fact kernel_arch\nx86_64\n")["model"] is None
