"""``fuzhi import achievements|demands|events FILE...``: upsert libraries into the workspace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from fuzhi.commands.common import Columns, Quiet, Sheet, stderr
from fuzhi.commands.workspace import WorkspaceDir, resolve
from fuzhi.errors import UsageError
from fuzhi.io.records import Problem
from fuzhi.pipeline import split_column_overrides
from fuzhi.report.writers import CellKind, Column, write_csv, write_xlsx
from fuzhi.report.writers import Sheet as XlsxSheet
from fuzhi.schema import Kind
from fuzhi.workspace.imports import FileImport, import_files
from fuzhi.workspace.store import session

import_app = typer.Typer(
    name="import",
    help="Add or update library records in the workspace (upsert by ID).",
    no_args_is_help=True,
)

_PROBLEM_HEADERS = ("文件", "工作表", "行", "列", "值", "问题", "处理")


def write_problems(path: Path, problems: list[Problem]) -> None:
    """Rejected rows and warnings to ``path`` (.xlsx or .csv), one row per problem."""
    outcome = {"rejected": "已跳过", "warning": "值留空"}
    rows = [
        [p.path, p.sheet, p.row, p.column, p.value, p.expected, outcome[p.severity.value]]
        for p in problems
    ]
    suffix = path.suffix.lower()
    if suffix == ".csv":
        write_csv(path, _PROBLEM_HEADERS, rows)
    elif suffix == ".xlsx":
        kinds = [CellKind.INT if h == "行" else CellKind.TEXT for h in _PROBLEM_HEADERS]
        columns = [Column(h, k) for h, k in zip(_PROBLEM_HEADERS, kinds, strict=True)]
        write_xlsx(path, [XlsxSheet("问题行", columns, rows)])
    else:
        raise UsageError(f"--problems {path}: expected a .xlsx or .csv file name")


def _summary(report: FileImport) -> str:
    where = f"{report.path}" + (f" [{report.sheet}]" if report.sheet else "")
    return (
        f"{where}: {report.new:,} new, {report.updated:,} updated, "
        f"{report.unchanged:,} unchanged, {report.rejected:,} rejected"
        + (f", {report.warnings:,} warnings" if report.warnings else "")
    )


def _command(kind: Kind) -> Callable[..., None]:
    def command(
        files: Annotated[list[Path], typer.Argument(help="Library files (.xlsx or .csv).")],
        sheet: Sheet = None,
        column: Columns = None,
        strict: Annotated[
            bool, typer.Option("--strict", help="Import nothing when any row is rejected.")
        ] = False,
        problems: Annotated[
            Path | None,
            typer.Option(
                "--problems",
                help="Write rejected rows and warnings to this .xlsx or .csv file.",
                dir_okay=False,
            ),
        ] = None,
        workspace: WorkspaceDir = None,
        quiet: Quiet = False,
    ) -> None:
        overrides = split_column_overrides(column or [])
        mine = overrides.get(None, {}) | overrides.get(kind, {})
        ws = resolve(workspace)
        with session(ws, write=True, purpose=f"fuzhi import {kind.value}") as conn:
            reports = import_files(conn, kind, files, sheet=sheet, overrides=mine, strict=strict)
        found = [p for r in reports for p in r.problems]
        if problems is not None:
            write_problems(problems, found)
        rejected = [p for p in found if p.severity.value == "rejected"]
        for report in reports:
            if not quiet:
                stderr.print(_summary(report), markup=False)
        for p in rejected:
            stderr.print(f"rejected: {p}", markup=False)
        if problems is not None and found and not quiet:
            stderr.print(f"wrote {problems}", markup=False)

    command.__doc__ = (
        f"Import {kind.value} ({kind.label_zh}) into the workspace: new IDs are added, changed "
        "rows updated, unchanged rows left alone; one transaction per file.\n\n"
        "Rejected rows are listed (and written with --problems) and the valid rows still "
        "land, unless --strict. Columns fuzhi does not know are kept with the record.\n\n"
        f"Example: fuzhi import {kind.value} examples/{kind.value}.xlsx --problems problems.xlsx"
    )
    return command


for _kind in Kind:
    import_app.command(_kind.value)(_command(_kind))


def register(app: typer.Typer) -> None:
    app.add_typer(import_app)
