"""Helpers for the workspace tests: a workspace in tmp_path, the CLI, workbook edits."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from conftest import ACHIEVEMENT_ROWS, DEMAND_ROWS, write_xlsx
from fuzhi.cli import app

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def cli(*args: str | Path) -> Any:
    """Run ``fuzhi ARGS`` in-process; the result has exit_code, stdout and stderr."""
    runner = CliRunner()
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def ok(*args: str | Path) -> Any:
    result = cli(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised workspace, named by FUZHI_WORKSPACE."""
    root = tmp_path / "ws"
    ok("init", root, "--quiet")
    monkeypatch.setenv("FUZHI_WORKSPACE", str(root))
    return root


@pytest.fixture
def libraries(tmp_path: Path) -> tuple[Path, Path]:
    """Small achievement and demand workbooks; the achievements carry an unknown column."""
    a_rows = [[*ACHIEVEMENT_ROWS[0], "联系人"]] + [
        [*row, f"王老师{i}"] for i, row in enumerate(ACHIEVEMENT_ROWS[1:])
    ]
    a = write_xlsx(tmp_path / "achievements.xlsx", a_rows, sheet="成果")
    d = write_xlsx(tmp_path / "demands.xlsx", DEMAND_ROWS, sheet="需求")
    return a, d


def db(root: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(root / "fuzhi.db")
    conn.row_factory = sqlite3.Row
    return conn


def table(root: Path, name: str, order: str = "1") -> list[dict[str, Any]]:
    with db(root) as conn:
        return [dict(r) for r in conn.execute(f"SELECT * FROM {name} ORDER BY {order}")]


def tracking_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of the 跟踪 sheet as header → value."""
    ws = load_workbook(path)["跟踪"]
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def edit_workbook(
    src: Path,
    dst: Path,
    edits: Mapping[str, Mapping[str, Any]],
    *,
    reverse_rows: bool = False,
    add_column: str | None = None,
) -> Path:
    """Copy ``src`` to ``dst`` with cells changed: match ID → {header: value}.

    ``reverse_rows`` rewrites the data rows bottom-up (as a sort would); ``add_column``
    appends a column the analyst made up.
    """
    wb = load_workbook(src)
    ws = wb["跟踪"]
    header = [c.value for c in ws[1]]
    rows: list[Sequence[Any]] = [[c.value for c in r] for r in ws.iter_rows(min_row=2)]
    if reverse_rows:
        rows = rows[::-1]
    for i, values in enumerate(rows, start=2):
        for j, value in enumerate(values, start=1):
            ws.cell(i, j).value = value
    col_id = header.index("匹配编号") + 1
    for i in range(2, ws.max_row + 1):
        changes = edits.get(ws.cell(i, col_id).value, {})
        for name, value in changes.items():
            cell = ws.cell(i, header.index(name) + 1)
            cell.value = value
            if isinstance(value, str):
                cell.data_type = "s"
    if add_column:
        ws.cell(1, len(header) + 1).value = add_column
        ws.cell(2, len(header) + 1).value = "随便写写"
    wb.save(dst)
    return dst


def match_ids(root: Path) -> list[str]:
    return [r["match_id"] for r in table(root, "matches", "demand_id, rank")]
