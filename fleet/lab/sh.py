"""Running the system tools the lab is built from (ip, tc, mount, nsenter, debootstrap)."""

from __future__ import annotations

import logging
import shlex
import subprocess
from collections.abc import Sequence

log = logging.getLogger(__name__)


class LabError(Exception):
    """Something the lab could not do; the message says what and, where it can, how to fix it."""


def run(
    args: Sequence[str],
    *,
    input: bytes | None = None,
    check: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess[bytes]:
    """Run a command, capture its output, and raise LabError with its stderr when it fails."""
    log.debug("run: %s", shlex.join(args))
    try:
        done = subprocess.run(
            list(args), input=input, capture_output=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise LabError(f"{args[0]} is not installed ({exc.strerror})") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"`{shlex.join(args)}` did not finish within {timeout:g} s") from None
    if check and done.returncode != 0:
        detail = (done.stderr or done.stdout).decode(errors="replace").strip()
        raise LabError(f"`{shlex.join(args)}` failed (exit {done.returncode}): {detail}")
    return done


def output(args: Sequence[str], **kwargs: object) -> str:
    return run(args, **kwargs).stdout.decode(errors="replace")  # type: ignore[arg-type]
