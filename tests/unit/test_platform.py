from pathlib import Path

import pytest
from ruamel.yaml import YAML

from fleet.platform import VARIANTS, UnknownVariant, choose_variant, normalise_variant

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
