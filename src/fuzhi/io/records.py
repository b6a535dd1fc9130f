"""Validate and normalise raw rows into a typed library of records, collecting problems.

A row that cannot be used (no name and no description, a duplicate ID) is *rejected*; a
value that cannot be parsed (a TRL of "很高") is a *warning*: the row stays, that value is
left empty. Both are reported with file, sheet, Excel row, column, value and expectation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import pandas as pd

from fuzhi.errors import InputError, UsageError
from fuzhi.io.parse import (
    clean_text,
    parse_count,
    parse_date,
    parse_money,
    parse_trl,
    split_keywords,
)
from fuzhi.io.readers import RawTable, read_table
from fuzhi.schema import (
    FIELDS,
    ID_PREFIX,
    REQUIRED_ANY,
    Field,
    FieldType,
    Kind,
    alias_index,
    header_key,
)

ROW = "_row"
EXTRA = "_extra"


class Severity(StrEnum):
    REJECTED = "rejected"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one cell or row of an input file."""

    path: str
    sheet: str | None
    row: int | None
    column: str | None
    value: str
    expected: str
    severity: Severity = Severity.WARNING

    def __str__(self) -> str:
        parts = [self.path]
        if self.sheet:
            parts.append(f"sheet {self.sheet!r}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column:
            parts.append(f"column {self.column!r}")
        shown = f" value {self.value!r}:" if self.value else ""
        return f"{', '.join(parts)}:{shown} {self.expected} ({self.severity.value})"


@dataclass(frozen=True)
class SourceInfo:
    """Where a library came from, for the run sheet and import history."""

    path: str
    sheet: str | None
    header_row: int
    sha256: str
    rows_read: int
    rows_blank: int
    rows_rejected: int
    columns: dict[str, str]  # sheet header -> canonical field
    encoding: str | None = None

    @property
    def rows_used(self) -> int:
        return self.rows_read - self.rows_blank - self.rows_rejected


@dataclass
class Library:
    """Validated records of one kind: canonical columns, ``_row`` and ``_extra`` (unknown columns)."""

    kind: Kind
    records: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    sources: list[SourceInfo] = field(default_factory=list)

    @property
    def rejected(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.REJECTED]

    def __len__(self) -> int:
        return len(self.records)


_PARSERS: dict[FieldType, tuple[Callable[[Any], Any], str]] = {
    FieldType.TRL: (parse_trl, "expected a technology readiness level 1–9 (e.g. TRL6, 6级, 六级)"),
    FieldType.MONEY: (parse_money, "expected an amount in 万元 (e.g. 50, 50万元, 0.5亿, 面议)"),
    FieldType.DATE: (parse_date, "expected a date (e.g. 2025-07-01, 2025/7/1, 2025年7月1日)"),
    FieldType.COUNT: (parse_count, "expected a whole number of 0 or more"),
}


def resolve_columns(
    table: RawTable, kind: Kind, overrides: Mapping[str, str] | None = None, strict: bool = True
) -> dict[int, Field]:
    """Map sheet column positions to canonical fields, applying ``--column field=Header``.

    With ``strict=False`` an override naming a header this sheet lacks is ignored (used when
    one ``--column`` applies to both input files).
    """
    fields = {f.name: f for f in FIELDS[kind]}
    by_alias = alias_index(kind)
    mapping: dict[int, Field] = {}
    for pos, header in enumerate(table.headers):
        name = by_alias.get(header_key(header))
        if name and name not in {f.name for f in mapping.values()}:
            mapping[pos] = fields[name]
    for key, header in (overrides or {}).items():
        name = key if key in fields else by_alias.get(header_key(key))
        if name is None:
            raise UsageError(
                f"--column {key}={header}: unknown {kind.value} field {key!r}; "
                f"fields: {', '.join(fields)}"
            )
        positions = [i for i, h in enumerate(table.headers) if header_key(h) == header_key(header)]
        if not positions and not strict:
            continue
        if not positions:
            raise InputError(
                f"{table.where()}: --column {key}={header}: no column headed {header!r}; "
                f"headers: {', '.join(h for h in table.headers if h)}"
            )
        mapping = {p: f for p, f in mapping.items() if f.name != name and p != positions[0]}
        mapping[positions[0]] = fields[name]
    required = REQUIRED_ANY[kind]
    if not any(f.name in required for f in mapping.values()):
        wanted = " or ".join(fields[n].zh for n in required)
        raise InputError(
            f"{table.where(row=table.header_row)}: no {wanted} column among the headers "
            f"({', '.join(h for h in table.headers if h)}); map one with --column "
            f"{required[0]}=HEADER"
        )
    return mapping


def stable_id(kind: Kind, values: Mapping[str, Any]) -> str:
    """An ID derived from a row's content: the same content always gets the same ID."""
    text = "\x1f".join(f"{k}={values[k]}" for k in sorted(values) if values[k] not in ("", None))
    return f"{ID_PREFIX[kind]}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:10].upper()}"


def _columns_for(kind: Kind) -> list[str]:
    return [f.name for f in FIELDS[kind]]


def validate_table(
    table: RawTable, kind: Kind, overrides: Mapping[str, str] | None = None, strict: bool = True
) -> Library:
    """Turn raw rows into records of ``kind``; rejected rows are left out and reported."""
    mapping = resolve_columns(table, kind, overrides, strict)
    extra_positions = [
        i for i, h in enumerate(table.headers) if i not in mapping and h and not h.startswith("_")
    ]
    problems: list[Problem] = []
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    blank = 0
    required = REQUIRED_ANY[kind]
    path = str(table.path)

    def report(row: int, column: str | None, value: str, expected: str, severity: Severity) -> None:
        problems.append(Problem(path, table.sheet, row, column, value, expected, severity))

    for offset, cells in enumerate(table.rows):
        excel_row = table.first_row + offset
        texts = [clean_text(c) for c in cells]
        if not any(texts):
            blank += 1
            continue
        record: dict[str, Any] = {name: None for name in _columns_for(kind)}
        for pos, fld in mapping.items():
            raw, text = cells[pos], texts[pos]
            if fld.type in _PARSERS:
                parser, expected = _PARSERS[fld.type]
                try:
                    record[fld.name] = parser(raw if not isinstance(raw, str) else text)
                except ValueError:
                    report(excel_row, table.headers[pos], text, expected, Severity.WARNING)
            elif fld.type is FieldType.KEYWORDS:
                record[fld.name] = "；".join(split_keywords(text))
            else:
                record[fld.name] = text
        if not any(record.get(n) for n in required):
            wanted = " or ".join(f.zh for f in FIELDS[kind] if f.name in required)
            report(excel_row, None, "", f"a row needs {wanted}", Severity.REJECTED)
            continue
        if not record.get("id"):
            record["id"] = stable_id(kind, {k: v for k, v in record.items() if k != "id"})
        if record["id"] in seen:
            id_header = next((table.headers[p] for p, f in mapping.items() if f.name == "id"), None)
            report(
                excel_row,
                id_header,
                str(record["id"]),
                f"a unique ID; the same ID (or an identical row) is on row {seen[record['id']]}",
                Severity.REJECTED,
            )
            continue
        seen[record["id"]] = excel_row
        record[ROW] = excel_row
        record[EXTRA] = {table.headers[p]: texts[p] for p in extra_positions if texts[p]}
        out.append(record)

    records = records_frame(kind, out)
    source = SourceInfo(
        path=path,
        sheet=table.sheet,
        header_row=table.header_row,
        sha256=table.sha256,
        rows_read=len(table.rows),
        rows_blank=blank,
        rows_rejected=sum(p.severity is Severity.REJECTED for p in problems),
        columns={table.headers[p]: f.name for p, f in sorted(mapping.items())},
        encoding=table.encoding,
    )
    library = Library(kind, records, problems, [source])
    if kind is Kind.EVENTS:
        # Event logs have rules beyond cell types (known 活动形式, contracts ≤ intents, …).
        from fuzhi.io.events import validate_events  # events builds on this module

        library = validate_events(library)
    return library


def records_frame(kind: Kind, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A frame with every canonical column of ``kind`` typed: text as str, numbers nullable."""
    columns = [*_columns_for(kind), ROW, EXTRA]
    frame = pd.DataFrame(rows, columns=columns)
    for f in FIELDS[kind]:
        if f.type is FieldType.TRL or f.type is FieldType.COUNT:
            frame[f.name] = frame[f.name].astype("Int64")
        elif f.type is FieldType.MONEY:
            frame[f.name] = frame[f.name].astype("Float64")
        elif f.type is FieldType.DATE:
            frame[f.name] = frame[f.name].astype(object)
        else:
            column = frame[f.name].astype(object)
            frame[f.name] = column.where(column.notna(), "")
    frame[ROW] = frame[ROW].astype("Int64")
    return frame


def load_library(
    path: Path | str,
    kind: Kind,
    sheet: str | None = None,
    overrides: Mapping[str, str] | None = None,
    strict: bool = True,
) -> Library:
    """Read and validate one file: the entry point for ``fuzhi check``, ``match`` and imports."""
    return validate_table(read_table(path, kind, sheet), kind, overrides, strict)
