"""The streaming xlsx writer and the CSV/JSON writers, read back by real readers."""

from __future__ import annotations

import datetime as dt
import math
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from fuzhi.report.writers import CellKind, Column, Sheet, write_csv, write_xlsx

COLUMNS = [
    Column("编号"),
    Column("名称 & <说明>", wrap=True),
    Column("数量", CellKind.INT),
    Column("得分", CellKind.PERCENT),
    Column("金额（万元）", CellKind.MONEY),
    Column("日期", CellKind.DATE),
]
ROWS = [
    ["A1", "=SUM(1,2) 不是公式", np.int64(3), 0.875, 1234.5, dt.date(2025, 7, 1)],
    ["A2", "  前后空格  ", None, float("nan"), pd.NA, None],
    ["A3", "控制\x01字符与 \"引号\" & 'x'", 0, 1.0, 0.0, dt.datetime(2025, 1, 2, 12, 0)],
]


def test_stream_workbook_reads_back_in_openpyxl(tmp_path: Path) -> None:
    out = tmp_path / "t.xlsx"
    write_xlsx(
        out, [Sheet("数据 'A'", COLUMNS, ROWS), Sheet("空表", [Column("x")], [], autofilter=False)]
    )
    wb = load_workbook(out)
    assert wb.sheetnames == ["数据 'A'", "空表"]
    ws = wb["数据 'A'"]
    assert [c.value for c in ws[1]] == [c.header for c in COLUMNS]
    assert ws["A1"].font.b and ws["A1"].fill.fgColor.rgb == "FFDDEBF7"
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:F4"
    assert ws.column_dimensions["B"].width >= 10
    assert ws["B2"].value == "=SUM(1,2) 不是公式" and ws["B2"].data_type == "s"
    assert ws["B2"].alignment.wrap_text
    assert (ws["C2"].value, ws["C2"].number_format) == (3, "0")
    assert (ws["D2"].value, ws["D2"].number_format) == (0.875, "0.0%")
    assert ws["E2"].number_format == "#,##0.00"
    assert ws["F2"].value == dt.datetime(2025, 7, 1) and ws["F2"].number_format == "yyyy-mm-dd"
    assert ws["B3"].value == "  前后空格  "
    assert [ws.cell(3, c).value for c in range(3, 7)] == [None, None, None, None]
    assert ws["B4"].value == "控制字符与 \"引号\" & 'x'"
    assert ws["F4"].value == dt.datetime(2025, 1, 2, 12, 0)
    assert wb["空表"].max_row == 1 and wb["空表"].auto_filter.ref is None
    with zipfile.ZipFile(out) as zf:
        assert "<f>" not in zf.read("xl/worksheets/sheet1.xml").decode()
        assert "_xlnm._FilterDatabase" in zf.read("xl/workbook.xml").decode()


def test_stream_workbook_reads_back_in_pandas(tmp_path: Path) -> None:
    out = tmp_path / "t.xlsx"
    write_xlsx(out, [Sheet("s", COLUMNS, ROWS)])
    frame = pd.read_excel(out, engine="calamine")
    assert list(frame["编号"]) == ["A1", "A2", "A3"]
    assert frame["得分"].iloc[0] == 0.875 and math.isnan(frame["得分"].iloc[1])


@pytest.mark.libreoffice
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) not installed")
def test_libreoffice_opens_the_stream_workbook(tmp_path: Path) -> None:
    out = tmp_path / "t.xlsx"
    write_xlsx(out, [Sheet("s", COLUMNS, ROWS)])
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{tmp_path}/lo",
            "--headless",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76",  # 76: UTF-8
            "--outdir",
            str(tmp_path / "csv"),
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    text = (tmp_path / "csv" / "t.csv").read_text(encoding="utf-8")
    assert "=SUM(1,2) 不是公式" in text and "87.5%" in text and "2025-07-01" in text


def test_csv_is_excel_safe(tmp_path: Path) -> None:
    out = tmp_path / "t.csv"
    write_csv(out, ["a", "b"], [["=1+1", "-2"], ["@x", "ok"], [1.5, None]])
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.decode("utf-8-sig").splitlines() == ["a,b", "'=1+1,'-2", "'@x,ok", "1.5,"]
