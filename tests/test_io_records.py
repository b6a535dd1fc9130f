"""Validation into records: aliases, overrides, parsed types, problems, stable IDs."""

from __future__ import annotations

import datetime as dt
import gc
from pathlib import Path

import pandas as pd
import pytest

from conftest import DEMAND_ROWS, write_xlsx
from fuzhi.errors import InputError, UsageError
from fuzhi.io.records import EXTRA, ROW, Severity, load_library
from fuzhi.schema import Kind


def test_canonical_headers_parse_into_typed_records(small_libraries: tuple[Path, Path]) -> None:
    a_path, d_path = small_libraries
    ach = load_library(a_path, Kind.ACHIEVEMENTS)
    assert list(ach.records["id"]) == ["A001", "A002", "A003", "A004"]
    assert list(ach.records["trl"]) == [7, 6, 5, 8]
    price = ach.records["price"]
    assert price[0] == 80 and price.isna()[1] and price[2] == 50 and price[3] == 2000
    assert ach.records["keywords"][0] == "机器视觉；缺陷检测；深度学习"
    assert list(ach.records[ROW]) == [3, 4, 5, 6]  # title row above the header
    dem = load_library(d_path, Kind.DEMANDS)
    assert list(dem.records["deadline"]) == [dt.date(2025, 7, 1)] * 3
    assert dem.records["budget"].isna()[2]
    assert not ach.problems and not dem.problems


def test_alias_headers(tmp_path: Path) -> None:
    rows = [
        ["编号", "项目名称", "摘要", "关键字", "领域", "行业", "持有单位", "省市", "TRL", "价格"],
        [
            "X1",
            "数字孪生工厂",
            "数字孪生与边缘计算",
            "数字孪生",
            "电子信息",
            "软件业",
            "某大学",
            "上海",
            "TRL 5",
            "30万",
        ],
    ]
    lib = load_library(write_xlsx(tmp_path / "a.xlsx", rows), Kind.ACHIEVEMENTS)
    rec = lib.records.iloc[0]
    assert (rec["id"], rec["title"], rec["holder"], rec["region"], rec["trl"], rec["price"]) == (
        "X1",
        "数字孪生工厂",
        "某大学",
        "上海",
        5,
        30.0,
    )
    assert lib.sources[0].columns["摘要"] == "description"


def test_column_override_and_unknown_columns_kept(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "d2.xlsx",
        [["需求名称", "难题描述", "联系人"], ["网关", "需要边缘计算网关", "张三"]],
    )
    lib = load_library(path, Kind.DEMANDS, overrides={"description": "难题描述"})
    rec = lib.records.iloc[0]
    assert rec["description"] == "需要边缘计算网关"
    assert rec[EXTRA] == {"联系人": "张三"}


def test_override_naming_missing_header(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "d.xlsx", DEMAND_ROWS)
    with pytest.raises(InputError, match="no column headed '问题'"):
        load_library(path, Kind.DEMANDS, overrides={"description": "问题"})
    with pytest.raises(UsageError, match="unknown demands field 'colour'"):
        load_library(path, Kind.DEMANDS, overrides={"colour": "需求描述"})


def test_sheet_without_name_or_description(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "d.xlsx", [["需求编号", "企业名称"], ["D1", "某公司"]], sheet="需求"
    )
    with pytest.raises(InputError) as info:
        load_library(path, Kind.DEMANDS)
    message = str(info.value)
    assert "d.xlsx" in message and "'需求'" in message and "需求名称 or 需求描述" in message


def test_problems_name_row_column_and_value(tmp_path: Path) -> None:
    rows = [
        DEMAND_ROWS[0],
        ["D1", "缺陷检测", "需要检测", "", "甲公司", "", "", "很高", "约几十万", "明年"],
        ["D2", "", "", "", "乙公司", "", "", "", "", ""],
        [],
        ["D1", "重复编号", "另一行", "", "丙公司", "", "", "", "", ""],
    ]
    lib = load_library(write_xlsx(tmp_path / "d.xlsx", rows, sheet="需求"), Kind.DEMANDS)
    assert list(lib.records["id"]) == ["D1"]
    warnings = [(p.row, p.column, p.value) for p in lib.problems if p.severity is Severity.WARNING]
    assert warnings == [
        (2, "期望成熟度", "很高"),
        (2, "预算（万元）", "约几十万"),
        (2, "截止日期", "明年"),
    ]
    rejected = [(p.row, p.severity) for p in lib.rejected]
    assert rejected == [(3, Severity.REJECTED), (5, Severity.REJECTED)]
    assert "row 2" in lib.rejected[1].expected
    assert lib.sources[0].rows_blank == 1 and lib.sources[0].rows_used == 1
    assert str(lib.problems[0]).startswith(
        f"{tmp_path / 'd.xlsx'}, sheet '需求', row 2, column '期望成熟度'"
    )


def test_missing_ids_are_stable_and_content_based(tmp_path: Path) -> None:
    rows = [
        ["成果名称", "成果简介"],
        ["边缘计算网关", "工业现场数据采集"],
        ["数字孪生", "产线仿真"],
    ]
    first = load_library(write_xlsx(tmp_path / "a.xlsx", rows), Kind.ACHIEVEMENTS)
    reordered = load_library(
        write_xlsx(tmp_path / "b.xlsx", [rows[0], rows[2], rows[1], []]), Kind.ACHIEVEMENTS
    )
    ids = dict(zip(first.records["title"], first.records["id"], strict=True))
    assert ids == dict(zip(reordered.records["title"], reordered.records["id"], strict=True))
    assert all(i.startswith("A-") for i in ids.values()) and len(set(ids.values())) == 2


def test_numeric_ids_read_as_text(tmp_path: Path) -> None:
    rows = [["成果编号", "成果名称"], [1001, "甲"], [1002.0, "乙"], ["00103", "丙"]]
    lib = load_library(write_xlsx(tmp_path / "a.xlsx", rows), Kind.ACHIEVEMENTS)
    assert list(lib.records["id"]) == ["1001", "1002", "00103"]


def test_event_rules_apply_on_every_load(tmp_path: Path) -> None:
    rows = [
        ["活动编号", "活动名称", "活动日期", "地区", "活动形式", "参与企业数"],
        ["E1", "赋智深度行·南京站", "2025-03-01", "江苏南京", "供需对接", "40"],
        ["E2", "线上发布会", "2025-04-01", "上海", "线上直播", "-3"],
        ["E3", "对接会", "2025-05-01", "上海", "供需对接", "100000000000000000000"],
    ]
    lib = load_library(write_xlsx(tmp_path / "e.xlsx", rows), Kind.EVENTS)
    assert list(lib.records["id"]) == ["E1", "E2", "E3"]
    flagged = {(p.row, p.column, p.value) for p in lib.problems}
    assert (3, "活动形式", "线上直播") in flagged and (3, "参与企业数", "-3") in flagged
    assert (4, "参与企业数", "100000000000000000000") in flagged  # beyond int64: a typo


def test_problems_come_row_by_row_in_sheet_column_order(tmp_path: Path) -> None:
    """Columns are validated a column at a time; problems still read down the sheet."""
    rows = [
        ["预算（万元）", "需求名称", "截止日期", "期望成熟度", "需求描述"],
        ["很多", "甲", "明年", "很高", ""],
        ["", "", "", "", ""],
        ["50", "", "后年", "十级", ""],  # two warnings, then rejected: no name or description
        ["约几十万", "乙", "2025-07-01", "6", "检测"],
        ["很多", "丙", "明年", "很高", "同上"],  # the same bad texts as row 2
    ]
    lib = load_library(write_xlsx(tmp_path / "d.xlsx", rows), Kind.DEMANDS)
    found = [(p.row, p.column, p.value, p.severity) for p in lib.problems]
    w, r = Severity.WARNING, Severity.REJECTED
    assert found == [
        (2, "预算（万元）", "很多", w),
        (2, "截止日期", "明年", w),
        (2, "期望成熟度", "很高", w),
        (4, "截止日期", "后年", w),
        (4, "期望成熟度", "十级", w),
        (4, None, "", r),
        (5, "预算（万元）", "约几十万", w),
        (6, "预算（万元）", "很多", w),
        (6, "截止日期", "明年", w),
        (6, "期望成熟度", "很高", w),
    ]
    assert list(lib.records["title"]) == ["甲", "乙", "丙"]
    assert list(lib.records[ROW]) == [2, 5, 6]
    assert lib.records["budget"].isna().tolist() == [True, True, True]
    assert list(lib.records["trl"].astype(object)) == [pd.NA, 6, pd.NA]
    assert lib.sources[0].rows_blank == 1 and lib.sources[0].rows_rejected == 1


def test_repeated_values_clean_and_parse_alike(tmp_path: Path) -> None:
    rows = [
        ["成果名称", "所在地区", "技术成熟度", "参考价格（万元）", "关键词"],
        *[
            [f"成果{i}", "江苏省，南京市", "ＴＲＬ６", "５０万元", "视觉；检测,视觉"]
            for i in range(3)
        ],
        ["成果3", "江苏省，南京市", 6, 50, "视觉；检测,视觉"],
    ]
    lib = load_library(write_xlsx(tmp_path / "a.xlsx", rows), Kind.ACHIEVEMENTS)
    assert set(lib.records["region"]) == {"江苏省,南京市"}
    assert list(lib.records["trl"]) == [6, 6, 6, 6]
    assert list(lib.records["price"]) == [50.0] * 4
    assert set(lib.records["keywords"]) == {"视觉；检测"}
    assert not lib.problems


def test_identical_rows_without_ids_are_duplicates(tmp_path: Path) -> None:
    rows = [
        ["成果名称", "成果简介", "所在地区"],
        ["边缘网关", "工业现场", "上海"],
        ["边缘网关", "工业现场", "北京"],
        ["边缘网关 ", "工业现场\n", "上海"],  # the same once cleaned
    ]
    lib = load_library(write_xlsx(tmp_path / "a.xlsx", rows), Kind.ACHIEVEMENTS)
    assert list(lib.records["region"]) == ["上海", "北京"]
    (dup,) = lib.rejected
    assert (dup.row, dup.column, dup.value) == (4, None, lib.records["id"][0])
    assert dup.expected.endswith("is on row 2")


def test_mixed_cell_types_in_an_id_column(tmp_path: Path) -> None:
    rows = [["成果编号", "成果名称"], [7, "甲"], [7.0, "乙"], [True, "丙"], ["7", "丁"]]
    lib = load_library(write_xlsx(tmp_path / "a.xlsx", rows), Kind.ACHIEVEMENTS)
    assert list(lib.records["id"]) == ["7", "True"]  # 7 and 7.0 read alike, a boolean does not
    assert [(p.row, p.column, p.value) for p in lib.rejected] == [
        (3, "成果编号", "7"),
        (5, "成果编号", "7"),
    ]


def test_all_rows_rejected_gives_an_empty_typed_frame(tmp_path: Path) -> None:
    rows = [["需求编号", "需求名称", "期望成熟度", "联系人"], ["D1", "", "6", "张三"]]
    lib = load_library(write_xlsx(tmp_path / "d.xlsx", rows), Kind.DEMANDS)
    assert lib.records.empty and len(lib.rejected) == 1
    ok = write_xlsx(tmp_path / "ok.xlsx", [rows[0], ["D1", "甲", "6", "张三"]])
    full = load_library(ok, Kind.DEMANDS)
    assert dict(lib.records.dtypes) == dict(full.records.dtypes)
    assert pd.api.types.is_object_dtype(lib.records[EXTRA]) and lib.records["trl"].dtype == "Int64"


def test_validation_leaves_the_garbage_collector_as_it_was(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "d.xlsx", DEMAND_ROWS)
    assert gc.isenabled()
    load_library(path, Kind.DEMANDS)
    assert gc.isenabled()
    gc.disable()
    try:
        load_library(path, Kind.DEMANDS)
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(InputError):
        load_library(path, Kind.DEMANDS, overrides={"description": "问题"})
    assert gc.isenabled()
