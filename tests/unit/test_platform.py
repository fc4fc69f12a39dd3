from pathlib import Path

import pytest
from ruamel.yaml import YAML

from fleet.platform import (
    VARIANTS,
    Platform,
    UnknownVariant,
    best_match,
    choose_variant,
    matches,
    normalise_variant,
)

CASES = YAML(typ="safe").load((Path(__file__).parent / "data/variant_cases.yaml").read_text())


@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: f"{c['daemon']}-{c['kernel']}-{c.get('override')}"
)
def test_variant_decision_table(case):
    choice = choose_variant(
        daemon_arch=case["daemon"], kernel_arch=case["kernel"], override=case.get("override")
    )
    assert choice.variant == case["variant"]
    assert case["reason"] in choice.reason
    assert choice.supported is (case["variant"] is not None)


def test_platforms_of_the_variants():
    assert str(VARIANTS["arm32v7"]) == "linux/arm/v7"
    assert str(VARIANTS["arm64v8"]) == "linux/arm64/v8"
    assert str(VARIANTS["amd64"]) == "linux/amd64"
    assert choose_variant(daemon_arch="arm", kernel_arch="aarch64").platform == VARIANTS["arm32v7"]


def test_unknown_override_is_refused():
    with pytest.raises(UnknownVariant, match="use one of arm32v7, arm64v8, amd64"):
        normalise_variant("armv6")


MATCH_CASES = YAML(typ="safe").load(
    (Path(__file__).parent / "data/platform_match_cases.yaml").read_text()
)


@pytest.mark.parametrize(
    "case", MATCH_CASES, ids=lambda c: f"{c['robot']}<-{','.join(c['offered'])}"
)
def test_an_index_entry_is_chosen_as_the_engine_chooses_it(case):
    robot = Platform.parse(case["robot"])
    offered = [Platform.parse(text) for text in case["offered"]]
    assert best_match(robot, offered) == case["pick"]
    for index, platform in enumerate(offered):
        if index == case["pick"]:
            assert matches(robot, platform)


def test_platforms_enter_from_registry_and_daemon_shapes_alike():
    registry = Platform.from_mapping({"os": "linux", "architecture": "arm", "variant": "v7"})
    daemon = Platform.from_mapping({"Os": "linux", "Architecture": "arm", "Variant": "v7"})
    assert registry == daemon == Platform("linux", "arm", "v7")
    assert Platform.from_mapping({"architecture": "x" * 1000}).architecture == "x" * 32
    assert Platform.from_mapping(None) == Platform("linux", "unknown")
