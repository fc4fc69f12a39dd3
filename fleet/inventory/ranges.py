"""Ansible host ranges: `robot[01:12].local`, `bot[a:c]`, `node[0:10:2]` (pure)."""

from __future__ import annotations

import re
import string

_RANGE = re.compile(r"\[([^\[\]]*)\]")


class RangeError(ValueError):
    pass


def expand(pattern: str) -> list[str]:
    """Every host name a pattern stands for, in order; a name without a range is itself."""
    match = _RANGE.search(pattern)
    if not match:
        if "[" in pattern or "]" in pattern:
            raise RangeError(f"{pattern!r}: unbalanced '[' or ']' in a host range")
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [
        f"{head}{item}{rest}" for item in _items(match.group(1), pattern) for rest in expand(tail)
    ]


def _items(body: str, pattern: str) -> list[str]:
    parts = body.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise RangeError(f"{pattern!r}: a range is [START:END] or [START:END:STEP]")
    begin, end = parts[0], parts[1]
    try:
        step = int(parts[2]) if len(parts) == 3 else 1
    except ValueError:
        raise RangeError(f"{pattern!r}: the step of a range must be a number") from None
    if step < 1:
        raise RangeError(f"{pattern!r}: the step of a range must be at least 1")
    if begin.isdigit() and end.isdigit():
        first, last = int(begin), int(end)
        width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
        if width and len(end) != width:
            raise RangeError(f"{pattern!r}: a zero-padded range needs START and END of one width")
        if first > last:
            raise RangeError(f"{pattern!r}: the range starts after it ends")
        return [str(n).zfill(width) for n in range(first, last + 1, step)]
    letters = string.ascii_letters
    if len(begin) == 1 and len(end) == 1 and begin in letters and end in letters:
        first, last = letters.index(begin), letters.index(end)
        if first > last:
            raise RangeError(f"{pattern!r}: the range starts after it ends")
        return list(letters[first : last + 1 : step])
    raise RangeError(
        f"{pattern!r}: a range is numbers ([01:12]) or single letters ([a:c]), not {body!r}"
    )
