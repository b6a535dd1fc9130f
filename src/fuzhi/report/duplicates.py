"""Write near-duplicate clusters as a workbook (Chinese headers by default)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fuzhi.match.dedupe import Cluster
from fuzhi.report.writers import CellKind, Column, Sheet, write_xlsx
from fuzhi.schema import Kind, Lang, field_by_name

_SHOWN = ("id", "title", "holder", "region", "trl", "price", "field")
_KINDS = {"trl": CellKind.INT, "price": CellKind.MONEY}


def _columns(lang: Lang) -> list[Column]:
    zh = lang is Lang.ZH
    columns = [
        Column("簇编号" if zh else "Cluster", width=9),
        Column("代表成果" if zh else "Representative", width=10),
    ]
    for name in _SHOWN:
        f = field_by_name(Kind.ACHIEVEMENTS, name)
        columns.append(Column(f.header(lang), _KINDS.get(name, CellKind.TEXT)))
    columns.append(Column("相似度" if zh else "Similarity", CellKind.PERCENT, width=10))
    columns.append(Column("不一致字段" if zh else "Differing fields", width=30))
    return columns


def _rows(clusters: Sequence[Cluster], records: pd.DataFrame, lang: Lang) -> Iterator[list[Any]]:
    zh = lang is Lang.ZH
    by_id = records.set_index("id", drop=False)
    for c in clusters:
        differing = ("、" if zh else ", ").join(
            field_by_name(Kind.ACHIEVEMENTS, n).header(lang) for n in c.differing
        )
        for i, member in enumerate(c.members):
            row = by_id.loc[member]
            mark = ("是" if zh else "yes") if i == 0 else ""
            values = [None if pd.isna(row[n]) else row[n] for n in _SHOWN]
            yield [c.cluster_id, mark, *values, c.similarity[member], differing]


def write_duplicates(
    path: Path, clusters: Sequence[Cluster], records: pd.DataFrame, lang: Lang | str = Lang.ZH
) -> None:
    lang = Lang(lang)
    name = "重复成果" if lang is Lang.ZH else "Duplicates"
    write_xlsx(path, [Sheet(name, _columns(lang), _rows(clusters, records, lang))])
