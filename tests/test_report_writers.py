"""The streaming xlsx writer and the CSV/JSON writers, read back by real readers."""

from __future__ import annotations

import datetime as dt
import math
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from python_calamine import CalamineWorkbook

from fuzhi.report import xlsx_stream
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


TRICKY_COLUMNS = [
    Column("编号"),
    Column("文本", wrap=True),
    Column("整数", CellKind.INT),
    Column("得分", CellKind.PERCENT),
    Column("日期", CellKind.DATE),
    Column("混合"),
]
LONG = "长" * 40_000


def tricky_rows() -> list[list[object]]:
    """(ID, text, int, score, date, mixed) rows; IDs and texts repeat, scores do not."""
    texts = [
        "控制\x00\x01字符\x0b\x1f\ufffe去掉",
        "  前后空格  ",
        " ",
        "行一\n行二\t制表",
        "<a href=\"x\">&amp;</a> '引号'",
        "=SUM(A1:A2)",
        LONG,
        "",
        None,
    ]
    numbers = [np.int64(7), 3, None, pd.NA, np.int32(-2), 10**15]
    scores = [0.5, np.float64(0.25), np.float32(0.75), float("nan"), float("inf"), None, -0.0, 0.0]
    dates = [dt.date(2025, 7, 1), dt.datetime(2025, 1, 2, 12, 0), pd.NaT, None]
    mixed = [1, 1.0, "1", np.nan, pd.NA, dt.date(2024, 2, 29), -0.0, "甲", np.bool_(True), False]
    rows = []
    for i in range(40):
        rows.append(
            [
                f"A{i // 4:03d}",
                texts[i % len(texts)],
                numbers[i % len(numbers)],
                scores[i % len(scores)] if i % 7 else i / 1000,
                dates[i % len(dates)],
                mixed[i % len(mixed)],
            ]
        )
    rows.append(["短行", "只有两列"])  # short rows end in empty cells
    rows.append(["长行", "x", 1, 0.1, None, "m", "多出来的值被忽略"])
    return rows


def _expected(value: object, kind: CellKind) -> object:
    """What a reader gets back for ``value`` (openpyxl: dates in date columns as datetime)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):  # text, not a number cell
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        text = "".join(c for c in value if c in "\t\n" or c >= " ")
        return text.replace("\ufffe", "")[:32_767] or None
    if isinstance(value, dt.date) and kind is not CellKind.DATE:  # a serial day number
        if isinstance(value, dt.datetime):
            return (value - dt.datetime(1899, 12, 30)).total_seconds() / 86_400
        return (value - dt.date(1899, 12, 30)).days
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day)
    return value


@pytest.mark.parametrize("chunk", [5_000, 3])
def test_tricky_values_read_back_cell_by_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Every cell as openpyxl and calamine read it, across chunks (3 rows: caches, runs)."""
    monkeypatch.setattr(xlsx_stream, "_ROWS_PER_CHUNK", chunk)
    rows = tricky_rows()
    out = tmp_path / "tricky.xlsx"
    write_xlsx(out, [Sheet("值", TRICKY_COLUMNS, rows)])
    kinds = [c.kind for c in TRICKY_COLUMNS]
    expected = [
        [_expected(row[i] if i < len(row) else None, kind) for i, kind in enumerate(kinds)]
        for row in rows
    ]
    ws = load_workbook(out)["值"]
    assert ws.max_row == len(rows) + 1 and ws.max_column == len(kinds)
    got = [list(r) for r in ws.iter_rows(min_row=2, values_only=True)]
    for r, (want, have) in enumerate(zip(expected, got, strict=True), start=2):
        for c, (w, h) in enumerate(zip(want, have, strict=True)):
            assert type(h) is type(w) and h == w, (r, c, w, h)
    assert ws["B3"].alignment.wrap_text and ws["C2"].number_format == "0"
    assert ws["D2"].number_format == "0.0%" and ws["E2"].number_format == "yyyy-mm-dd"
    assert ws["F2"].number_format == "General" and ws["F3"].value == 1.0

    calamine = CalamineWorkbook.from_path(str(out)).get_sheet_by_name("值").to_python()
    assert calamine[0] == [c.header for c in TRICKY_COLUMNS]
    for r, (want, have) in enumerate(zip(expected, calamine[1:], strict=True), start=2):
        for c, (w, h) in enumerate(zip(want, have, strict=True)):
            if w is None:
                assert h == "", (r, c, h)
            elif isinstance(w, dt.datetime) and w.time() == dt.time():
                assert h in (w, w.date()), (r, c, w, h)
            else:
                assert h == w, (r, c, w, h)


def test_rows_that_fail_midway_leave_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xlsx_stream, "_ROWS_PER_CHUNK", 2)

    def rows() -> Iterator[list[object]]:
        yield from ([f"r{i}", i] for i in range(250))  # past the 200 rows sampled for widths
        raise KeyError("lost row")

    out = tmp_path / "half.xlsx"
    with pytest.raises(KeyError, match="lost row"):
        write_xlsx(out, [Sheet("s", [Column("a"), Column("b")], rows())])
    assert not out.exists() and not list(tmp_path.glob(".half.xlsx*"))


def _one_cell_at_a_time(
    first: int, rows: list[list[object]], styles: list[xlsx_stream.Style]
) -> str:
    """The sheet rows' XML as the writer used to build it: cell by cell, nothing cached."""
    out = []
    for r, row in enumerate(rows, start=first):
        out.append(f'<row r="{r}">')
        for letter, style, value in zip("ABCD", styles, row, strict=False):
            if (tail := xlsx_stream._cell_tail(value, style)) is not None:
                out.append(f'<c r="{letter}{r}"{tail}')
        out.append("</row>")
    return "".join(out)


_ANY_VALUE = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "甲", "A001", "a\x01b", "&<>", float("nan"), -0.0, 0.0, 1, 1.0]),
    st.text(max_size=8),
    st.integers(-(10**20), 10**20),
    st.floats(),
    st.booleans(),
    st.dates(),
)
_FLOATS = st.one_of(st.none(), st.sampled_from([0.0, -0.0, float("nan"), 0.5]), st.floats())
_TEXTS = st.one_of(st.none(), st.sampled_from(["", "  a", "甲"]), st.text(max_size=6))
_INTS = st.one_of(st.none(), st.integers(-(10**20), 10**20))
_COLUMN = st.one_of(
    *(st.lists(v, min_size=1, max_size=4) for v in (_ANY_VALUE, _FLOATS, _TEXTS, _INTS))
)


@settings(max_examples=300, deadline=None)
@given(
    columns=st.lists(_COLUMN, min_size=4, max_size=4),
    rows=st.integers(1, 30),
    chunk=st.integers(1, 7),
)
@example(columns=[[0.0], [-0.0], [0.0, -0.0], [1.0]], rows=4, chunk=1)
def test_column_wise_xml_equals_cell_by_cell(
    columns: list[list[object]], rows: int, chunk: int
) -> None:
    """Chunked, cached, column-wise XML is exactly the cell-by-cell XML (repeats, -0.0, NaN)."""
    table = [[col[i % len(col)] for col in columns] for i in range(rows)]
    table[0] = table[0][: rows % 5]  # a short row
    styles = [xlsx_stream.Style.TEXT, xlsx_stream.Style.WRAP, xlsx_stream.Style.INT]
    styles.append(xlsx_stream.Style.PERCENT)
    state = [xlsx_stream._Column(style) for style in styles]
    built = b"".join(
        xlsx_stream._rows_xml(i + 2, table[i : i + chunk], list("ABCD"), state)
        for i in range(0, rows, chunk)
    ).decode()
    assert built == _one_cell_at_a_time(2, table, styles)


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
