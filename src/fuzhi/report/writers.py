"""Low-level table writers: formatted xlsx sheets, Excel-safe CSV and JSON lines.

All user text is written as text: never as a formula in a workbook, and OWASP-escaped in
CSV. Files are written to a temporary path and renamed into place.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from fuzhi.io.atomic import atomic_path
from fuzhi.report.xlsx_stream import (
    StreamSheet,
    Style,
    write_stream_xlsx,
)

_CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
FIXED_TIME = dt.datetime(2000, 1, 1)


class CellKind(StrEnum):
    TEXT = "text"
    INT = "int"
    PERCENT = "percent"
    MONEY = "money"
    DATE = "date"
    NUMBER = "number"


@dataclass(frozen=True)
class Column:
    header: str
    kind: CellKind = CellKind.TEXT
    width: float | None = None  # None: sized from the header and the first rows
    wrap: bool = False


@dataclass
class Sheet:
    name: str
    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]]
    freeze: bool = True
    autofilter: bool = True


def display_width(text: str) -> int:
    """Width in Excel's character units: CJK and full-width characters count double."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value) or (isinstance(value, float) and math.isnan(value))
    except (TypeError, ValueError):
        return False


def _widths(columns: Sequence[Column], sample: list[Sequence[Any]]) -> list[float]:
    widths = []
    for i, col in enumerate(columns):
        if col.width is not None:
            widths.append(col.width)
            continue
        longest = display_width(col.header)
        for row in sample:
            if i < len(row) and not _is_missing(row[i]):
                longest = max(longest, display_width(str(row[i])))
        widths.append(float(min(max(longest + 2, 8), 60)))
    return widths


_STYLE_OF = {
    CellKind.TEXT: Style.TEXT,
    CellKind.INT: Style.INT,
    CellKind.PERCENT: Style.PERCENT,
    CellKind.MONEY: Style.MONEY,
    CellKind.DATE: Style.DATE,
    CellKind.NUMBER: Style.NUMBER,
}


def write_xlsx(path: Path | str, sheets: Sequence[Sheet]) -> None:
    """Stream sheets (bounded memory) with styled, frozen, filtered and sized headers."""
    specs = []
    for spec in sheets:
        rows = iter(spec.rows)
        sample = list(itertools.islice(rows, 200))  # column widths come from the first rows
        styles = [
            Style.WRAP if c.wrap and c.kind is CellKind.TEXT else _STYLE_OF[c.kind]
            for c in spec.columns
        ]
        specs.append(
            StreamSheet(
                name=spec.name,
                headers=[c.header for c in spec.columns],
                styles=styles,
                widths=_widths(spec.columns, sample),
                rows=itertools.chain(sample, rows),
                freeze=spec.freeze,
                autofilter=spec.autofilter,
            )
        )
    with atomic_path(path) as tmp:
        write_stream_xlsx(tmp, specs, FIXED_TIME)


def csv_text(value: object) -> str:
    """A CSV field that Excel will not run as a formula (OWASP: prefix a quote)."""
    if _is_missing(value):
        return ""
    if isinstance(value, float):
        return repr(value)
    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    return "'" + text if text.startswith(_CSV_TRIGGERS) else text


def write_csv(
    path: Path | str | None,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    stream: IO[str] | None = None,
) -> None:
    """UTF-8 with BOM (so Excel reads Chinese correctly) to ``path``, or plain to ``stream``."""

    def emit(fh: IO[str]) -> None:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow([csv_text(h) for h in header])
        for row in rows:
            writer.writerow([csv_text(v) for v in row])

    if path is None:
        assert stream is not None
        emit(stream)
        return
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8-sig", newline="") as fh:
        emit(fh)


def _json_default(value: object) -> object:
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_line(record: dict[str, Any]) -> str:
    clean = {k: (None if _is_missing(v) else v) for k, v in record.items()}
    return json.dumps(clean, ensure_ascii=False, default=_json_default, sort_keys=False)


def write_jsonl(
    path: Path | str | None, records: Iterable[dict[str, Any]], stream: IO[str] | None = None
) -> None:
    """One JSON object per line, UTF-8, to ``path`` (atomically) or ``stream``."""
    if path is None:
        assert stream is not None
        for record in records:
            stream.write(json_line(record) + "\n")
        return
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as fh:
        for record in records:
            fh.write(json_line(record) + "\n")
