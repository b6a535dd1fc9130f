"""Read a sheet of an .xlsx workbook or a CSV file into raw rows with its header located.

Exported sheets often carry a title row or two above the header, so the header is the row
among the first few whose cells best match the schema's aliases. Values stay raw here;
:mod:`fuzhi.io.records` validates and normalises them.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import python_calamine

from fuzhi.errors import InputError, UsageError, location
from fuzhi.io.parse import clean_text
from fuzhi.io.safety import check_input_file
from fuzhi.schema import FIELDS, Kind, alias_index, header_key

HEADER_SCAN_ROWS = 15
MAX_DATA_ROWS = 1_000_000
CSV_ENCODINGS = ("utf-8-sig", "gb18030")


@dataclass(frozen=True)
class RawTable:
    """Rows of one sheet below its header, as read, each as wide as the header row.

    ``first_row`` is the Excel row number of the first of them.
    """

    path: Path
    sheet: str | None
    header_row: int
    headers: list[str]
    rows: list[list[Any]]
    sha256: str
    encoding: str | None = None

    @property
    def first_row(self) -> int:
        return self.header_row + 1

    def where(self, row: int | None = None, column: str | None = None) -> str:
        return location(self.path, self.sheet, row, column)


_gc_lock = threading.Lock()
_gc_pauses = 0  # readers and validations under way, in any thread
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a sheet's million cell objects are built.

    They form no reference cycles, yet every automatic collection walks all the objects built
    so far: about a fifth of the time of reading and validating a 100k-row sheet. Pauses
    nest and may overlap across threads; the collector is back on when the last one ends.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def header_text(cell: Any) -> str:
    """A header as the analyst typed it (for messages and exports), whitespace folded."""
    text = clean_text(cell)
    return " ".join(str(cell).split()) if text else ""


def header_score(cells: Sequence[Any], kind: Kind) -> int:
    """How many distinct canonical fields of ``kind`` a candidate header row names."""
    index = alias_index(kind)
    return len({index[k] for c in cells if (k := header_key(clean_text(c))) and k in index})


def _locate_header(grid: list[list[Any]], kind: Kind, where: str) -> int:
    """Index (0-based) of the header row among the first rows of ``grid``."""
    best_row, best_score = -1, 0
    for i, cells in enumerate(grid[:HEADER_SCAN_ROWS]):
        score = header_score(cells, kind)
        if score > best_score:
            best_row, best_score = i, score
    if best_row < 0:
        known = "、".join(f.zh for f in FIELDS[kind][:3])
        raise InputError(
            f"{where}: no header row found in the first {HEADER_SCAN_ROWS} rows; "
            f"expected {kind.value} columns such as {known} (or use --column FIELD=HEADER)"
        )
    return best_row


def _trim(row: list[Any]) -> list[Any]:
    end = len(row)
    while end and clean_text(row[end - 1]) == "":
        end -= 1
    return row[:end]


def _read_xlsx_grid(path: Path, sheet: str | None, kind: Kind) -> tuple[str, list[list[Any]]]:
    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    except python_calamine.PasswordError as exc:
        raise InputError(
            f"{path}: the workbook is password-protected; save an unencrypted copy"
        ) from exc
    except Exception as exc:  # calamine raises several types for damaged files
        raise InputError(f"{path}: the workbook is corrupt or not an .xlsx file ({exc})") from exc
    names = list(workbook.sheet_names)
    if sheet is not None:
        if sheet not in names:
            raise InputError(f"{path}: no sheet named {sheet!r}; sheets: {', '.join(names)}")
        candidates = [sheet]
    else:
        visible = {
            m.name
            for m in workbook.sheets_metadata
            if m.visible == python_calamine.SheetVisibleEnum.Visible
        }
        candidates = [n for n in names if n in visible] or names
    best: tuple[int, str, list[list[Any]]] | None = None
    for name in candidates:
        try:
            data = workbook.get_sheet_by_name(name)
            if data.height > MAX_DATA_ROWS + HEADER_SCAN_ROWS:
                raise InputError(
                    f"{location(path, name)}: {data.height:,} rows is more than fuzhi reads "
                    f"({MAX_DATA_ROWS:,}); split the sheet"
                )
            grid = data.to_python(skip_empty_area=False)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{location(path, name)}: cannot read the sheet ({exc})") from exc
        score = max((header_score(r, kind) for r in grid[:HEADER_SCAN_ROWS]), default=0)
        if best is None or score > best[0]:
            best = (score, name, grid)
        if sheet is None and score >= 2:
            break
    assert best is not None
    return best[1], best[2]


def _read_csv_grid(path: Path) -> tuple[str, list[list[Any]]]:
    raw = path.read_bytes()
    for encoding in CSV_ENCODINGS:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        sample = text[:8192]
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
                sample, delimiters=",;\t|"
            )
        except csv.Error:
            dialect = csv.excel
        rows = list(csv.reader(io.StringIO(text, newline=""), dialect))
        if len(rows) > MAX_DATA_ROWS + HEADER_SCAN_ROWS:
            raise InputError(
                f"{path}: {len(rows):,} rows is more than fuzhi reads ({MAX_DATA_ROWS:,})"
            )
        return encoding, [list(r) for r in rows]
    raise InputError(f"{path}: cannot decode the CSV file; expected UTF-8 or GBK/GB18030 text")


def read_table(
    path: Path | str, kind: Kind, sheet: str | None = None, *, sha256: str | None = None
) -> RawTable:
    """Read ``path`` (xlsx or csv), pick the sheet and locate the header row for ``kind``;
    ``sha256``: the file's digest when the caller has already computed it."""
    path = Path(path)
    fmt = check_input_file(path)
    encoding: str | None = None
    with gc_paused():
        if fmt == "csv":
            if sheet is not None:
                raise UsageError(f"{path}: --sheet applies to workbooks, not CSV files")
            encoding, grid = _read_csv_grid(path)
            sheet_name: str | None = None
        else:
            sheet_name, grid = _read_xlsx_grid(path, sheet, kind)
        where = location(path, sheet_name)
        if not any(_trim(r) for r in grid):
            raise InputError(f"{where}: the sheet is empty")
        header_index = _locate_header(grid, kind, where)
        headers = [header_text(c) for c in _trim(grid[header_index])]
        width = len(headers)
        rows = [
            r if len(r) == width else (r + [None] * (width - len(r)))[:width]
            for r in grid[header_index + 1 :]
        ]
    return RawTable(
        path=path,
        sheet=sheet_name,
        header_row=header_index + 1,
        headers=headers,
        rows=rows,
        sha256=sha256 or file_sha256(path),
        encoding=encoding,
    )
