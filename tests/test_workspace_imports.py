"""Imports: upsert by ID, idempotent, rejected rows, --strict, unknown columns, events."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import DEMAND_ROWS, write_xlsx
from fuzhi.errors import ExitCode
from workspace_fixtures import cli, libraries, ok, table, workspace

__all__ = ["libraries", "workspace"]


def test_import_twice_changes_nothing(workspace: Path, libraries: tuple[Path, Path]) -> None:
    first = ok("import", "achievements", libraries[0])
    assert "4 new, 0 updated, 0 unchanged, 0 rejected" in first.stderr
    before = table(workspace, "achievements", "id")
    second = ok("import", "achievements", libraries[0])
    assert "0 new, 0 updated, 4 unchanged" in second.stderr
    assert table(workspace, "achievements", "id") == before
    row = before[0]
    assert row["source_sheet"] == "成果" and row["source_row"] == 2
    assert row["batch_id"] == table(workspace, "import_batches", "id")[0]["id"]
    assert json.loads(row["extra"]) == {"联系人": "王老师0"}


def test_changed_rows_are_updated_and_marked_for_matching(
    tmp_path: Path, workspace: Path, libraries: tuple[Path, Path]
) -> None:
    ok("import", "demands", libraries[1], "-q")
    with __import__("sqlite3").connect(workspace / "fuzhi.db") as conn:
        conn.execute("UPDATE demands SET needs_match = 0")
    rows = [list(r) for r in DEMAND_ROWS]
    rows[1][1] = "钢板表面缺陷在线检测"
    rows.append(["D004", "新需求", "描述", "", "某公司", "", "", "", "", ""])
    changed = write_xlsx(tmp_path / "demands2.xlsx", rows)
    result = ok("import", "demands", changed)
    assert "1 new, 1 updated, 2 unchanged" in result.stderr
    pending = {r["id"] for r in table(workspace, "demands") if r["needs_match"]}
    assert pending == {"D001", "D004"}


def test_rejected_rows_listed_written_and_strict(tmp_path: Path, workspace: Path) -> None:
    rows = [*DEMAND_ROWS, ["D009", "", "", "", "某公司", "", "", "", "", ""]]
    bad = write_xlsx(tmp_path / "bad.xlsx", rows)
    strict = cli("import", "demands", bad, "--strict")
    assert strict.exit_code == ExitCode.INPUT
    assert "nothing imported" in strict.stderr
    assert table(workspace, "demands") == []
    problems = tmp_path / "problems.csv"
    result = ok("import", "demands", bad, "--problems", problems)
    assert "3 new" in result.stderr and "1 rejected" in result.stderr
    assert "row 5" in result.stderr
    assert "需求名称 or 需求描述" in problems.read_text(encoding="utf-8-sig")
    assert len(table(workspace, "demands")) == 3


def test_events_use_the_same_path(tmp_path: Path, workspace: Path) -> None:
    events = write_xlsx(
        tmp_path / "events.xlsx",
        [
            ["活动编号", "活动名称", "活动日期", "地区", "签约金额（万元）", "对接人"],
            ["E1", "成果路演", "2025-06-01", "南京", "50万元", "李四"],
        ],
    )
    ok("import", "events", events, "-q")
    (row,) = table(workspace, "events")
    assert row["date"] == "2025-06-01" and row["amount"] == 50.0
    assert json.loads(row["extra"]) == {"对接人": "李四"}
