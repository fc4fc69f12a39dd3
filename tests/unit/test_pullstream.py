"""Pull streams the lab's robots really sent, replayed: progress, digest, in-stream errors."""

import json
import threading
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from fleet.platform import VARIANTS
from fleet.pullstream import PullProgress
from fleet.reference import parse
from fleet.tasks import images

DATA = Path(__file__).parent / "data"
CASES = YAML(typ="safe").load((DATA / "pullstream_cases.yaml").read_text())


def messages(name):
    return [json.loads(line) for line in (DATA / "pullstreams" / name).read_text().splitlines()]


def fed(name):
    progress, seen = PullProgress(), []
    for message in messages(name):
        progress.feed(message)
        seen.append(progress.counts())
        if progress.error:
            break
    return progress, seen


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["stream"])
def test_what_a_recorded_stream_says(case):
    progress, _ = fed(case["stream"])
    assert progress.digest == case["digest"]
    assert progress.up_to_date == case["up_to_date"]
    assert progress.error == case["error"]
    if "counts" in case:
        assert progress.counts() == case["counts"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["stream"])
def test_progress_never_goes_back(case):
    _, seen = fed(case["stream"])
    for before, after in zip(seen, seen[1:], strict=False):
        assert after["bytes_done"] >= before["bytes_done"]
        assert after["layers_done"] >= before["layers_done"]
        assert after["bytes_done"] <= after["bytes_total"]


def test_a_dropped_registry_is_a_transient_fault():
    progress, _ = fed("payload-v1-registry-stopped.jsonl")
    assert images.classify(progress.error) == "transient"


class _Replay:
    """An Engine API client whose pull replays a recorded stream."""

    def __init__(self, name):
        self.name = name
        self.asked = None

    def pull(self, repository, **kwargs):
        self.asked = (repository, kwargs)
        return iter(messages(self.name))


def _stream_pull(name, **progress):
    reports = []
    client = _Replay(name)
    ref = parse("198.18.0.1:5000/demo/payload:v1")
    result = images.stream_pull(
        client, ref, VARIANTS["arm32v7"], None, PullProgress(**progress), reports.append
    )
    return result, reports, client


def test_a_replayed_pull_asks_for_the_platform_and_reports_progress_sparingly(monkeypatch):
    monkeypatch.setattr(images, "PROGRESS_EVERY", 60.0)
    progress, reports, client = _stream_pull("payload-v1-cold.jsonl")
    assert client.asked[0] == "198.18.0.1:5000/demo/payload"
    assert client.asked[1]["platform"] == "linux/arm/v7"
    assert progress.digest.startswith("sha256:b5fb21be")
    # 201 messages within one PROGRESS_EVERY: one report, not 201
    assert len(reports) == 1


def layer_sizes(stream):
    """Layer id -> size, as the stream announces them while downloading."""
    return {
        m["id"]: m["progressDetail"]["total"]
        for m in stream
        if (m.get("progressDetail") or {}).get("total")
    }


def test_with_the_manifest_the_total_is_known_from_the_first_report(monkeypatch):
    monkeypatch.setattr(images, "PROGRESS_EVERY", 0.0)
    cold = [
        m for m in messages("payload-v1-cold.jsonl") if m.get("progressDetail", {}).get("total")
    ]
    sizes = {m["id"]: m["progressDetail"]["total"] for m in cold}
    _, reports, _ = _stream_pull("payload-v1-cold.jsonl", expected=sizes)
    assert {r["bytes_total"] for r in reports} == {sum(sizes.values())}
    assert reports[-1]["bytes_done"] == sum(sizes.values())


def test_layers_the_robot_already_holds_leave_the_total():
    stream = messages("payload-v2-after-v1.jsonl")
    existing = {m["id"] for m in stream if m.get("status") == "Already exists"}
    new = {
        m["id"]: m["progressDetail"]["total"]
        for m in stream
        if m.get("progressDetail", {}).get("total")
    }
    expected = {**dict.fromkeys(existing, 10_000_000), **new}
    progress = PullProgress(expected=expected)
    for message in stream:
        progress.feed(message)
    assert progress.counts()["bytes_total"] == sum(new.values())


def test_an_error_inside_the_stream_fails_the_pull_with_the_daemons_words():
    with pytest.raises(images.ImageError, match="connection refused"):
        _stream_pull("payload-v1-registry-stopped.jsonl")


def test_the_registry_is_asked_a_digests_platform_once_per_run(monkeypatch):
    asked = []

    def manifest_platform(registry, repository, digest, credential, ca_cert=None):
        asked.append(digest)
        if digest == "sha256:flaky" and asked.count(digest) == 1:
            raise images.Unverifiable("connection reset")
        return {"os": "linux", "architecture": "amd64", "variant": None}

    monkeypatch.setattr(images, "manifest_platform", manifest_platform)
    known = images.ImagePlatforms()
    ref = parse("198.18.0.1:5000/duckietown/dt-core:daffy-amd64")
    robots = [threading.Thread(target=known.of, args=(ref, "sha256:a", None)) for _ in range(8)]
    for robot in robots:
        robot.start()
    for robot in robots:
        robot.join()
    assert known.of(ref, "sha256:b", None).architecture == "amd64"
    assert asked == ["sha256:a", "sha256:b"]
    # A failure is not remembered: the next robot asks again.
    assert "connection reset" in known.of(ref, "sha256:flaky", None)
    assert known.of(ref, "sha256:flaky", None).architecture == "amd64"
