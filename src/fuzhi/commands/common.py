"""Options shared by several commands (defined once), the consoles and the progress bar."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from fuzhi.match.engine import Progress as ProgressCallback
from fuzhi.report.matches import OutputFormat
from fuzhi.schema import Lang

Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="Print nothing on success (for cron).", envvar="FUZHI_QUIET"
    ),
]
Output = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Output file; written to a temporary file, then renamed.",
        dir_okay=False,
    ),
]
Format = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format",
        "-f",
        help="Output format; default from the output file's suffix, jsonl on stdout.",
    ),
]
Language = Annotated[
    Lang,
    typer.Option(
        "--lang", help="Language of headers, sheet names and reasons.", envvar="FUZHI_LANG"
    ),
]
Sheet = Annotated[
    str | None, typer.Option("--sheet", help="Sheet to read (default: the first that fits).")
]
Columns = Annotated[
    list[str] | None,
    typer.Option(
        "--column",
        "-c",
        help="Map a header to a field, e.g. title=项目名称 or demands.description=难题描述 (repeatable).",
        metavar="FIELD=HEADER",
    ),
]

stderr = Console(stderr=True, highlight=False, soft_wrap=True)
stdout = Console(highlight=False, soft_wrap=True)


def cache_dir() -> Path | None:
    value = os.environ.get("FUZHI_CACHE_DIR")
    return Path(value) if value else None


@contextlib.contextmanager
def progress_bar(quiet: bool) -> Iterator[ProgressCallback | None]:
    """A Rich progress callback on stderr; None (no output at all) when quiet or not a TTY."""
    if quiet or not stderr.is_terminal:
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def report(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    with bar:
        yield report
