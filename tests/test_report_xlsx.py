"""The progress workbook: sheets, headers, flagged months, charts; read back with openpyxl."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from fuzhi.config import Targets
from fuzhi.io.records import records_frame
from fuzhi.report.periods import parse_period
from fuzhi.report.progress import ProgressInputs, ProgressReport, build_progress
from fuzhi.report.progress_md import progress_markdown
from fuzhi.report.progress_xlsx import write_progress_xlsx
from fuzhi.schema import Kind

SHEETS_ZH = ["总览", "深度行", "地区", "行业", "趋势", "明细", "匹配明细"]


def small_report(period: str = "2025Q3") -> ProgressReport:
    """Two localities; 江苏 has no event in August; one event name looks like a formula."""
    events = records_frame(
        Kind.EVENTS,
        [
            {
                "id": "E1",
                "name": "=HYPERLINK(1)",
                "date": dt.date(2025, 7, 5),
                "region": "江苏省苏州市",
                "form": "成果路演",
                "enterprises": 40,
                "contracts": 3,
                "amount": 120.0,
            },
            {
                "id": "E2",
                "name": "路演二",
                "date": dt.date(2025, 9, 9),
                "region": "江苏",
                "form": "供需对接",
                "enterprises": 30,
                "contracts": 1,
                "amount": 50.0,
            },
            {
                "id": "E3",
                "name": "对接会",
                "date": dt.date(2025, 8, 1),
                "region": "北京市海淀区",
                "form": "大会论坛",
                "enterprises": 200,
                "contracts": 5,
                "amount": 800.0,
            },
        ],
    )
    achievements = records_frame(
        Kind.ACHIEVEMENTS,
        [{"id": "A1", "title": "t", "region": "北京", "industry": "C35专用设备制造业"}],
    )
    demands = records_frame(
        Kind.DEMANDS, [{"id": "D1", "title": "d", "region": "苏州", "industry": "通用设备制造业"}]
    )
    matches = pd.DataFrame(
        {
            "match_id": ["M1"],
            "demand_id": ["D1"],
            "achievement_id": ["A1"],
            "score": [0.7],
            "status": ["已签约"],
            "signed_amount": [90.0],
            "updated_at": ["2025-08-20"],
        }
    )
    inputs = ProgressInputs(achievements, demands, matches, events)
    return build_progress(inputs, parse_period(period), dt.date(2025, 9, 30), Targets())


@pytest.fixture
def workbook_path(tmp_path: Path) -> Path:
    path = tmp_path / "progress.xlsx"
    write_progress_xlsx(small_report(), path)
    return path


def test_sheets_headers_and_values(workbook_path: Path) -> None:
    wb = load_workbook(workbook_path)
    assert wb.sheetnames == SHEETS_ZH
    overview = wb["总览"]
    assert overview["A1"].value == "科技成果赋智中小企业专项行动进展报告"
    assert "2025年第3季度" in overview["A2"].value and "2025-09-30" in overview["A2"].value
    labels = [c.value for c in overview["A"]]
    assert "深度行活动场次" in labels and "待对接" in labels
    row = labels.index("深度行活动场次") + 1
    assert overview.cell(row, 2).value == 3
    events = wb["深度行"]
    header = [c.value for c in events[4]]
    assert header[:5] == ["地区", "区域", "7月", "8月", "9月"]
    rows = {r[0]: r for r in events.iter_rows(min_row=5, max_row=7, values_only=True)}
    assert rows["江苏省"][2:5] == (1, 0, 1)
    assert rows["合计"][2:5] == (1, 1, 1)
    jiangsu = next(r for r in range(5, 8) if events.cell(r, 1).value == "江苏省")
    assert events.cell(jiangsu, 4).fill.fgColor.rgb.endswith("F8CBAD")  # August, no event
    assert events.cell(jiangsu, 3).fill.fgColor.rgb == "00000000"
    detail = wb["明细"]
    assert [c.value for c in detail[1]][:3] == ["活动编号", "活动名称", "活动日期"]
    assert detail["B2"].value == "=HYPERLINK(1)" and detail["B2"].data_type == "s"
    assert wb["行业"]["A4"].value in ("通用设备制造业", "专用设备制造业")


def test_charts_are_native(workbook_path: Path) -> None:
    with zipfile.ZipFile(workbook_path) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        assert len(charts) == 3
        assert all(b"barChart" in z.read(n) for n in charts)


def test_english_sheet_names(tmp_path: Path) -> None:
    path = tmp_path / "en.xlsx"
    write_progress_xlsx(small_report(), path, "en")
    assert load_workbook(path).sheetnames[:2] == ["Overview", "Events"]


def test_empty_report_workbook_and_markdown_say_so(tmp_path: Path) -> None:
    report = small_report("2024Q1")
    assert report.empty
    path = tmp_path / "empty.xlsx"
    write_progress_xlsx(report, path)
    overview = load_workbook(path)["总览"]
    assert overview["A3"].value.startswith("本期无数据")
    assert "本期无数据" in progress_markdown(report)


def test_markdown_summary() -> None:
    text = progress_markdown(small_report())
    assert text.startswith("# 科技成果赋智中小企业专项行动进展报告：2025年第3季度")
    assert "待对接 1 → 已联系 1（100%）" in text
    assert "江苏省（8月）" in text


def test_column_letters_as_openpyxl_gives_them() -> None:
    from openpyxl.utils import get_column_letter as openpyxl_letters

    from fuzhi.report.xlsx_stream import get_column_letter

    assert [get_column_letter(i) for i in (1, 26, 27, 52, 53, 702, 703, 16384)] == [
        "A", "Z", "AA", "AZ", "BA", "ZZ", "AAA", "XFD",
    ]  # fmt: skip
    assert all(get_column_letter(i) == openpyxl_letters(i) for i in range(1, 18279))
