"""Writing files whose mode matters (keys, passwords, tokens) without a window where it is wrong."""

from __future__ import annotations

import os
from pathlib import Path


def write_file(path: Path, content: str | bytes, mode: int = 0o600) -> None:
    """Create or replace `path` with `content`, created with `mode` from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)  # an existing file keeps its old mode through O_CREAT
