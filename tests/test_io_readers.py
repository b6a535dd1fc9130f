"""Reading workbooks and CSVs: header detection, sheet choice, encodings, errors."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest

from conftest import ACHIEVEMENT_ROWS, DEMAND_ROWS, write_csv, write_xlsx
from fuzhi.errors import ExitCode, InputError
from fuzhi.io.readers import gc_paused, read_table
from fuzhi.schema import Kind


def test_header_found_below_title_rows(tmp_path: Path) -> None:
    rows = [["2025年度科技成果项目库（第三批）"], [], *ACHIEVEMENT_ROWS]
    path = write_xlsx(tmp_path / "a.xlsx", rows, sheet="成果")
    table = read_table(path, Kind.ACHIEVEMENTS)
    assert table.header_row == 3
    assert table.first_row == 4
    assert table.headers[:3] == ["成果编号", "成果名称", "成果简介"]
    assert table.rows[0][0] == "A001"
    assert table.sheet == "成果"


def test_sheet_is_chosen_by_its_headers(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "a.xlsx",
        [["说明"], ["本表为填报说明"]],
        sheet="说明",
        extra_sheets={"需求": DEMAND_ROWS},
    )
    table = read_table(path, Kind.DEMANDS)
    assert table.sheet == "需求"
    assert len(table.rows) == len(DEMAND_ROWS) - 1


def test_named_sheet_missing_lists_sheets(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", ACHIEVEMENT_ROWS, sheet="成果")
    with pytest.raises(InputError, match=r"no sheet named '不存在'; sheets: 成果"):
        read_table(path, Kind.ACHIEVEMENTS, sheet="不存在")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings(tmp_path: Path, encoding: str) -> None:
    path = write_csv(tmp_path / "d.csv", DEMAND_ROWS, encoding=encoding)
    table = read_table(path, Kind.DEMANDS)
    assert table.headers[0] == "需求编号"
    assert table.rows[0][1] == "钢板表面缺陷自动检测"
    assert table.sheet is None


def test_empty_sheet_is_an_input_error(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "empty.xlsx", [])
    with pytest.raises(InputError, match="empty") as info:
        read_table(path, Kind.DEMANDS)
    assert info.value.exit_code is ExitCode.INPUT
    assert "empty.xlsx" in str(info.value)


def test_sheet_without_known_headers(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "x.xlsx", [["甲", "乙"], [1, 2]])
    with pytest.raises(InputError, match="no header row found"):
        read_table(path, Kind.DEMANDS)


def test_rows_are_cut_or_padded_to_the_header(tmp_path: Path) -> None:
    rows = [
        ["需求编号", "需求名称", "需求描述"],
        ["D1", "网关"],  # short: padded
        ["D2", "视觉", "检测", "多出的格"],  # long: cut at the last header
        ["D3", "孪生", "仿真"],
    ]
    table = read_table(write_csv(tmp_path / "d.csv", rows), Kind.DEMANDS)
    assert table.rows == [["D1", "网关", None], ["D2", "视觉", "检测"], ["D3", "孪生", "仿真"]]
    wide = [[*rows[0], "", ""], ["D1", "网关", "", "", "备注在无表头的列"], ["D2", "视觉", "检测"]]
    table = read_table(write_xlsx(tmp_path / "d.xlsx", wide), Kind.DEMANDS)
    assert table.headers == ["需求编号", "需求名称", "需求描述"]
    assert [r[:2] for r in table.rows] == [["D1", "网关"], ["D2", "视觉"]]
    assert all(len(r) == 3 for r in table.rows)


def test_reading_leaves_the_garbage_collector_enabled(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "d.xlsx", DEMAND_ROWS)
    read_table(path, Kind.DEMANDS)
    assert gc.isenabled()
    with pytest.raises(InputError):
        read_table(write_xlsx(tmp_path / "x.xlsx", [["甲", "乙"], [1, 2]]), Kind.DEMANDS)
    assert gc.isenabled()


def test_garbage_collector_pauses_overlap_across_threads() -> None:
    """One file read in a thread while another validates: GC stays off until both are done."""
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with gc_paused():
            inside.set()
            release.wait(timeout=10)

    other = threading.Thread(target=hold)
    other.start()
    try:
        assert inside.wait(timeout=10)
        with gc_paused():
            release.set()
            other.join()  # the other pause, begun first, ends first
            assert not gc.isenabled()
    finally:
        release.set()
        other.join()
    assert gc.isenabled()
