"""``fuzhi dedupe``: find the same achievement submitted by several sources."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fuzhi.commands.common import Columns, Language, Quiet, Sheet, cache_dir, stderr
from fuzhi.match.dedupe import DEFAULT_THRESHOLD, find_duplicates
from fuzhi.pipeline import load, split_column_overrides
from fuzhi.report.duplicates import write_duplicates
from fuzhi.schema import Kind, Lang


def dedupe(
    file: Annotated[Path, typer.Argument(help="Achievement library (.xlsx or .csv).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Workbook of clusters (.xlsx).", dir_okay=False)
    ],
    threshold: Annotated[
        float,
        typer.Option(
            "--threshold", help="Text similarity (0–1) from which two achievements are the same."
        ),
    ] = DEFAULT_THRESHOLD,
    sheet: Sheet = None,
    column: Columns = None,
    lang: Language = Lang.ZH,
    quiet: Quiet = False,
) -> None:
    """Cluster near-duplicate achievements and write each cluster with its differing fields.

    The first member of a cluster is its representative (the most complete record);
    [bold]fuzhi match --dedupe[/bold] matches only representatives and lists the others.

    Example: fuzhi dedupe examples/achievements.xlsx -o duplicates.xlsx --threshold 0.8
    """
    overrides = split_column_overrides(column or [])
    library = load(
        file,
        Kind.ACHIEVEMENTS,
        sheet,
        overrides.get(None, {}) | overrides.get(Kind.ACHIEVEMENTS, {}),
    )
    clusters = find_duplicates(library.records, threshold, cache_dir=cache_dir())
    write_duplicates(output, clusters, library.records, lang)
    if not quiet:
        members = sum(len(c.members) for c in clusters)
        stderr.print(
            f"{file}: {len(clusters):,} clusters covering {members:,} of {len(library):,} achievements; wrote {output}"
        )


def register(app: typer.Typer) -> None:
    app.command("dedupe")(dedupe)
