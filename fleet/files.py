"""Writing local files so that a crash, a full disk or a second fleet never loses them.

Every file fleet keeps (the credential store, known_hosts, saved inventories, the retry
file) is replaced the same way: write a uniquely named temporary file beside it, with its
final mode from the start, fsync it, rename it over the old one, fsync the directory. A
reader sees the old content or the new, never half of either. Read-modify-write cycles
(adding an account, trusting a host key, merging discovered robots) hold an exclusive
lock on a `.NAME.lock` sibling for the whole cycle, so two fleets running at once both
land their change instead of the last one erasing the first's.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def write_file(path: Path, content: str | bytes, mode: int = 0o600) -> None:
    """Create or replace `path` with `content`, created with `mode` from the first byte
    (in place: for files only fleet's own process uses, such as the lab's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)  # an existing file keeps its old mode through O_CREAT


def real_path(path: Path) -> Path:
    """The file a path names, through symlinks: a known_hosts kept in a dotfiles
    repository and linked into ~/.ssh must be replaced there, not turned into a copy."""
    return Path(os.path.realpath(path))


def replace_file(path: Path, content: str | bytes, mode: int | None = None) -> None:
    """Atomically replace (or create) `path`. `mode`: the new file's permissions; by
    default the old file's, or 0600 for a new one. The original is untouched on any error
    (a full disk, a kill): the temporary file is removed or left as an unused dot-file."""
    path = real_path(path)
    data = content.encode() if isinstance(content, str) else content
    if mode is None:
        mode = _current_mode(path, 0o600)
    # mkstemp creates the file 0600 with O_EXCL, under a name nobody else can have picked.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            os.fchmod(fd, mode)  # before any byte: a secret is never readable by others
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _current_mode(path: Path, default: int) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return default


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class Update:
    """One locked read-modify-write: `current` is the file's text (None when it does not
    exist yet); `write(text)` sets what replaces it when the `with` block ends."""

    current: str | None
    new: str | None = None
    mode: int | None = None

    def write(self, text: str, mode: int | None = None) -> None:
        self.new, self.mode = text, mode


def lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock for `path`, between processes and between threads (flock locks
    belong to one open file, so two opens in one process exclude each other too)."""
    lock = lock_path(real_path(path))
    lock.parent.mkdir(parents=True, exist_ok=True)  # callers wanting 0700 made it first
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def locked_update(path: Path, encoding: str = "utf-8") -> Iterator[Update]:
    """Read `path` under its lock, let the caller decide the new text, replace it.

        with locked_update(path) as update:
            update.write(merge(update.current or ""))

    Nothing is written when the block raises or never calls `write`, or when the text is
    unchanged."""
    path = real_path(path)
    with file_lock(path):
        try:
            current: str | None = path.read_text(encoding=encoding)
        except FileNotFoundError:
            current = None
        update = Update(current)
        yield update
        if update.new is not None and update.new != current:
            replace_file(path, update.new.encode(encoding), update.mode)
