"""Long CLI jobs show a progress bar on a terminal and stay plain in a pipe."""

from __future__ import annotations

import io

import pytest
import typer

from gridedge.cli.progress import tracked


class Terminal(io.TextIOWrapper):
    """A text stream over bytes, as a real terminal is (click writes to the bytes if it may)."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", write_through=True)

    def isatty(self) -> bool:
        return True

    def getvalue(self) -> str:
        self.flush()
        assert isinstance(self.buffer, io.BytesIO)
        return self.buffer.getvalue().decode()


def test_a_pipe_gets_the_items_untouched_and_no_bar(capsys: pytest.CaptureFixture[str]) -> None:
    items = ["a.yaml", "b.yaml", "c.yaml"]
    with tracked(items, "linting") as seen:
        assert seen is items
    assert capsys.readouterr().out == ""


def test_a_terminal_gets_a_bar_that_follows_the_items(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")  # rich animates nothing on a dumb terminal
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    with tracked(["a.yaml", "b.yaml", "c.yaml"], "linting") as seen:
        for name in seen:
            typer.echo(f"{name}: ok")  # printed above the bar, through rich, not around it
    shown = terminal.getvalue()
    assert "linting" in shown
    assert "3/3" in shown
    assert "\x1b[2Ka.yaml: ok\n" in shown  # the bar cleared first: the line is not glued to it


def test_one_item_is_not_worth_a_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    with tracked(["a.yaml"], "linting") as seen:
        assert list(seen) == ["a.yaml"]
    assert terminal.getvalue() == ""
