import gzip
import io
import json
import tarfile

import pytest

from fleet.lab import images


@pytest.fixture(scope="module")
def demo():
    refs, blobs = images.build_demo_images()
    return {(r.repository, r.tag): r for r in refs}, {b.digest: b for b in blobs}


def _json(blob):
    return json.loads(blob.data)


def _files(blob):
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob.data))) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_layers_are_byte_identical_every_build():
    files = {"etc/a": b"1", "opt/b/c": b"2"}
    assert images.layer(files).digest == images.layer(dict(reversed(files.items()))).digest


def test_every_reference_listed_is_built(demo):
    refs, _ = demo
    assert set(refs) == set(images.demo_references())


def test_dt_core_index_has_the_three_platforms(demo):
    refs, blobs = demo
    index = _json(refs[("duckietown/dt-core", "daffy")].top)
    platforms = {
        (m["platform"]["architecture"], m["platform"].get("variant")) for m in index["manifests"]
    }
    assert platforms == {("arm", "v7"), ("arm64", "v8"), ("amd64", None)}
    for entry in index["manifests"]:
        manifest = _json(blobs[entry["digest"]])
        assert len(manifest["layers"]) >= 3
        config = _json(blobs[manifest["config"]["digest"]])
        assert config["architecture"] == entry["platform"]["architecture"]
        marker = _files(blobs[manifest["layers"][0]["digest"]])["etc/fleet-demo-arch"]
        plat = entry["platform"]
        expected = "/".join(p for p in ("linux", plat["architecture"], plat.get("variant")) if p)
        assert marker.decode().strip() == expected


def test_single_platform_tags_are_plain_manifests(demo):
    refs, blobs = demo
    for suffix, arch in (("arm32v7", "arm"), ("arm64v8", "arm64"), ("amd64", "amd64")):
        manifest = _json(refs[("duckietown/dt-core", f"daffy-{suffix}")].top)
        assert manifest["mediaType"] == images.OCI_MANIFEST
        assert _json(blobs[manifest["config"]["digest"]])["architecture"] == arch


def test_payload_v2_shares_four_of_v1s_data_layers(demo):
    refs, blobs = demo

    def data_layers(tag):
        index = _json(refs[("demo/payload", tag)].top)
        manifest = _json(blobs[index["manifests"][0]["digest"]])
        return [layer for layer in manifest["layers"] if layer["size"] > 1024 * 1024]

    v1, v2 = data_layers("v1"), data_layers("v2")
    assert len(v1) == len(v2) == 5
    assert len({x["digest"] for x in v1} & {x["digest"] for x in v2}) == 4
    # Incompressible: about 50 MB moves over the wire.
    assert sum(x["size"] for x in v1) > 50 * 1000 * 1000


def test_layout_is_written_once_and_reused(tmp_path, monkeypatch):
    images.ensure_layout(tmp_path)
    index = json.loads((tmp_path / "index.json").read_text())
    names = {m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]}
    assert names == {images.layout_ref_name(r, t) for r, t in images.demo_references()}
    for entry in index["manifests"]:
        assert (tmp_path / "blobs/sha256" / entry["digest"].split(":")[1]).exists()

    def must_not_rebuild():
        raise AssertionError("a complete layout was rebuilt")

    monkeypatch.setattr(images, "build_demo_images", must_not_rebuild)
    images.ensure_layout(tmp_path)
