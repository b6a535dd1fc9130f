"""Cell XML for the streaming xlsx writer: values to SpreadsheetML cells, a chunk at a time.

A chunk of rows is turned into XML column by column: each column's plain strings and
numbers are converted once per distinct value (kept across chunks while they repeat: IDs,
names, regions), anything else value by value, and the cells are laid into rows with one
bytes %-template per chunk. The result is exactly what converting cell by cell gives.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from functools import partial
from typing import Any
from xml.sax.saxutils import escape

import pandas as pd

from fuzhi.io.parse import EXCEL_CELL_LIMIT

_EPOCH = dt.datetime(1899, 12, 30)
_CACHE_LIMIT = 100_000  # remembered cells per column and type


class Style(IntEnum):
    """Indexes into the fixed ``cellXfs`` of the writer's style sheet."""

    TEXT = 0
    HEADER = 1
    WRAP = 2
    INT = 3
    PERCENT = 4
    MONEY = 5
    DATE = 6
    NUMBER = 7


_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def excel_text(value: object) -> str:
    """Text that XML and Excel accept: no control characters, at most 32,767 characters."""
    return _ILLEGAL.sub("", str(value))[:EXCEL_CELL_LIMIT]


def _text_tail(text: str, style: Style) -> str:
    """A text cell's XML after its reference: ``<c r="B2"`` + this."""
    text = excel_text(text)
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    s = f' s="{int(style)}"' if style else ""
    return f'{s} t="inlineStr"><is><t{space}>{escape(text)}</t></is></c>'


def text_cell(ref: str, text: str, style: Style) -> str:
    return f'<c r="{ref}"' + _text_tail(text, style)


def _number(value: Any) -> float | int | None:
    """The cell number for ``value``, or None when it is not a number (or NaN, NaT)."""
    if isinstance(value, bool) or value is pd.NaT:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalars
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dt.datetime):
        return (value - _EPOCH).total_seconds() / 86_400
    if isinstance(value, dt.date):
        return (value - _EPOCH.date()).days
    return None


def _text_style(style: Style) -> Style:
    return style if style is Style.WRAP else Style.TEXT


def _cell_tail(value: Any, style: Style) -> str | None:
    """Any value's cell XML after its reference, or None for an empty cell.

    Empty: None, "", NaN, infinities, NA and NaT. Numbers, dates and times are numbers in
    the column's style; anything else is text in the column's text style.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return _text_tail(value, _text_style(style)) if value else None
    number = _number(value)
    if number is not None:
        return f' s="{int(style)}"><v>{number!r}</v></c>'
    if isinstance(value, float) or pd.isna(value):
        return None
    return _text_tail(str(value), _text_style(style))


@dataclass
class CellColumn:
    """One column's values converted so far, by type, kept across chunks while they repeat."""

    style: Style
    cached: dict[type, dict[Any, bytes]] = field(default_factory=dict)
    distinct: bool = False  # the values hardly repeat (scores, reasons): no dedupe


def _cell_bytes(value: Any, style: Style) -> bytes:
    tail = _cell_tail(value, style)
    return b"" if tail is None else tail.encode()


def _text_tails(texts: Sequence[str | None], style: Style) -> list[bytes]:
    """:func:`_text_tail` of many texts at once (b"" for "" and None), escaped in one pass."""
    plain = [t or "" for t in texts]
    joined = "".join(plain)
    if not joined:
        return [b""] * len(plain)
    if _ILLEGAL.search(joined) or max(map(len, plain), default=0) > EXCEL_CELL_LIMIT:
        return [_cell_bytes(t, style) for t in texts]  # some text to clean: one by one
    s = f' s="{int(style)}"' if style else ""
    start = f'{s} t="inlineStr"><is><t>'.encode()
    spaced = f'{s} t="inlineStr"><is><t xml:space="preserve">'.encode()
    escaped = escape("\x00".join(plain)).encode().split(b"\x00")  # no text holds a NUL now
    return [
        (spaced if t[:1].isspace() or t[-1:].isspace() else start) + e + b"</t></is></c>"
        if t
        else b""
        for t, e in zip(plain, escaped, strict=True)
    ]


def _column_tails(values: Sequence[Any], column: CellColumn) -> list[bytes]:
    """Each value's cell XML after its reference (b"" for an empty cell), for one column.

    A column of plain str, int or float values (and None) is converted once per distinct
    value, many at a time; any other column goes value by value through :func:`_cell_tail`.
    """
    kinds = set(map(type, values))
    kinds.discard(type(None))
    kind = kinds.pop() if len(kinds) == 1 else None
    if kind is float:  # NaN and infinities are empty; -0.0 equals 0.0, so no dedupe then
        values = [v if v is None or math.isfinite(v) else None for v in values]
        if any(v == 0 and math.copysign(1.0, v) < 0 for v in values):
            kind = None
    make: Callable[[Sequence[Any]], list[bytes]]
    if kind is str:
        make = partial(_text_tails, style=_text_style(column.style))
    elif kind is int or kind is float:
        make = partial(_number_tails, f' s="{int(column.style)}"><v>%a</v></c>'.encode())
    else:
        return [_cell_bytes(v, column.style) for v in values]
    if column.distinct:
        return make(values)
    cache = column.cached.setdefault(kind, {None: b""})
    distinct = dict.fromkeys(values)
    fresh = [v for v in distinct if v not in cache]
    if len(fresh) * 100 >= len(values) * 99:  # all new: no dedupe from now on
        column.distinct = True
        return make(values)
    if len(cache) + len(fresh) > _CACHE_LIMIT:
        cache.clear()
        cache[None] = b""
        fresh = [v for v in distinct if v is not None]
    cache.update(zip(fresh, make(fresh), strict=True))
    return list(map(cache.__getitem__, values))


def _number_tails(template: bytes, numbers: Sequence[float | int | None]) -> list[bytes]:
    """Number cells' XML after their references (%a gives repr()); b"" for None."""
    return [b"" if n is None else template % n for n in numbers]


def rows_xml(
    first: int, rows: Sequence[Sequence[Any]], letters: Sequence[str], columns: Sequence[CellColumn]
) -> bytes:
    """The XML of ``rows`` numbered from ``first``, built column by column.

    One %-template per chunk: a cell is ``<c r="B7"`` + its tail; a column with empty cells
    in the chunk gets whole cells (or nothing) instead.
    """
    numbers = [b"%d" % n for n in range(first, first + len(rows))]
    width = len(letters)
    if set(map(len, rows)) != {width}:  # short rows end in empty cells, extra values are ignored
        rows = [tuple(row[:width]) + (None,) * (width - len(row)) for row in rows]
    template, args = [b'<row r="%s">'], [numbers]
    for letter, column, values in zip(letters, columns, zip(*rows, strict=True), strict=False):
        tails = _column_tails(values, column)
        cell = f'<c r="{letter}%s"%s'.encode()
        if not any(tails):  # all empty
            continue
        if b"" in tails:
            template.append(b"%s")
            args.append([cell % (n, t) if t else b"" for n, t in zip(numbers, tails, strict=True)])
        else:
            template.append(cell)
            args += (numbers, tails)
    template.append(b"</row>")
    return b"".join(map(b"".join(template).__mod__, zip(*args, strict=True)))
