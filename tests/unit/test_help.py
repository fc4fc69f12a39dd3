"""`fleet --help` as a user reads it: one sentence a command, on one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from fleet.cli import SUBCOMMANDS

GROUPS = [[], ["cache"], ["lab"], ["credentials"], ["keys"]]
# A sentence ends, and another starts, at a full stop before a capital (e.g. "OS gets"
# stays one sentence; "nothing. Exit 0" is two).
SECOND_SENTENCE = re.compile(r"[.!?;]\s+[A-Z]")


def command_rows(args: list[str]) -> list[tuple[str, str]]:
    """(name, summary) per row of the Commands panel; a row with no name continues a
    summary the line before broke."""
    # So wide that rich wraps nothing: a line break here is one in the help text itself.
    env = {**os.environ, "COLUMNS": "400", "TERMINAL_WIDTH": "400", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "fleet", *args, "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    panel = done.stdout.split("─ Commands ─", 1)[1].split("╰", 1)[0]
    rows = []
    for line in panel.splitlines()[1:]:
        cells = line.strip("│ ").split(maxsplit=1)
        if not line.startswith("│ ") or not cells:
            continue
        if line.startswith("│  "):
            rows.append(("", line.strip("│ ")))  # no name: a continuation
        else:
            rows.append((cells[0], cells[1] if len(cells) > 1 else ""))
    return rows


@pytest.mark.parametrize("args", GROUPS, ids=lambda a: " ".join(["fleet", *a]))
def test_each_command_summary_is_one_sentence_on_one_line(args):
    rows = command_rows(args)
    assert rows
    for name, summary in rows:
        assert name, f"a summary broke mid-sentence: {summary!r}"
        assert summary.endswith("."), f"{name}: {summary!r}"
        assert not SECOND_SENTENCE.search(summary), f"{name}: more than one sentence"
        assert len(summary) <= 100, f"{name}: {len(summary)} characters: {summary!r}"


def test_the_root_help_lists_every_command():
    assert [name for name, _ in command_rows([])] == list(SUBCOMMANDS)
