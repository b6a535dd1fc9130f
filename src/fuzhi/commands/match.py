"""``fuzhi match``: rank achievements for demands (and demands for achievements)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from fuzhi.commands.common import (
    Columns,
    Format,
    Language,
    Output,
    Quiet,
    cache_dir,
    progress_bar,
    stderr,
)
from fuzhi.commands.workspace import WorkspaceDir, match_in_workspace
from fuzhi.errors import UsageError
from fuzhi.match import workers
from fuzhi.match.engine import Direction, Filters, MatchOptions
from fuzhi.pipeline import MatchJob, match_files, skipped_summary
from fuzhi.report.matches import OutputFormat, sheet_name, write_matches
from fuzhi.schema import Lang


def match(
    ctx: typer.Context,
    achievements: Annotated[
        Path | None,
        typer.Option(
            "--achievements",
            "-a",
            help="Achievement library (.xlsx or .csv); leave out with --demands to match the workspace.",
        ),
    ] = None,
    demands: Annotated[
        Path | None,
        typer.Option(
            "--demands",
            "-d",
            help="Demand library (.xlsx or .csv); leave out with --achievements to match the workspace.",
        ),
    ] = None,
    output: Output = None,
    fmt: Format = None,
    k: Annotated[
        int, typer.Option("-k", help="Matches kept per demand (or achievement).", min=1)
    ] = 10,
    by: Annotated[
        Direction,
        typer.Option(
            "--by", help="Rank achievements per demand, demands per achievement, or both."
        ),
    ] = Direction.DEMAND,
    min_score: Annotated[
        float,
        typer.Option(
            "--min-score", help="Drop matches scoring below this (0–1).", min=0.0, max=1.0
        ),
    ] = 0.0,
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            help="Only propose candidates in this province, city or region group (e.g. 长三角).",
        ),
    ] = None,
    industry: Annotated[
        str | None,
        typer.Option(
            "--industry", help="Only propose candidates whose industry or field contains this text."
        ),
    ] = None,
    min_trl: Annotated[
        int | None,
        typer.Option(
            "--min-trl",
            help="Only propose achievements at this readiness level or above.",
            min=1,
            max=9,
        ),
    ] = None,
    achievement_sheet: Annotated[
        str | None, typer.Option("--achievement-sheet", help="Sheet of the achievement workbook.")
    ] = None,
    demand_sheet: Annotated[
        str | None, typer.Option("--demand-sheet", help="Sheet of the demand workbook.")
    ] = None,
    column: Columns = None,
    lang: Language = Lang.ZH,
    full: Annotated[
        bool, typer.Option("--full", help="Workspace: refit the text model and rescore everything.")
    ] = False,
    include_rejected: Annotated[
        bool,
        typer.Option("--include-rejected", help="Workspace: propose pairs marked 不合适 again."),
    ] = False,
    dedupe: Annotated[
        float | None,
        typer.Option(
            "--dedupe",
            help="Match one representative per cluster of near-duplicate achievements "
            "(similarity from this value, e.g. 0.9) and list the others.",
            min=0.0,
            max=1.0,
        ),
    ] = None,
    workspace: WorkspaceDir = None,
    quiet: Quiet = False,
) -> None:
    """Match an achievement library to a demand library and write ranked, explained matches.

    Each match carries a score (text similarity discounted by field, industry, region,
    readiness and budget fit) and its reasons. Rows that cannot be used are skipped and
    reported; run [bold]fuzhi check[/bold] for the details.

    Without --achievements and --demands it matches the libraries stored in the workspace
    and records the run: only records imported or changed since the last run are scored
    (against the stored text model) unless --full; statuses and notes are kept.

    Example: fuzhi match -a examples/achievements.xlsx -d examples/demands.xlsx -o matches.xlsx
    """
    if achievements is None and demands is None:
        options = MatchOptions(
            k=k,
            by=by,
            min_score=min_score,
            filters=Filters(region=region, industry=industry, min_trl=min_trl),
        )
        defaults = {n for n in ("k", "min_score") if _is_default(ctx, n)}
        match_in_workspace(
            workspace, options, defaults, full, include_rejected, output is not None, quiet
        )
        return
    if achievements is None or demands is None:
        raise UsageError(
            "--achievements and --demands go together; leave both out to match the workspace"
        )
    out_format = OutputFormat.from_path(output, fmt)
    if out_format is not OutputFormat.JSONL and output is None:
        raise UsageError(
            f"--format {out_format.value} needs an output file: -o FILE.{out_format.value}"
        )
    options = MatchOptions(
        k=k,
        by=by,
        min_score=min_score,
        filters=Filters(region=region, industry=industry, min_trl=min_trl),
    )
    job = MatchJob(
        achievements,
        demands,
        options,
        achievement_sheet,
        demand_sheet,
        column or [],
        cache_dir(),
        dedupe_threshold=dedupe,
    )
    with workers.session():  # caches are stored by workers while the output is written
        with progress_bar(quiet) as progress:
            result, run = match_files(job, progress)
        write_matches(result, run, output, out_format, lang, stream=sys.stdout)
    if quiet:
        return
    for library in (run.achievements, run.demands):
        note = skipped_summary(library)
        if note:
            stderr.print(f"[yellow]warning:[/yellow] {note}", markup=True)
    for frame in result.frames():
        direction = frame["direction"].iloc[0] if len(frame) else "demand"
        queries = frame["demand_id" if direction == "demand" else "achievement_id"].nunique()
        stderr.print(
            f"{sheet_name(direction, lang)}: {len(frame):,} matches for {queries:,} queries"
        )
    if output is not None:
        stderr.print(f"wrote {output}")


def _is_default(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is None or source.name == "DEFAULT"


def register(app: typer.Typer) -> None:
    app.command("match")(match)
