"""``fuzhi check``: validate a library file without matching."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fuzhi.commands.common import Columns, Quiet, Sheet, stderr, stdout
from fuzhi.errors import ExitCode
from fuzhi.pipeline import load, split_column_overrides
from fuzhi.schema import Kind


def check(
    file: Annotated[Path, typer.Argument(help="Library file (.xlsx or .csv).")],
    kind: Annotated[
        Kind | None,
        typer.Option("--kind", help="What the file holds (default: guessed from its headers)."),
    ] = None,
    sheet: Sheet = None,
    column: Columns = None,
    quiet: Quiet = False,
) -> None:
    """Validate a library file: list every problem with file, sheet, row, column and value.

    Exits 3 when any row is unusable (it would be skipped by match or import); values that
    cannot be parsed are warnings (the value is left empty).

    Example: fuzhi check examples/demands.xlsx --kind demands
    """
    overrides = split_column_overrides(column or [])
    mine = overrides.get(None, {}) | (overrides.get(kind, {}) if kind else {})
    library = load(file, kind, sheet, mine)
    source = library.sources[0]
    rejected = len(library.rejected)
    if library.problems and not quiet:
        table = Table(title=f"{file} ({library.kind.value})", show_lines=False)
        for header in ("sheet", "row", "column", "value", "expected", "outcome"):
            table.add_column(header, overflow="fold")
        for p in library.problems:
            outcome = "row skipped" if p.severity.value == "rejected" else "value left empty"
            table.add_row(
                p.sheet or "", str(p.row or ""), p.column or "", p.value, p.expected, outcome
            )
        stdout.print(table)
    if not quiet or rejected:
        stderr.print(
            f"{file}: {library.kind.value}, sheet {source.sheet or '(CSV)'}, header on row "
            f"{source.header_row}; {source.rows_used:,} usable rows, {rejected:,} unusable, "
            f"{len(library.problems) - rejected:,} warnings, {source.rows_blank:,} blank"
        )
    if rejected:
        raise typer.Exit(int(ExitCode.INPUT))


def register(app: typer.Typer) -> None:
    app.command("check")(check)
