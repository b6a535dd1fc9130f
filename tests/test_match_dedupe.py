"""Near-duplicate clusters: the same achievement from several sources, nothing else."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook

from conftest import write_xlsx
from fuzhi.match.dedupe import find_duplicates, representatives
from fuzhi.pipeline import load
from fuzhi.report.duplicates import write_duplicates
from fuzhi.schema import Kind

DESC = (
    "采用深度学习和机器视觉技术，实现钢板表面缺陷的在线检测，检测准确率达到99%，已在三家钢厂应用。"
)
ROWS = [
    ["成果编号", "成果名称", "成果简介", "完成单位", "所在地区", "技术成熟度"],
    ["S-2", "基于机器视觉的钢板表面缺陷检测系统", DESC, "江南大学", "无锡", "TRL7"],
    [
        "S-1",
        "基于机器视觉的钢板表面缺陷检测系统",
        DESC + "获省科技进步奖。",
        "江南大学技术转移中心",
        "江苏无锡",
        "",
    ],
    [
        "S-3",
        "高性能碳纤维复合材料成型工艺",
        "开发碳纤维复合材料热压成型工艺，降低成本30%。",
        "北京化工大学",
        "北京",
        "6",
    ],
    [
        "S-4",
        "智能灌溉水肥一体化系统",
        "基于物联网传感器的土壤墒情监测与智能灌溉控制，节水40%。",
        "西北农林科技大学",
        "陕西",
        "5",
    ],
]


def test_cluster_found_with_differing_fields(tmp_path: Path) -> None:
    records = load(write_xlsx(tmp_path / "a.xlsx", ROWS), Kind.ACHIEVEMENTS).records
    clusters = find_duplicates(records)
    assert len(clusters) == 1
    cluster = clusters[0]
    assert cluster.cluster_id == "C0001"
    assert cluster.members == ["S-2", "S-1"]  # S-2 is the more complete record (has a TRL)
    assert set(cluster.differing) == {"description", "holder", "region"}  # a blank is no conflict
    assert all(0.9 <= s <= 1.0 for s in cluster.similarity.values())
    kept, others = representatives(records, clusters)
    assert sorted(kept["id"]) == ["S-2", "S-3", "S-4"] and others == {"S-2": ["S-1"]}


def test_workbook_lists_clusters(tmp_path: Path) -> None:
    records = load(write_xlsx(tmp_path / "a.xlsx", ROWS), Kind.ACHIEVEMENTS).records
    out = tmp_path / "dup.xlsx"
    write_duplicates(out, find_duplicates(records), records)
    ws = load_workbook(out)["重复成果"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:3] == ("簇编号", "代表成果", "成果编号")
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [
        ("C0001", "是", "S-2"),
        ("C0001", None, "S-1"),
    ]
    assert "完成单位" in rows[1][-1]


def test_no_duplicates_in_distinct_library(tmp_path: Path) -> None:
    records = load(write_xlsx(tmp_path / "a.xlsx", [ROWS[0], *ROWS[2:]]), Kind.ACHIEVEMENTS).records
    assert find_duplicates(records) == []
