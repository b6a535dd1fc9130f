"""Read an edited tracking workbook back and apply its edits: validated, merged, recorded.

The analyst's file is only read. Columns are found by header text and rows by the hidden
匹配编号, so sorted, filtered, unhidden or extended sheets still sync. Every edited value is
validated again (dropdowns are not enforced; pasting bypasses them); any invalid value
stops the sync before anything is applied. Each field is merged three ways between what
was exported, what the workspace holds now and what the workbook says: an edit made on one
side only is applied (or kept); different edits on both sides are a conflict, reported and
not overwritten unless the workbook is preferred. Unchanged values are no-ops, so syncing
the same file twice changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import python_calamine

from fuzhi.errors import InputError, location
from fuzhi.io.parse import clean_text
from fuzhi.io.safety import check_input_file
from fuzhi.schema import header_key
from fuzhi.workspace.columns import (
    BY_KEY,
    EDITABLE,
    META_SHEET,
    Values,
    canonical,
    header_index,
    parse_cell,
    stored,
)
from fuzhi.workspace.store import get_meta, now, transaction

HEADER_SCAN_ROWS = 5


@dataclass(frozen=True)
class EditProblem:
    """An edited value that does not validate, located by workbook row and column."""

    path: str
    sheet: str
    row: int
    column: str | None
    value: str
    expected: str

    def __str__(self) -> str:
        shown = f" value {self.value!r}:" if self.value else ""
        return f"{location(self.path, self.sheet, self.row, self.column)}:{shown} {self.expected}"


class InvalidEditsError(InputError):
    """The workbook holds values that do not validate; nothing was applied."""

    def __init__(self, problems: list[EditProblem]) -> None:
        shown = "; ".join(str(p) for p in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(
            f"{len(problems)} invalid value(s), nothing applied: {shown}{more}; "
            "fix them in the workbook and sync again"
        )
        self.problems = problems


@dataclass(frozen=True)
class Change:
    match_id: str
    field: str
    old: str | None
    new: str | None
    row: int


@dataclass(frozen=True)
class Conflict:
    """A field edited differently in the workspace (since the export) and in the workbook."""

    match_id: str
    field: str
    row: int
    exported: str | None
    workspace: str | None
    workbook: str | None

    def __str__(self) -> str:
        header = BY_KEY[self.field].zh
        return (
            f"row {self.row} ({self.match_id}), {header}: exported {self.exported!r}, "
            f"now {self.workspace!r} in the workspace, {self.workbook!r} in the workbook"
        )


@dataclass
class SyncReport:
    path: str
    export_id: str
    rows: int = 0
    unchanged_rows: int = 0
    changes: list[Change] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    applied: bool = False
    sync_id: int | None = None


@dataclass
class _Workbook:
    sheet: str
    meta: dict[str, str]
    fingerprints: dict[str, str]
    columns: dict[str, int]  # tracking key → position
    headers: list[str]
    rows: list[tuple[int, list[Any]]]  # (Excel row, cells)


def _open(path: Path) -> python_calamine.CalamineWorkbook:
    check_input_file(path)
    try:
        return python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several types for damaged files
        raise InputError(f"{path}: the workbook is corrupt or not an .xlsx file ({exc})") from exc


def _read_meta(
    path: Path, book: python_calamine.CalamineWorkbook
) -> tuple[dict[str, str], dict[str, str]]:
    if META_SHEET not in book.sheet_names:
        raise InputError(
            f"{path}: not a tracking workbook exported by fuzhi (no {META_SHEET} sheet); "
            "export one with `fuzhi export tracking -o FILE.xlsx`"
        )
    meta: dict[str, str] = {}
    fingerprints: dict[str, str] = {}
    in_rows = False
    for cells in book.get_sheet_by_name(META_SHEET).to_python():
        key = clean_text(cells[0]) if cells else ""
        value = clean_text(cells[1]) if len(cells) > 1 else ""
        if key == "match_id" and value == "fingerprint":
            in_rows = True
        elif key and in_rows:
            fingerprints[key] = value
        elif key:
            meta[key] = value
    if "export_id" not in meta:
        raise InputError(f"{location(path, META_SHEET)}: no export_id; was the sheet edited?")
    return meta, fingerprints


def read_workbook(path: Path) -> _Workbook:
    """The tracking sheet (the first sheet with a 匹配编号 header) and the export metadata."""
    book = _open(path)
    meta, fingerprints = _read_meta(path, book)
    index = header_index()
    for name in book.sheet_names:
        if name == META_SHEET:
            continue
        grid = book.get_sheet_by_name(name).to_python()
        for h, cells in enumerate(grid[:HEADER_SCAN_ROWS]):
            keys = [index.get(header_key(clean_text(c))) for c in cells]
            if "match_id" not in keys:
                continue
            columns: dict[str, int] = {}
            for pos, key in enumerate(keys):
                if key and key not in columns:
                    columns[key] = pos
            headers = [clean_text(c) for c in cells]
            rows = [(h + 2 + i, list(r)) for i, r in enumerate(grid[h + 1 :])]
            return _Workbook(name, meta, fingerprints, columns, headers, rows)
    raise InputError(f"{path}: no sheet has a 匹配编号 (Match ID) column in its first rows")


def _cell(cells: list[Any], pos: int | None) -> Any:
    if pos is None or pos >= len(cells):
        return None
    value = cells[pos]
    return None if value == "" else value


def _parse_rows(
    path: Path, wb: _Workbook, report: SyncReport
) -> dict[str, tuple[int, dict[str, str | None]]]:
    problems: list[EditProblem] = []
    edited: dict[str, tuple[int, dict[str, str | None]]] = {}
    present = [k for k in EDITABLE if k in wb.columns]
    for row, cells in wb.rows:
        mid = clean_text(_cell(cells, wb.columns["match_id"]))
        raw = {k: _cell(cells, wb.columns[k]) for k in present}
        if not mid:
            if any(clean_text(v) for v in raw.values()):
                report.skipped.append(f"row {row}: no 匹配编号, cannot be synced")
            continue
        if mid in edited:
            problems.append(
                EditProblem(
                    str(path),
                    wb.sheet,
                    row,
                    wb.headers[wb.columns["match_id"]],
                    mid,
                    f"a 匹配编号 appears once; also on row {edited[mid][0]}",
                )
            )
            continue
        values: dict[str, str | None] = {}
        for key in present:
            try:
                values[key] = parse_cell(key, raw[key])
            except ValueError as exc:
                problems.append(
                    EditProblem(
                        str(path),
                        wb.sheet,
                        row,
                        wb.headers[wb.columns[key]],
                        clean_text(raw[key]),
                        str(exc),
                    )
                )
        edited[mid] = (row, values)
    if problems:
        raise InvalidEditsError(problems)
    return edited


def sync_workbook(
    conn: sqlite3.Connection,
    path: Path,
    *,
    dry_run: bool = False,
    prefer_workbook: bool = False,
) -> SyncReport:
    """Validate and merge the edits of ``path``; apply them in one transaction unless dry."""
    path = Path(path)
    wb = read_workbook(path)
    export_id = wb.meta["export_id"]
    report = SyncReport(str(path.resolve()), export_id)
    report.ignored_columns = [
        h for h in wb.headers if h and h not in {wb.headers[p] for p in wb.columns.values()}
    ]
    ours = get_meta(conn, "workspace_id")
    if wb.meta.get("workspace_id") and wb.meta["workspace_id"] != ours:
        raise InputError(f"{path}: exported from another workspace; sync it there")
    edited = _parse_rows(path, wb, report)
    report.rows = len(edited)
    ids = json.dumps(sorted(edited))
    base = {
        r[0]: json.loads(r[1])
        for r in conn.execute(
            "SELECT match_id, values_json FROM export_rows WHERE export_id = ? AND "
            "match_id IN (SELECT value FROM json_each(?))",
            (export_id, ids),
        )
    }
    if (
        edited
        and not base
        and not conn.execute("SELECT 1 FROM exports WHERE export_id = ?", (export_id,)).fetchone()
    ):
        raise InputError(f"{path}: export {export_id} is not recorded in this workspace")
    current = {
        r["match_id"]: {k: r[k] for k in EDITABLE}
        for r in conn.execute(
            "SELECT match_id, " + ", ".join(EDITABLE) + " FROM matches WHERE match_id IN "
            "(SELECT value FROM json_each(?))",
            (ids,),
        )
    }
    for mid, (row, values) in edited.items():
        if mid not in current or mid not in base:
            report.skipped.append(f"row {row}: {mid} is not part of export {export_id}")
            continue
        now_values: Values = canonical(current[mid])
        was: Values = base[mid]
        row_changed = False
        for key, new in values.items():
            cur, old = now_values[key], was.get(key)
            if new in (cur, old):
                continue
            if cur == old or prefer_workbook:
                report.changes.append(Change(mid, key, cur, new, row))
                row_changed = True
            else:
                report.conflicts.append(Conflict(mid, key, row, old, cur, new))
        if not row_changed:
            report.unchanged_rows += 1
    if dry_run or not report.changes:
        return report
    _apply(conn, report)
    return report


def _apply(conn: sqlite3.Connection, report: SyncReport) -> None:
    at = now()
    with transaction(conn):
        report.sync_id = conn.execute(
            "INSERT INTO syncs (at, path, export_id, applied, conflicts) VALUES (?, ?, ?, ?, ?)",
            (at, report.path, report.export_id, len(report.changes), len(report.conflicts)),
        ).lastrowid
        touched: set[str] = set()
        for c in report.changes:
            conn.execute(
                f"UPDATE matches SET {c.field} = ?, updated_at = ? WHERE match_id = ?",
                (stored(c.field, c.new), at, c.match_id),
            )
            conn.execute(
                "INSERT INTO history (match_id, field, old, new, at, source, sync_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (c.match_id, c.field, c.old, c.new, at, report.path, report.sync_id),
            )
            touched.add(c.match_id)
        conn.execute(
            "UPDATE matches SET tracking_rev = tracking_rev + 1 WHERE match_id IN "
            "(SELECT value FROM json_each(?))",
            (json.dumps(sorted(touched)),),
        )
    report.applied = True
