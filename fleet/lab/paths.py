"""Where the lab keeps its state (one directory, removed by `down`) and its cache (kept)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_STATE_DIR = Path("/var/lib/fleet-lab")


@dataclass(frozen=True)
class LabPaths:
    state: Path
    cache: Path

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> LabPaths:
        env = os.environ if environ is None else environ
        state = Path(env.get("FLEET_LAB_DIR") or DEFAULT_STATE_DIR).absolute()
        # The cache (root filesystems, demo image layouts) outlives `down`, so it sits beside
        # the state directory rather than in it.
        cache = Path(env.get("FLEET_LAB_CACHE") or state.parent / f"{state.name}-cache")
        return cls(state=state, cache=cache.absolute())

    @property
    def state_file(self) -> Path:
        return self.state / "state.json"

    @property
    def ns_dir(self) -> Path:
        """Bind-mounted on itself with private propagation: mount-namespace files live here."""
        return self.state / "ns"

    @property
    def lab_key(self) -> Path:
        return self.state / "id_ed25519"

    @property
    def credentials(self) -> Path:
        return self.state / "credentials.json"

    @property
    def inventory(self) -> Path:
        return self.state / "inventory.yaml"

    @property
    def registry_dir(self) -> Path:
        return self.state / "registry"

    @property
    def hub_dir(self) -> Path:
        return self.state / "hub"

    @property
    def ca_cert(self) -> Path:
        return self.registry_dir / "ca.crt"

    def robot_dir(self, name: str) -> Path:
        return self.state / "robots" / name

    def rootfs(self, profile: str) -> Path:
        return self.cache / "rootfs" / profile

    @property
    def images_cache(self) -> Path:
        return self.cache / "images"
