"""The one place fleet builds consoles: which stream, and how wide off a terminal."""

import io

from fleet.cli.terminal import WIDE, Terminal, current_terminal


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_stdout_is_wide_and_stderr_keeps_rich_s_width():
    out, err = io.StringIO(), io.StringIO()
    terminal = Terminal(stdin=io.StringIO(), stdout=out, stderr=err)
    assert not (terminal.stdin_isatty or terminal.stdout_isatty or terminal.stderr_isatty)
    stdout_console, stderr_console = terminal.consoles()
    assert stdout_console.width == WIDE
    assert terminal.console(width_off_terminal=120).width == 120
    assert terminal.console(width_off_terminal=None).width == 80
    assert stderr_console.width == 80
    stdout_console.print("to out")
    stderr_console.print("to err")
    terminal.echo("echoed", err=True)
    assert out.getvalue() == "to out\n"
    assert err.getvalue() == "to err\nechoed\n"


def test_on_a_terminal_stdout_takes_the_terminal_s_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "93")
    terminal = Terminal(stdout=FakeTTY())
    assert terminal.stdout_isatty
    assert terminal.console().width == 93


def test_a_closed_stream_is_not_a_terminal():
    closed = io.StringIO()
    closed.close()
    assert not Terminal(stdout=closed).stdout_isatty


def test_outside_main_the_terminal_is_the_process_s_own(capsys):
    terminal = current_terminal()
    terminal.echo("hello")
    assert capsys.readouterr().out == "hello\n"
