"""Root filesystem caching and emulator choice, without building anything."""

import json

import pytest

from fleet.lab import binfmt, rootfs
from fleet.lab.paths import LabPaths
from fleet.lab.sh import LabError
from fleet.lab.spec import PROFILES


def test_a_missing_or_half_built_tree_is_built_and_a_complete_one_reused(tmp_path, monkeypatch):
    paths = LabPaths(state=tmp_path / "state", cache=tmp_path / "cache")
    built = []

    def fake_debootstrap(profile, target, log_file):
        built.append(profile.name)
        (target / "etc/ssh").mkdir(parents=True)
        (target / "etc/ssh/ssh_host_ed25519_key").write_text("shared secret key")

    monkeypatch.setattr(rootfs, "_debootstrap", fake_debootstrap)
    profile = PROFILES["amd64"]
    half = paths.rootfs("amd64")
    half.mkdir(parents=True)  # a tree without its marker: an interrupted build
    (half / "junk").write_text("x")
    tree = rootfs.ensure_rootfs(paths, profile)
    assert built == ["amd64"]
    assert not (tree / "junk").exists()
    assert not list((tree / "etc/ssh").glob("ssh_host_*"))  # no robot shares a host key
    assert json.loads((tree / rootfs.MARKER).read_text())["profile"] == "amd64"
    rootfs.ensure_rootfs(paths, profile)
    assert built == ["amd64"]


def test_emulators_for_the_profiles():
    arches = {a for p in PROFILES.values() for a in p.debian_arches}
    assert binfmt.emulators_needed(arches, "amd64") == ["qemu-aarch64", "qemu-arm"]
    assert binfmt.emulators_needed({"amd64"}, "amd64") == []
    assert PROFILES["raspberrypi4-32"].debian_arches == ("arm64", "armhf")
    with pytest.raises(LabError, match="no emulator known for riscv64"):
        binfmt.emulators_needed({"riscv64"}, "amd64")


def test_binfmt_handler_state():
    text = "enabled\ninterpreter /usr/libexec/qemu-binfmt/arm-binfmt-P\nflags: PF\noffset 0\n"
    assert binfmt.handler_state(text) == (True, "PF")
    assert binfmt.handler_state("disabled\nflags: P\n") == (False, "P")
