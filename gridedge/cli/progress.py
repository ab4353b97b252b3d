"""Progress for the CLI's long jobs (replays, bulk profile checks, clip evaluation).

A rich bar (rich comes with typer) on a terminal, cleared when the job ends; when stdout is not a
terminal (a pipe, a file, CI) the items pass through untouched and the output stays plain. What the
job prints while the bar runs (`typer.echo`, `print`) appears above it. rich is imported only when
a bar is shown: every CLI command imports this module.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from typing import TypeVar

T = TypeVar("T")


@contextmanager
def tracked(items: Sequence[T], description: str, *, at_least: int = 2) -> Iterator[Iterable[T]]:
    """`items`, advancing a progress bar as they are consumed when stdout is a terminal and there are
    `at_least` of them; the bar is gone once the block ends, however it ends."""
    if len(items) < at_least or not sys.stdout.isatty():
        yield items
        return
    from rich.console import Console
    from rich.file_proxy import FileProxy
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    class Proxy(FileProxy):
        """rich's proxy that prints above the bar, with the stream's encoding: without one, click's
        `echo` finds the terminal's own buffer and writes around the proxy, into the bar."""

        @property
        def encoding(self) -> str:  # type: ignore[override]  # read-only in io.TextIOBase too
            return getattr(self.rich_proxied_file, "encoding", None) or "utf-8"

        @property
        def errors(self) -> str | None:  # type: ignore[override]
            return getattr(self.rich_proxied_file, "errors", None)

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    console = Console(soft_wrap=True)  # long lines wrap in the terminal, not with inserted newlines
    with (
        Progress(*columns, console=console, transient=True, redirect_stdout=False, redirect_stderr=False) as bar,
        redirect_stdout(Proxy(console, sys.stdout)),
        redirect_stderr(Proxy(console, sys.stderr)),
    ):
        yield bar.track(items, total=len(items), description=description)
