"""Ansible host ranges: `robot[01:12].local`, `bot[a:c]`, `node[0:10:2]`, `n[:3]` (pure).

The forms are Ansible's (`expand_hostname_range` in ansible-core): `[START:END]` or
`[START:END:STEP]`, inclusive; numbers, zero-padded when START has a leading zero (END
then has the same width); an empty START is 0; or single ASCII letters, a-z then A-Z
(`[x:C]` is x y z A B C). Where Ansible quietly does something odd, fleet stops with an
error instead: a range that ends before it starts (Ansible: no hosts at all), several
letters (Ansible looks them up as a substring of a-zA-Z), a step of 0 or less.

How many names a pattern stands for is counted before any is made, so a pattern such as
`robot[0:99999999]` (from a hostile mDNS name or a typo) fails at once, without memory.
"""

from __future__ import annotations

import itertools
import math
import re
import string
from dataclasses import dataclass

from fleet.names import shown

MAX_HOSTS = 10_000  # from one pattern; a fleet is tens or hundreds of robots
_RANGE = re.compile(r"\[([^\[\]]*)\]")
_LETTERS = string.ascii_letters


class RangeError(ValueError):
    pass


@dataclass(frozen=True)
class _Span:
    """One [START:END:STEP]: its items are computed on demand, its length is not."""

    first: int
    last: int
    step: int
    width: int  # zero padding; 0 for none
    letters: bool

    def __len__(self) -> int:
        return (self.last - self.first) // self.step + 1

    def items(self) -> list[str]:
        if self.letters:
            return list(_LETTERS[self.first : self.last + 1 : self.step])
        return [str(n).zfill(self.width) for n in range(self.first, self.last + 1, self.step)]


def count(pattern: str) -> int:
    """How many names `pattern` stands for, without making them."""
    _, spans = _parse(pattern)
    return math.prod(len(s) for s in spans)


def expand(pattern: str, limit: int = MAX_HOSTS) -> list[str]:
    """Every host name a pattern stands for, in order; a name without a range is itself."""
    texts, spans = _parse(pattern)
    total = math.prod(len(s) for s in spans)
    if total > limit:
        raise RangeError(
            f"{shown(pattern)} stands for {total} hosts; fleet takes at most {limit} "
            "from one pattern"
        )
    names = []
    for chosen in itertools.product(*(s.items() for s in spans)):
        parts = [texts[0]]
        for item, text in zip(chosen, texts[1:], strict=True):
            parts += (item, text)
        names.append("".join(parts))
    return names


def _parse(pattern: str) -> tuple[list[str], list[_Span]]:
    """`a[1:2]b[x:y]c` -> (["a", "b", "c"], [span 1:2, span x:y])."""
    texts, spans, start = [], [], 0
    for match in _RANGE.finditer(pattern):
        texts.append(pattern[start : match.start()])
        spans.append(_span(match.group(1), pattern))
        start = match.end()
    texts.append(pattern[start:])
    if any("[" in t or "]" in t for t in texts):
        raise RangeError(f"{shown(pattern)}: unbalanced '[' or ']' in a host range")
    return texts, spans


def _span(body: str, pattern: str) -> _Span:
    parts = body.split(":")
    if len(parts) not in (2, 3) or not parts[1]:
        raise RangeError(f"{shown(pattern)}: a range is [START:END] or [START:END:STEP]")
    begin, end = parts[0] or "0", parts[1]
    step_text = parts[2] if len(parts) == 3 else "1"
    if not (step_text.isascii() and step_text.isdigit()) or len(step_text) > 9:
        raise RangeError(f"{shown(pattern)}: the step of a range is a number")
    step = int(step_text)
    if step < 1:
        raise RangeError(f"{shown(pattern)}: the step of a range must be at least 1")
    if any(len(t) > 18 for t in (begin, end)):
        raise RangeError(f"{shown(pattern)}: a number in a range has at most 18 digits")
    if _digits(begin) and _digits(end):
        width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
        if width and len(end) != width:
            raise RangeError(
                f"{shown(pattern)}: a zero-padded range needs START and END of one width"
            )
        first, last, letters = int(begin), int(end), False
    elif len(begin) == 1 and len(end) == 1 and begin in _LETTERS and end in _LETTERS:
        first, last, width, letters = _LETTERS.index(begin), _LETTERS.index(end), 0, True
    else:
        raise RangeError(
            f"{shown(pattern)}: a range is numbers ([01:12]) or single letters ([a:c]), "
            f"not {shown(body)}"
        )
    if first > last:
        raise RangeError(f"{shown(pattern)}: the range starts after it ends")
    return _Span(first, last, step, width, letters)


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()  # str.isdigit alone takes '²' and '٣'
