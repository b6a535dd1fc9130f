"""Validate and normalise raw rows into a typed library of records, collecting problems.

A row that cannot be used (no name and no description, a duplicate ID) is *rejected*; a
value that cannot be parsed (a TRL of "很高") is a *warning*: the row stays, that value is
left empty. Both are reported with file, sheet, Excel row, column, value and expectation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import pandas as pd

from fuzhi.errors import InputError, UsageError
from fuzhi.io.parse import (
    clean_column,
    parse_count,
    parse_date,
    parse_money,
    parse_trl,
    split_keywords,
)
from fuzhi.io.readers import RawTable, gc_paused, read_table
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
_FAILED = object()  # a parser raised ValueError


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


def _parse_or_fail(parse: Callable[[Any], Any], value: Any) -> Any:
    try:
        return parse(value)
    except ValueError:
        return _FAILED


def _parse_column(
    parse: Callable[[Any], Any], raws: Sequence[Any], texts: list[str]
) -> tuple[list[Any], list[int]]:
    """Parsed values of one column (text cells by their cleaned text) and the rows that failed."""
    values: list[Any] = []
    failed: list[int] = []
    cache: dict[str, Any] = {}  # a text parses (or fails) alike wherever it appears
    for i, (raw, text) in enumerate(zip(raws, texts, strict=True)):
        if not isinstance(raw, str):
            value = _parse_or_fail(parse, raw)
        elif text in cache:
            value = cache[text]
        else:
            value = cache[text] = _parse_or_fail(parse, text)
        if value is _FAILED:
            failed.append(i)
            value = None
        values.append(value)
    return values, failed


def _keywords_column(texts: list[str]) -> list[str]:
    cache: dict[str, str] = {}
    out: list[str] = []
    for text in texts:
        joined = cache.get(text)
        if joined is None:
            joined = cache[text] = "；".join(split_keywords(text))
        out.append(joined)
    return out


@dataclass
class _Columns:
    """A table's cells a column at a time: cleaned, and parsed per mapped field."""

    texts: list[list[str]]
    values: dict[str, list[Any]] = field(default_factory=dict)
    warnings: dict[int, list[Problem]] = field(default_factory=dict)  # by row, column order


def _read_columns(table: RawTable, mapping: dict[int, Field]) -> _Columns:
    raws = list(zip(*table.rows, strict=True)) or [() for _ in table.headers]
    columns = _Columns([clean_column(cells) for cells in raws])
    for pos, fld in mapping.items():
        texts = columns.texts[pos]
        if fld.type in _PARSERS:
            parser, expected = _PARSERS[fld.type]
            columns.values[fld.name], failed = _parse_column(parser, raws[pos], texts)
            header = table.headers[pos]
            for i in failed:
                problem = Problem(
                    str(table.path), table.sheet, table.first_row + i, header, texts[i], expected
                )
                columns.warnings.setdefault(i, []).append(problem)
        elif fld.type is FieldType.KEYWORDS:
            columns.values[fld.name] = _keywords_column(texts)
        else:
            columns.values[fld.name] = texts
    return columns


def validate_table(
    table: RawTable, kind: Kind, overrides: Mapping[str, str] | None = None, strict: bool = True
) -> Library:
    """Turn raw rows into records of ``kind``; rejected rows are left out and reported.

    Cells are cleaned and parsed a column at a time (a value repeated down a column once);
    problems are still reported row by row, in column order within a row.
    """
    mapping = resolve_columns(table, kind, overrides, strict)
    with gc_paused():
        library = _validate_columns(table, kind, mapping)
    if kind is Kind.EVENTS:
        # Event logs have rules beyond cell types (known 活动形式, contracts ≤ intents, …).
        from fuzhi.io.events import validate_events  # events builds on this module

        library = validate_events(library)
    return library


def _validate_columns(table: RawTable, kind: Kind, mapping: dict[int, Field]) -> Library:
    """Skip blank rows; reject rows without any required field and rows repeating an ID."""
    columns = _read_columns(table, mapping)
    values = columns.values
    names = _columns_for(kind)
    path = str(table.path)
    used = [any(cells) for cells in zip(*columns.texts, strict=True)]
    required = REQUIRED_ANY[kind]
    required_values = [values[n] for n in required if n in values]  # one at least
    has_required = [any(cells) for cells in zip(*required_values, strict=True)]
    needs = "a row needs " + " or ".join(f.zh for f in FIELDS[kind] if f.name in required)
    given_ids = values.get("id") or [""] * len(table.rows)
    id_header = next((table.headers[p] for p, f in mapping.items() if f.name == "id"), None)
    problems: list[Problem] = []
    rejected = Severity.REJECTED
    kept: list[int] = []  # row indexes
    ids: list[str] = []
    seen: dict[str, int] = {}
    for i, excel_row in enumerate(range(table.first_row, table.first_row + len(table.rows))):
        if not used[i]:
            continue
        problems.extend(columns.warnings.get(i, ()))
        if not has_required[i]:
            problems.append(Problem(path, table.sheet, excel_row, None, "", needs, rejected))
            continue
        row_id = given_ids[i] or stable_id(
            kind, {n: values[n][i] if n in values else None for n in names if n != "id"}
        )
        if row_id in seen:
            expected = f"a unique ID; the same ID (or an identical row) is on row {seen[row_id]}"
            problems.append(
                Problem(path, table.sheet, excel_row, id_header, row_id, expected, rejected)
            )
            continue
        seen[row_id] = excel_row
        kept.append(i)
        ids.append(row_id)

    source = SourceInfo(
        path=path,
        sheet=table.sheet,
        header_row=table.header_row,
        sha256=table.sha256,
        rows_read=len(table.rows),
        rows_blank=used.count(False),
        rows_rejected=sum(p.severity is Severity.REJECTED for p in problems),
        columns={table.headers[p]: f.name for p, f in sorted(mapping.items())},
        encoding=table.encoding,
    )
    records = _records(table, kind, mapping, columns, kept, ids)
    return Library(kind, records, problems, [source])


def _records(
    table: RawTable,
    kind: Kind,
    mapping: dict[int, Field],
    columns: _Columns,
    kept: list[int],
    ids: list[str],
) -> pd.DataFrame:
    """The records frame of the kept rows (indexes into the table), with their IDs."""
    every_row = len(kept) == len(table.rows)
    frame: dict[str, list[Any]] = {}
    for fld in FIELDS[kind]:
        column = columns.values.get(fld.name)
        if fld.name == "id":
            frame[fld.name] = ids
        elif column is None:  # not in this sheet
            frame[fld.name] = [None if fld.type in _PARSERS else ""] * len(kept)
        else:
            frame[fld.name] = column if every_row else [column[i] for i in kept]
    frame[ROW] = [table.first_row + i for i in kept]
    extras = [
        (h, columns.texts[p])
        for p, h in enumerate(table.headers)
        if p not in mapping and h and not h.startswith("_")
    ]
    frame[EXTRA] = [{h: texts[i] for h, texts in extras if texts[i]} for i in kept]
    return _typed_frame(kind, pd.DataFrame(frame, columns=list(frame)), text_filled=True)


def records_frame(kind: Kind, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A frame with every canonical column of ``kind`` typed: text as str, numbers nullable."""
    return _typed_frame(kind, pd.DataFrame(rows, columns=[*_columns_for(kind), ROW, EXTRA]))


def _typed_frame(kind: Kind, frame: pd.DataFrame, text_filled: bool = False) -> pd.DataFrame:
    """``frame`` with its columns typed; ``text_filled``: text columns hold only strings."""
    for f in FIELDS[kind]:
        if f.type is FieldType.TRL or f.type is FieldType.COUNT:
            frame[f.name] = frame[f.name].astype("Int64")
        elif f.type is FieldType.MONEY:
            frame[f.name] = frame[f.name].astype("Float64")
        elif f.type is FieldType.DATE:
            frame[f.name] = frame[f.name].astype(object)
        else:
            column = frame[f.name].astype(object)
            frame[f.name] = column if text_filled else column.where(column.notna(), "")
    frame[ROW] = frame[ROW].astype("Int64")
    frame[EXTRA] = frame[EXTRA].astype(object)  # (a column of no rows would be float)
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
