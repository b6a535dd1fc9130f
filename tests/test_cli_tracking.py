"""The tracking workbook and sync: structure, validation, merge rules, history, LibreOffice."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook

from conftest import DEMAND_ROWS, write_xlsx
from fuzhi.errors import ExitCode
from fuzhi.schema import Kind, alias_index, header_key
from workspace_fixtures import (
    EXAMPLES,
    cli,
    edit_workbook,
    libraries,
    ok,
    table,
    tracking_rows,
    workspace,
)

__all__ = ["libraries", "workspace"]

HEADERS = [
    "匹配编号",
    "需求编号",
    "需求名称",
    "企业名称",
    "成果编号",
    "成果名称",
    "完成单位",
    "得分",
    "匹配理由",
    "状态",
    "负责人",
    "下次跟进日期",
    "签约金额（万元）",
    "备注",
]


@pytest.fixture
def matched(workspace: Path, libraries: tuple[Path, Path], tmp_path: Path) -> Path:
    rows = [list(r) for r in DEMAND_ROWS]
    rows[1][1] = '=HYPERLINK("http://x")钢板检测'  # user text that looks like a formula
    ok("import", "achievements", libraries[0], "-q")
    ok("import", "demands", write_xlsx(tmp_path / "d.xlsx", rows), "-q")
    ok("match", "-k", "2", "-q")
    return workspace


def test_workbook_layout(matched: Path, tmp_path: Path) -> None:
    out = tmp_path / "跟踪.xlsx"
    ok("export", "tracking", "-o", out, "-q")
    wb = load_workbook(out)
    assert wb.sheetnames[0] == "跟踪"
    assert {s.title: s.sheet_state for s in wb.worksheets} == {
        "跟踪": "visible",
        "选项": "hidden",
        "_fuzhi": "veryHidden",
    }
    ws = wb["跟踪"]
    header = [c.value for c in ws[1]]
    assert header[: len(HEADERS)] == HEADERS and "联系人" in header
    assert ws.column_dimensions["A"].hidden and ws.freeze_panes == "B2"
    assert ws.auto_filter.ref == f"A1:{ws.cell(1, len(header)).column_letter}7"
    p = ws.protection
    assert p.sheet and not p.password and p.autoFilter is False and p.sort is False
    (dv,) = ws.data_validations.dataValidation
    assert dv.type == "list" and dv.formula1 == "'选项'!$A$1:$A$6" and "J2" in str(dv.sqref)
    assert [r[0].value for r in wb["选项"].iter_rows()] == [
        "待对接",
        "已联系",
        "洽谈中",
        "已签约",
        "已落地",
        "不合适",
    ]
    for col in range(1, len(header) + 1):
        name = header[col - 1]
        locked = ws.cell(2, col).protection.locked
        assert locked is (
            name not in {"状态", "负责人", "下次跟进日期", "签约金额（万元）", "备注"}
        )
    titles = [c for c in ws["C"][1:] if str(c.value).startswith("=")]
    assert titles and all(c.data_type == "s" for c in titles)
    assert all(r["状态"] == "待对接" for r in tracking_rows(out))
    meta = {r[0].value: r[1].value for r in wb["_fuzhi"].iter_rows(max_row=6)}
    assert meta["export_id"].startswith("X-") and meta["schema_version"] == "4"
    en = tmp_path / "en.xlsx"
    ok("export", "tracking", "-o", en, "--lang", "en", "-q")
    assert load_workbook(en).sheetnames[0] == "Tracking"


def test_filters(matched: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.xlsx"
    ok("export", "tracking", "-o", out, "--region", "陕西", "-q")
    assert {r["需求编号"] for r in tracking_rows(out)} == {"D003"}
    ok("export", "tracking", "-o", out, "--status", "已签约", "-q")
    assert tracking_rows(out) == []
    ok("export", "tracking", "-o", out, "--since", "2000-01-01", "-q")
    assert len(tracking_rows(out)) == 6
    assert cli("export", "tracking", "-o", out, "--status", "好").exit_code == ExitCode.USAGE


def test_sync_rules(matched: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.xlsx"
    ok("export", "tracking", "-o", out, "-q")
    ids = [r["匹配编号"] for r in tracking_rows(out)]
    bad = edit_workbook(
        out,
        tmp_path / "bad.xlsx",
        {
            ids[0]: {"状态": "联系中", "备注": "ok"},
            ids[1]: {"签约金额（万元）": "很多"},
            ids[2]: {"下次跟进日期": "下周"},
        },
    )
    result = cli("sync", bad)
    assert result.exit_code == ExitCode.INPUT
    for text in ("row 2, column '状态'", "'联系中'", "签约金额", "下次跟进日期", "nothing applied"):
        assert text in result.stderr
    assert table(matched, "history") == [] and {r["note"] for r in table(matched, "matches")} == {
        None
    }

    good = edit_workbook(
        out,
        tmp_path / "good.xlsx",
        {
            ids[0]: {"状态": "已联系", "备注": "=已电话联系"},
            ids[1]: {"状态": "signed", "签约金额（万元）": "0.5亿", "下次跟进日期": "2025年8月1日"},
        },
        reverse_rows=True,
        add_column="我的备忘",
    )
    dry = ok("sync", good, "--dry-run")
    assert "5 change(s) would apply" in dry.stderr and table(matched, "history") == []
    result = ok("sync", good)
    assert "5 change(s) applied" in result.stderr
    rows = {r["match_id"]: r for r in table(matched, "matches")}
    assert rows[ids[0]]["status"] == "已联系" and rows[ids[0]]["note"] == "=已电话联系"
    assert rows[ids[1]]["status"] == "已签约" and rows[ids[1]]["contract_amount"] == 5000.0
    assert rows[ids[1]]["next_follow_up"] == "2025-08-01"
    again = ok("sync", good)
    assert "0 change(s) applied" in again.stderr
    assert len(table(matched, "history")) == 5
    trail = ok("history", ids[1]).stdout
    assert "状态: 待对接 → 已签约" in trail and "签约金额（万元）: （空） → 5000" in trail

    # the same row edited in the workspace (through a newer workbook) and in the old one
    newer = tmp_path / "newer.xlsx"
    ok("export", "tracking", "-o", newer, "-q")
    ok("sync", edit_workbook(newer, tmp_path / "n2.xlsx", {ids[2]: {"备注": "甲说"}}), "-q")
    stale = edit_workbook(out, tmp_path / "stale.xlsx", {ids[2]: {"备注": "乙说", "负责人": "乙"}})
    result = cli("sync", stale)
    assert result.exit_code == ExitCode.INPUT
    assert "conflict: row" in result.stderr and "'甲说'" in result.stderr
    row = {r["match_id"]: r for r in table(matched, "matches")}[ids[2]]
    assert row["note"] == "甲说" and row["owner"] == "乙"  # the non-conflicting edit landed
    ok("sync", stale, "--prefer", "workbook", "-q")
    assert {r["match_id"]: r for r in table(matched, "matches")}[ids[2]]["note"] == "乙说"


def _reworded(src: Path, dst: Path) -> Path:
    """A copy of a demand workbook with the first demand's title reworded."""
    wb = load_workbook(src)
    ws = wb.worksheets[0]
    index = alias_index(Kind.DEMANDS)
    for row in ws.iter_rows(max_row=15):
        titles = [c for c in row if index.get(header_key(c.value or "")) == "title"]
        if titles:
            cell = ws.cell(titles[0].row + 1, titles[0].column)
            cell.value = f"{cell.value}（更新）"
            break
    wb.save(dst)
    return dst


def _loop(workspace: Path, tmp_path: Path, a: Path, d: Path, via_libreoffice: bool) -> None:
    """init → import → match → export → edit → sync → re-import → match → export."""
    ok("import", "achievements", a, "-q")
    ok("import", "demands", d, "-q")
    ok("match", "-k", "3", "-q")
    first = tmp_path / "first.xlsx"
    ok("export", "tracking", "-o", first, "-q")
    ids = [r["匹配编号"] for r in tracking_rows(first)][:4]
    edits = {
        ids[0]: {"状态": "已联系", "备注": "周一电话"},
        ids[1]: {"状态": "洽谈中", "负责人": "张三", "下次跟进日期": "2025-09-01"},
        ids[2]: {"状态": "不合适", "备注": "方向不符"},
        ids[3]: {"状态": "已签约", "签约金额（万元）": 120},
    }
    edited = edit_workbook(first, tmp_path / "edited.xlsx", edits)
    if via_libreoffice:
        outdir = tmp_path / "lo"
        subprocess.run(
            [
                "soffice",
                "--headless",
                f"-env:UserInstallation=file://{tmp_path / 'profile'}",
                "--convert-to",
                "xlsx",
                "--outdir",
                str(outdir),
                str(edited),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
        edited = outdir / "edited.xlsx"
    bad = edit_workbook(first, tmp_path / "bad.xlsx", {ids[0]: {"状态": "搞定了"}})
    assert cli("sync", bad).exit_code == ExitCode.INPUT
    assert table(workspace, "history") == []
    ok("sync", edited, "-q")
    assert "0 change(s) applied" in ok("sync", edited).stderr
    assert len(table(workspace, "history")) == 9

    # an updated library: one demand reworded, one new; then an incremental match
    more = _reworded(d, tmp_path / "more.xlsx")
    result = ok("import", "demands", more)
    assert "1 updated" in result.stderr
    ok("match", "-k", "3", "-q")
    last = tmp_path / "last.xlsx"
    ok("export", "tracking", "-o", last, "-q")
    final = {r["匹配编号"]: r for r in tracking_rows(last)}
    for mid, change in edits.items():
        for header, value in change.items():
            got = final[mid][header]
            if header == "下次跟进日期":
                got = got.date().isoformat()
            assert got == value, (mid, header)
    for mid in ids:
        assert f"{mid}: demand" in ok("history", mid).stdout
    stale = edit_workbook(first, tmp_path / "stale.xlsx", {ids[0]: {"备注": "别的说法"}})
    result = cli("sync", stale)
    assert result.exit_code == ExitCode.INPUT and "conflict" in result.stderr


def test_analyst_loop_on_examples(
    workspace: Path, tmp_path: Path, libraries: tuple[Path, Path]
) -> None:
    a, d = EXAMPLES / "achievements.xlsx", EXAMPLES / "demands.xlsx"
    if not (a.exists() and d.exists()):
        a, d = libraries
    _loop(workspace, tmp_path, a, d, via_libreoffice=False)


@pytest.mark.libreoffice
@pytest.mark.skipif(shutil.which("soffice") is None, reason="soffice is not on PATH")
def test_analyst_loop_through_libreoffice(
    workspace: Path, tmp_path: Path, libraries: tuple[Path, Path]
) -> None:
    _loop(workspace, tmp_path, *libraries, via_libreoffice=True)
