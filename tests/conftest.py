"""Shared fixtures: state kept in tmp_path, helpers that build real workbooks and CSVs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

Rows = Sequence[Sequence[Any]]


@pytest.fixture(autouse=True)
def _isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point every state and cache folder at a temporary directory; never the user's home."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("FUZHI_CACHE_DIR", str(state / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(state / "xdg-cache"))
    monkeypatch.delenv("FUZHI_WORKSPACE", raising=False)
    monkeypatch.delenv("FUZHI_LANG", raising=False)
    monkeypatch.delenv("FUZHI_QUIET", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")


def write_xlsx(
    path: Path, rows: Rows, sheet: str = "Sheet1", extra_sheets: dict[str, Rows] | None = None
) -> Path:
    """A real workbook with ``rows`` (first row is whatever the test says: title or header)."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet
    for target, data in [
        (ws, rows),
        *((wb.create_sheet(n), r) for n, r in (extra_sheets or {}).items()),
    ]:
        for row in data:
            target.append(list(row))
            for cell in target[target.max_row]:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # text as typed, even when it starts with "="
    wb.save(path)
    return path


def write_csv(path: Path, rows: Rows, encoding: str = "utf-8") -> Path:
    import csv

    with path.open("w", encoding=encoding, newline="") as fh:
        csv.writer(fh).writerows([["" if v is None else v for v in r] for r in rows])
    return path


@pytest.fixture
def xlsx(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str, rows: Rows, **kw: Any) -> Path:
        return write_xlsx(tmp_path / name, rows, **kw)

    return make


ACHIEVEMENT_ROWS: list[list[Any]] = [
    [
        "成果编号",
        "成果名称",
        "成果简介",
        "关键词",
        "技术领域",
        "所属行业",
        "完成单位",
        "所在地区",
        "技术成熟度",
        "参考价格（万元）",
    ],
    [
        "A001",
        "基于机器视觉的表面缺陷检测系统",
        "采用深度学习和机器视觉技术，实现钢板表面缺陷的在线检测，检测准确率达到99%。",
        "机器视觉；缺陷检测；深度学习",
        "先进制造与自动化",
        "通用设备制造业",
        "江南大学",
        "江苏省无锡市",
        "TRL7",
        "80万元",
    ],
    [
        "A002",
        "高性能碳纤维复合材料成型工艺",
        "开发碳纤维复合材料热压成型工艺，降低成本30%，适用于汽车轻量化部件。",
        "碳纤维复合材料；轻量化",
        "新材料",
        "汽车制造业",
        "北京化工大学",
        "北京市朝阳区",
        "6级",
        "面议",
    ],
    [
        "A003",
        "智能灌溉水肥一体化系统",
        "基于物联网传感器的土壤墒情监测与智能灌溉控制，节水40%。",
        "智能灌溉；物联网；水肥一体化",
        "资源与环境",
        "农业",
        "西北农林科技大学",
        "陕西杨凌",
        "五级",
        "50",
    ],
    [
        "A004",
        "工业废水深度处理膜技术",
        "采用新型陶瓷膜对印染废水进行深度处理，出水达到回用标准。",
        "废水处理；陶瓷膜",
        "资源与环境",
        "生态保护和环境治理业",
        "南京工业大学",
        "南京",
        "TRL8",
        "0.2亿",
    ],
]

DEMAND_ROWS: list[list[Any]] = [
    [
        "需求编号",
        "需求名称",
        "需求描述",
        "关键词",
        "企业名称",
        "所属行业",
        "所在地区",
        "期望成熟度",
        "预算（万元）",
        "截止日期",
    ],
    [
        "D001",
        "钢板表面缺陷自动检测",
        "我公司生产冷轧钢板，人工目检效率低，希望引进机器视觉缺陷检测技术。",
        "缺陷检测；机器视觉",
        "苏州某钢铁有限公司",
        "黑色金属冶炼和压延加工业",
        "苏州工业园区",
        "6",
        "100万元",
        "2025-07-01",
    ],
    [
        "D002",
        "印染废水回用处理",
        "企业印染废水排放量大，需要深度处理技术实现中水回用。",
        "废水处理；回用",
        "绍兴某印染有限公司",
        "纺织业",
        "浙江省绍兴市",
        "TRL7",
        "300",
        "2025/7/1",
    ],
    [
        "D003",
        "果园节水灌溉",
        "果园灌溉用水浪费严重，希望采用智能灌溉和水肥一体化技术。",
        "智能灌溉",
        "陕西某果业有限公司",
        "农业",
        "陕西省西安市",
        "",
        "面议",
        "2025年7月1日",
    ],
]


@pytest.fixture
def small_libraries(tmp_path: Path) -> tuple[Path, Path]:
    a = write_xlsx(
        tmp_path / "achievements.xlsx",
        [["2025年度科技成果项目库"], *ACHIEVEMENT_ROWS],
        sheet="成果",
    )
    d = write_xlsx(tmp_path / "demands.xlsx", DEMAND_ROWS, sheet="需求")
    return a, d


TODAY = dt.date(2025, 7, 1)
Maker = Callable[..., Path]
