"""Reading the Engine API's pull stream (pure): per-layer progress, bytes, the digest,
and errors that arrive inside a 200 response, which the Docker SDK does not raise.

The stream names a layer by the first 12 hex digits of its compressed digest and says its
size only once it starts downloading; given the manifest's layer sizes (`expected`), the
total is known from the first event, and layers the robot turns out to hold already
("Already exists") leave it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DONE_STATES = ("Pull complete", "Already exists")


def short_id(digest: str) -> str:
    """How the pull stream names a layer: `sha256:0123456789abcdef...` -> `0123456789ab`."""
    return digest.split(":", 1)[-1][:12]


@dataclass
class PullProgress:
    expected: dict[str, int] = field(default_factory=dict)  # short id -> size, from the manifest
    layers: dict[str, dict[str, int]] = field(default_factory=dict)  # id -> current/total
    done: set[str] = field(default_factory=set)
    existing: set[str] = field(default_factory=set)  # layers the robot already held
    digest: str | None = None
    final_status: str | None = None
    error: str | None = None

    def feed(self, event: dict[str, Any]) -> None:
        if "error" in event or "errorDetail" in event:
            detail = event.get("errorDetail") or {}
            self.error = str(detail.get("message") or event.get("error") or "pull failed")
            return
        status = str(event.get("status") or "")
        layer = event.get("id")
        if status.startswith("Digest: "):
            self.digest = status.removeprefix("Digest: ").strip()
        elif status.startswith("Status: "):
            self.final_status = status.removeprefix("Status: ").strip()
        elif (
            layer
            and status in ("Pulling fs layer", "Waiting", "Already exists")
            or (
                layer
                and status.startswith(
                    ("Downloading", "Verifying", "Download complete", "Extracting", "Pull complete")
                )
            )
        ):
            entry = self.layers.setdefault(layer, {"current": 0, "total": 0})
            detail = event.get("progressDetail") or {}
            if status.startswith("Downloading") and detail.get("total"):
                entry["current"] = int(detail.get("current") or 0)
                entry["total"] = int(detail["total"])
            if status in ("Download complete", "Verifying Checksum") or status in DONE_STATES:
                entry["current"] = entry["total"] = max(entry["total"], entry["current"])
            if status in DONE_STATES:
                self.done.add(layer)
            if status == "Already exists":
                self.existing.add(layer)

    @property
    def up_to_date(self) -> bool:
        return bool(self.final_status and self.final_status.startswith("Image is up to date"))

    def counts(self) -> dict[str, int]:
        if self.expected:
            return self._expected_counts()
        return {
            "layers_done": len(self.done),
            "layers": len(self.layers),
            "bytes_done": sum(v["current"] for v in self.layers.values()),
            "bytes_total": sum(v["total"] for v in self.layers.values()),
        }

    def _expected_counts(self) -> dict[str, int]:
        needed = {lid: size for lid, size in self.expected.items() if lid not in self.existing}
        done = 0
        for lid, size in needed.items():
            seen = self.layers.get(lid, {})
            done += size if lid in self.done else min(int(seen.get("current", 0)), size)
        return {
            "layers_done": len(self.done),
            "layers": max(len(self.layers), len(self.expected)),
            "bytes_done": done,
            "bytes_total": sum(needed.values()),
        }
