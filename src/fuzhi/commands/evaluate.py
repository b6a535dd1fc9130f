"""``fuzhi evaluate``: score ranked matches against gold answers."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fuzhi.commands.common import stdout
from fuzhi.match.evaluate import evaluate_files


class MetricsFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


def evaluate(
    matches: Annotated[
        Path, typer.Argument(help="Matches from fuzhi match (.jsonl, .csv or .xlsx).")
    ],
    gold: Annotated[Path, typer.Option("--gold", help="CSV of demand_id, achievement_id, grade.")],
    fmt: Annotated[
        MetricsFormat, typer.Option("--format", "-f", help="table or json.")
    ] = MetricsFormat.TABLE,
) -> None:
    """Score matches per demand against gold answers: R@1, R@10, MRR@10 and nDCG@10.

    The gold achievement of a demand is its highest-graded label; nDCG uses every grade
    (gain 2^grade − 1). Demands without matches score 0.

    Example: fuzhi evaluate matches.jsonl --gold gold_graded.csv --format json
    """
    metrics = evaluate_files(matches, gold)
    if fmt is MetricsFormat.JSON:
        print(json.dumps(metrics.as_dict()))
        return
    table = Table(title=f"{matches.name}: {metrics.demands:,} demands with gold labels")
    for key in metrics.as_dict():
        table.add_column(key, justify="right")
    table.add_row(*(f"{v:.3f}" for v in metrics.as_dict().values()))
    stdout.print(table)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
