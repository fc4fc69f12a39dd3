from pathlib import Path

import pytest
from ruamel.yaml import YAML

from fleet.reference import BadReference, check_template, for_robot, parse

CASES = YAML(typ="safe").load((Path(__file__).parent / "data/reference_cases.yaml").read_text())


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_parse(case):
    text, registry, repository, tag, digest, name = case
    ref = parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest, ref.name) == (
        registry,
        repository,
        tag,
        digest,
        name,
    )
    assert str(parse(str(ref))) == str(ref)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Ubuntu",
        "ubuntu:",
        "a b",
        "repo@sha256:xyz",
        "repo:tag:more",
        "-lead",
        "a//b",
        "reg.io:port/x",
        "ubuntu:-bad",
    ],
)
def test_invalid_references(text):
    with pytest.raises(BadReference):
        parse(text)


@pytest.mark.parametrize(
    ("template", "variant", "suffix", "expected"),
    [
        ("duckietown/dt-core:daffy-{arch}", "arm32v7", False, "duckietown/dt-core:daffy-arm32v7"),
        (
            "r.io:5000/duckietown/dt-core:daffy-{arch}",
            "arm64v8",
            False,
            "r.io:5000/duckietown/dt-core:daffy-arm64v8",
        ),
        ("duckietown/dt-core:daffy", "arm32v7", True, "duckietown/dt-core:daffy-arm32v7"),
        ("duckietown/dt-core", "amd64", True, "duckietown/dt-core:latest-amd64"),
        ("{arch}/ubuntu:22.04", "arm64v8", False, "arm64v8/ubuntu:22.04"),
        ("ubuntu:22.04", "amd64", False, "ubuntu:22.04"),
    ],
)
def test_per_robot_references(template, variant, suffix, expected):
    assert str(for_robot(template, variant, suffix)) == expected


def test_templates_are_checked_before_any_robot():
    with pytest.raises(BadReference, match="only placeholder"):
        check_template("dt-core:{variant}", False)
    with pytest.raises(BadReference, match="needs a tag"):
        check_template("ghcr.io/x@sha256:" + "0" * 64, True)
    check_template("duckietown/dt-core:daffy-{arch}", False)
