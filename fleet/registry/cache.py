"""Manifests and config blobs kept on disk by digest, so a later run asks the registry
only what a tag points to now (a HEAD, which Docker Hub does not count as a pull).

Content-addressed: a file is named by the sha256 of its bytes and checked against that
name each time it is read, so a damaged or altered file is a miss, never a wrong answer.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fleet.registry.manifests import DIGEST, sha256_digest

MAX_CACHED_BYTES = 4 * 1024 * 1024


def default_cache_dir(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "fleet" / "registry"


class ContentCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, digest: str) -> Path | None:
        if not DIGEST.fullmatch(digest):
            return None
        algorithm, hexdigest = digest.split(":", 1)
        return self.directory / algorithm / hexdigest

    def get(self, digest: str) -> bytes | None:
        """The bytes whose digest is `digest`, or None when absent or damaged."""
        path = self._path(digest)
        if path is None:
            return None
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_CACHED_BYTES + 1)
        except OSError:
            return None
        return data if sha256_digest(data) == digest else None

    def put(self, digest: str, data: bytes) -> None:
        """Keep `data` under `digest` (only if that is its digest); written atomically, 0600.
        A cache that cannot be written is no error: the next run asks the registry again."""
        path = self._path(digest)
        if path is None or len(data) > MAX_CACHED_BYTES or sha256_digest(data) != digest:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # mkstemp creates the file 0600 from the start.
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError:
            return
