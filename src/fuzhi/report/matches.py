"""Write match results: a formatted workbook, an Excel-safe CSV, or JSON lines.

The workbook speaks Chinese by default (``lang="en"`` for English): matches per demand,
matches per achievement when asked, the problems found in the inputs, and a sheet that
describes the run (inputs with row counts and SHA-256, parameters, version, time).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

import pandas as pd

from fuzhi import __version__
from fuzhi.errors import UsageError
from fuzhi.io.readers import gc_paused
from fuzhi.io.records import Library, Problem
from fuzhi.match.engine import MatchResult
from fuzhi.match.factors import FACTORS
from fuzhi.match.reasons import explain
from fuzhi.report.writers import CellKind, Column, Sheet, write_csv, write_jsonl, write_xlsx
from fuzhi.schema import Kind, Lang, field_by_name, result_label


class OutputFormat(StrEnum):
    XLSX = "xlsx"
    CSV = "csv"
    JSONL = "jsonl"

    @classmethod
    def from_path(cls, path: Path | None, given: OutputFormat | None) -> OutputFormat:
        if given is not None:
            return given
        if path is None:
            return cls.JSONL
        suffix = path.suffix.lower().lstrip(".")
        if suffix in ("xlsx", "csv", "jsonl"):
            return cls(suffix)
        if suffix in ("json", "ndjson"):
            return cls.JSONL
        raise UsageError(
            f"{path}: cannot tell the format from the suffix; use --format xlsx|csv|jsonl"
        )


SHEET_NAMES: dict[str, tuple[str, str]] = {
    "demand": ("按需求匹配", "By demand"),
    "achievement": ("按成果匹配", "By achievement"),
    "problems": ("问题行", "Problems"),
    "run": ("运行信息", "Run"),
}


def sheet_name(key: str, lang: Lang | str) -> str:
    zh, en = SHEET_NAMES[key]
    return zh if Lang(lang) is Lang.ZH else en


@dataclass
class RunInfo:
    """What the run sheet records about how the results were made."""

    achievements: Library
    demands: Library
    parameters: dict[str, Any]
    model_version: str
    duplicates: dict[str, list[str]] = field(default_factory=dict)  # representative → others
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now().astimezone())
    version: str = __version__


# (side, field, zh, en) of the record columns shown around each match.
_RecordCol = tuple[str, str, str | None, str | None]
_DEMAND_COLS: tuple[_RecordCol, ...] = (
    ("d", "id", None, "Demand ID"),
    ("d", "title", None, "Demand title"),
    ("d", "enterprise", None, None),
    ("d", "region", "需求地区", "Demand region"),
    ("d", "trl", None, None),
    ("d", "budget", None, None),
)
_ACHIEVEMENT_COLS: tuple[_RecordCol, ...] = (
    ("a", "id", None, "Achievement ID"),
    ("a", "title", None, "Achievement title"),
    ("a", "holder", None, None),
    ("a", "field", None, None),
    ("a", "region", "成果地区", "Achievement region"),
    ("a", "trl", None, None),
    ("a", "price", None, None),
)
_KIND_OF = {"d": Kind.DEMANDS, "a": Kind.ACHIEVEMENTS}
_CELL_KIND = {"trl": CellKind.INT, "budget": CellKind.MONEY, "price": CellKind.MONEY}
_SCORE_COLS = ("score", "text_score", *(f"f_{n}" for n in FACTORS))


def _record_column(side: str, name: str, zh: str | None, en: str | None, lang: Lang) -> Column:
    fld = field_by_name(_KIND_OF[side], name)
    header = (zh or fld.zh) if lang is Lang.ZH else (en or fld.en)
    return Column(header, _CELL_KIND.get(name, CellKind.TEXT))


def _layout(
    direction: str, lang: Lang, duplicates: bool = False
) -> tuple[list[tuple[str, str]], list[Column]]:
    first, second = (
        (_DEMAND_COLS, _ACHIEVEMENT_COLS)
        if direction == "demand"
        else (_ACHIEVEMENT_COLS, _DEMAND_COLS)
    )
    keys: list[tuple[str, str]] = []
    columns: list[Column] = []
    for side, name, zh, en in first:
        keys.append((side, name))
        columns.append(_record_column(side, name, zh, en, lang))
    keys.append(("m", "rank"))
    columns.append(Column(result_label("rank", lang), CellKind.INT, width=6))
    for side, name, zh, en in second:
        keys.append((side, name))
        columns.append(_record_column(side, name, zh, en, lang))
    for name in _SCORE_COLS:
        keys.append(("m", name))
        columns.append(Column(result_label(name, lang), CellKind.PERCENT, width=10))
    keys.append(("m", "reasons"))
    columns.append(Column(result_label("reasons", lang), CellKind.TEXT, width=60, wrap=False))
    if duplicates:
        keys.append(("m", "duplicates"))
        columns.append(Column(result_label("duplicates", lang), CellKind.TEXT, width=30))
    return keys, columns


def _nan_to_none(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


_ROWS_PER_BLOCK = 10_000  # match rows built at a time, column by column


def _match_rows(
    frame: pd.DataFrame,
    keys: Sequence[tuple[str, str]],
    demands: dict[str, dict[str, Any]],
    achievements: dict[str, dict[str, Any]],
    lang: Lang,
    duplicates: dict[str, list[str]],
) -> Iterator[tuple[Any, ...]]:
    """One row of ``keys`` values per match; missing values as they are (writers blank them)."""
    for start in range(0, len(frame), _ROWS_PER_BLOCK):
        block = frame.iloc[start : start + _ROWS_PER_BLOCK]
        yield from zip(
            *_match_columns(block, keys, demands, achievements, lang, duplicates), strict=True
        )


def _match_columns(
    frame: pd.DataFrame,
    keys: Sequence[tuple[str, str]],
    demands: dict[str, dict[str, Any]],
    achievements: dict[str, dict[str, Any]],
    lang: Lang,
    duplicates: dict[str, list[str]],
) -> list[Sequence[Any]]:
    """The ``keys`` columns for the matches in ``frame``, reasons sentences included."""
    m: dict[str, Sequence[Any]] = {name: frame[name].tolist() for name in frame.columns}
    records = {
        "d": [demands[i] for i in m["demand_id"]],
        "a": [achievements[i] for i in m["achievement_id"]],
    }
    factors = (
        dict(zip(FACTORS, values, strict=True))
        for values in zip(*(m[f"f_{n}"] for n in FACTORS), strict=True)
    )
    m["reasons"] = [
        explain(terms, f, d, a, lang)
        for terms, f, d, a in zip(
            m["shared_terms"], factors, records["d"], records["a"], strict=True
        )
    ]
    if ("m", "duplicates") in keys:
        m["duplicates"] = ["、".join(duplicates.get(i, [])) for i in m["achievement_id"]]
    columns = {("m", name): values for name, values in m.items()}
    for side, side_records in records.items():
        names = [n for s, n in keys if s == side]
        columns.update(
            zip([(side, n) for n in names], _record_columns(side_records, names), strict=True)
        )
    return [columns.get(key, [None] * len(frame)) for key in keys]


def _record_columns(records: list[dict[str, Any]], names: list[str]) -> Iterable[Sequence[Any]]:
    """The ``names`` columns of ``records`` (dicts of one library: they share their keys)."""
    if len(names) > 1 and records and all(name in records[0] for name in names):
        return zip(*map(itemgetter(*names), records), strict=True)
    return ([r.get(name) for r in records] for name in names)


def _by_id(
    library: Library, frames: Sequence[pd.DataFrame], column: str
) -> dict[str, dict[str, Any]]:
    """The records that ``frames`` name in ``column``, by ID, missing values as None."""
    used = set().union(*(frame[column].tolist() for frame in frames))
    records = library.records[library.records["id"].isin(used)]
    records = records.astype(object).where(records.notna(), None)
    names = list(records.columns)
    values = zip(*(records[name].tolist() for name in names), strict=True)
    return {r["id"]: r for r in (dict(zip(names, row, strict=True)) for row in values)}


def _problem_sheet(problems: Sequence[Problem], lang: Lang) -> Sheet:
    zh = lang is Lang.ZH
    headers = (
        ("文件", "工作表", "行", "列", "值", "问题", "处理")
        if zh
        else ("File", "Sheet", "Row", "Column", "Value", "Problem", "Outcome")
    )
    kinds = (
        CellKind.TEXT,
        CellKind.TEXT,
        CellKind.INT,
        CellKind.TEXT,
        CellKind.TEXT,
        CellKind.TEXT,
        CellKind.TEXT,
    )
    outcome = {"rejected": ("已跳过", "skipped"), "warning": ("值留空", "value left empty")}
    rows = (
        [
            p.path,
            p.sheet,
            p.row,
            p.column,
            p.value,
            p.expected,
            outcome[p.severity.value][0 if zh else 1],
        ]
        for p in problems
    )
    return Sheet(
        sheet_name("problems", lang),
        [Column(h, k) for h, k in zip(headers, kinds, strict=True)],
        rows,
    )


def _run_sheet(run: RunInfo, result: MatchResult, lang: Lang) -> Sheet:
    zh = lang is Lang.ZH
    rows: list[list[Any]] = [
        ["fuzhi 版本" if zh else "fuzhi version", run.version],
        ["运行时间" if zh else "Run time", run.started.isoformat(timespec="seconds")],
        ["文本模型版本" if zh else "Text model version", run.model_version],
    ]
    for library in (run.achievements, run.demands):
        label = library.kind.label_zh if zh else library.kind.value
        for src in library.sources:
            rows += [
                [f"{label}文件" if zh else f"{label} file", src.path],
                ["  工作表" if zh else "  sheet", src.sheet or "(CSV)"],
                ["  表头行" if zh else "  header row", src.header_row],
                ["  读取行数" if zh else "  rows read", src.rows_read],
                ["  使用行数" if zh else "  rows used", src.rows_used],
                ["  跳过行数" if zh else "  rows skipped", src.rows_rejected],
                ["  空行" if zh else "  blank rows", src.rows_blank],
                ["  SHA-256", src.sha256],
            ]
    for key, value in run.parameters.items():
        rows.append([f"参数 {key}" if zh else f"parameter {key}", str(value)])
    for frame in result.frames():
        if len(frame):
            direction = frame["direction"].iloc[0]
            rows.append(
                [
                    f"匹配条数（{sheet_name(direction, lang)}）"
                    if zh
                    else f"matches ({direction})",
                    len(frame),
                ]
            )
    columns = [
        Column("项目" if zh else "Item", width=28),
        Column("内容" if zh else "Value", width=70),
    ]
    return Sheet(sheet_name("run", lang), columns, rows, autofilter=False)


def write_matches(
    result: MatchResult,
    run: RunInfo,
    path: Path | None,
    fmt: OutputFormat,
    lang: Lang | str = Lang.ZH,
    stream: IO[str] | None = None,
) -> None:
    """Write ``result`` to ``path`` (or JSON lines to ``stream`` when ``path`` is None)."""
    with gc_paused():  # records and rows by the 100,000, no reference cycles among them
        _write_matches(result, run, path, fmt, Lang(lang), stream)


def _write_matches(
    result: MatchResult,
    run: RunInfo,
    path: Path | None,
    fmt: OutputFormat,
    lang: Lang,
    stream: IO[str] | None,
) -> None:
    frames = result.frames()
    demands = _by_id(run.demands, frames, "demand_id")
    achievements = _by_id(run.achievements, frames, "achievement_id")
    if fmt is OutputFormat.XLSX:
        if path is None:
            raise UsageError("--format xlsx needs an output file: -o FILE.xlsx")
        sheets = []
        for frame in frames:
            direction = frame["direction"].iloc[0] if len(frame) else "demand"
            keys, columns = _layout(direction, lang, bool(run.duplicates))
            rows = _match_rows(frame, keys, demands, achievements, lang, run.duplicates)
            sheets.append(Sheet(sheet_name(direction, lang), columns, rows))
        problems = run.achievements.problems + run.demands.problems
        sheets.append(_problem_sheet(problems, lang))
        sheets.append(_run_sheet(run, result, lang))
        write_xlsx(path, sheets)
        return
    if fmt is OutputFormat.CSV:
        keys, columns = _layout("demand", lang, bool(run.duplicates))
        keys = [("m", "direction"), *keys]
        header = [result_label("direction", lang)] + [c.header for c in columns]
        rows = (
            row
            for frame in frames
            for row in _match_rows(frame, keys, demands, achievements, lang, run.duplicates)
        )
        write_csv(path, header, rows, stream=stream)
        return
    records = _json_records(result, demands, achievements, lang, run.duplicates)
    write_jsonl(path, records, stream=stream)


def _json_records(
    result: MatchResult,
    demands: dict[str, dict[str, Any]],
    achievements: dict[str, dict[str, Any]],
    lang: Lang,
    duplicates: dict[str, list[str]],
) -> Iterator[dict[str, Any]]:
    for frame in result.frames():
        for m in frame.to_dict("records"):
            d, a = demands[m["demand_id"]], achievements[m["achievement_id"]]
            factors = {n: _rounded(m[f"f_{n}"]) for n in FACTORS}
            yield {
                "direction": m["direction"],
                "demand_id": m["demand_id"],
                "achievement_id": m["achievement_id"],
                "rank": int(m["rank"]),
                "score": _rounded(m["score"]),
                "text_score": _rounded(m["text_score"]),
                "factors": factors,
                "shared_terms": list(m["shared_terms"]),
                "reasons": explain(m["shared_terms"], factors, d, a, lang),
                "demand_title": d.get("title") or None,
                "achievement_title": a.get("title") or None,
                **({"duplicates": duplicates.get(m["achievement_id"], [])} if duplicates else {}),
            }


def _rounded(value: Any) -> float | None:
    value = _nan_to_none(value)
    return None if value is None else round(float(value), 6)
