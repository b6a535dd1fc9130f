"""Export the tracking workbook: one row per match, editable tracking columns, round-trip safe.

Sheet 跟踪 (first): a hidden, locked 匹配编号 column that identifies the row on sync; the
tracking columns unlocked, everything else locked; sheet protection without a password
that still allows filtering and sorting; frozen header and autofilter. 状态 is a dropdown
fed from the hidden sheet 选项. The very hidden sheet ``_fuzhi`` records the export ID,
time, schema version, workspace and a fingerprint of each row's exported tracking values;
the same values are kept in the database so sync can tell who changed what.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation

from fuzhi import __version__
from fuzhi.io.atomic import atomic_path
from fuzhi.regions import matches_region, parse_place
from fuzhi.report.writers import FIXED_TIME, display_width
from fuzhi.report.xlsx_stream import excel_text
from fuzhi.schema import Lang, Status
from fuzhi.workspace.columns import (
    COLUMNS,
    META_SHEET,
    OPTIONS_SHEET,
    TRACKING_SHEET,
    Values,
    canonical,
    row_fingerprint,
)
from fuzhi.workspace.migrations import schema_version
from fuzhi.workspace.store import get_meta, now, transaction

_UNLOCKED = Protection(locked=False)
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_EDIT_FILL = PatternFill("solid", fgColor="FFF2CC")


@dataclass(frozen=True)
class TrackingFilters:
    """Which matches to export: statuses (any when empty), demand region, changed since."""

    statuses: tuple[Status, ...] = ()
    region: str | None = None
    since: dt.date | None = None


@dataclass
class TrackingExport:
    """What an export wrote."""

    export_id: str
    path: Path
    rows: int
    created_at: str
    extra_columns: list[str] = field(default_factory=list)


_QUERY = """
SELECT m.match_id, m.demand_id, m.achievement_id, m.score, m.reasons_zh, m.reasons_en,
       m.status, m.owner, m.next_follow_up, m.contract_amount, m.note, m.tracking_rev,
       m.updated_at, d.title AS demand_title, d.enterprise, d.region AS demand_region,
       d.extra AS demand_extra, a.title AS achievement_title, a.holder, a.extra AS achievement_extra
FROM matches m
JOIN demands d ON d.id = m.demand_id
JOIN achievements a ON a.id = m.achievement_id
WHERE (m.proposed OR m.status != '待对接' OR m.tracking_rev > 0)
ORDER BY m.demand_id, m.proposed DESC, m.rank, m.achievement_id
"""


def _selected(conn: sqlite3.Connection, filters: TrackingFilters) -> list[dict[str, Any]]:
    statuses = {s.value for s in filters.statuses}
    since = filters.since.isoformat() if filters.since else None
    rows = []
    for row in conn.execute(_QUERY):
        r = dict(row)
        if statuses and r["status"] not in statuses:
            continue
        if since and (r["updated_at"] or "")[:10] < since:
            continue
        if filters.region and not matches_region(
            parse_place(r["demand_region"] or ""), filters.region
        ):
            continue
        rows.append(r)
    return rows


def _extra_headers(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(side, source header, shown header) of the records' unknown columns, in first-seen order."""
    seen: dict[tuple[str, str], None] = {}
    for r in rows:
        for side in ("demand", "achievement"):
            for header in json.loads(r[f"{side}_extra"] or "{}"):
                seen.setdefault((side, header), None)
    fixed = {h for c in COLUMNS for h in (c.zh, c.en)}
    counts: dict[str, int] = {}
    for _, header in seen:
        counts[header] = counts.get(header, 0) + 1
    out = []
    for side, header in seen:
        clash = header in fixed or counts[header] > 1
        prefix = {"demand": "需求·", "achievement": "成果·"}[side]
        out.append((side, header, prefix + header if clash else header))
    return out


def _text_cell(ws: Any, value: Any) -> WriteOnlyCell:
    if value is None or value == "":
        return WriteOnlyCell(ws, value=None)
    cell = WriteOnlyCell(ws, value=excel_text(value))
    cell.data_type = "s"  # user text is never a formula
    return cell


def _status_label(status: str, lang: Lang) -> str:
    parsed = Status.parse(status)
    return parsed.value if lang is Lang.ZH else parsed.en


def _row_cells(
    ws: Any, r: dict[str, Any], values: Values, extras: list[tuple[str, str, str]], lang: Lang
) -> list[WriteOnlyCell]:
    cells = []
    d_extra = json.loads(r["demand_extra"] or "{}")
    a_extra = json.loads(r["achievement_extra"] or "{}")
    reasons = r["reasons_zh"] if lang is Lang.ZH else r["reasons_en"]
    for col in COLUMNS:
        key = col.key
        if key == "score":
            cell = WriteOnlyCell(ws, value=r["score"])
            cell.number_format = "0.0%"
        elif key == "next_follow_up" and values[key]:
            cell = WriteOnlyCell(ws, value=dt.date.fromisoformat(values[key] or ""))
            cell.number_format = "yyyy-mm-dd"
        elif key == "contract_amount" and values[key] is not None:
            cell = WriteOnlyCell(ws, value=float(values[key] or 0))
            cell.number_format = "#,##0.00"
        elif key == "status":
            cell = _text_cell(ws, _status_label(values["status"] or "", lang))
        elif key in values:
            cell = _text_cell(ws, values[key])
        elif key == "reasons":
            cell = _text_cell(ws, reasons)
        else:
            cell = _text_cell(ws, r[key])
        if col.editable:
            cell.protection = _UNLOCKED
        cells.append(cell)
    for side, header, _ in extras:
        cells.append(_text_cell(ws, (d_extra if side == "demand" else a_extra).get(header)))
    return cells


def export_tracking(
    conn: sqlite3.Connection,
    path: Path,
    filters: TrackingFilters = TrackingFilters(),
    lang: Lang | str = Lang.ZH,
) -> TrackingExport:
    """Write the tracking workbook to ``path`` and remember what each row held."""
    lang = Lang(lang)
    conn.execute("BEGIN")
    try:
        rows = _selected(conn, filters)
        version = schema_version(conn)
        workspace_id = get_meta(conn, "workspace_id") or ""
    finally:
        conn.execute("COMMIT")
    export_id = "X-" + uuid.uuid4().hex[:12].upper()
    created = now()
    extras = _extra_headers(rows)
    values = {r["match_id"]: canonical(r) for r in rows}

    wb = Workbook(write_only=True)
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    i = 0 if lang is Lang.ZH else 1
    ws = wb.create_sheet(TRACKING_SHEET[i])
    headers = [c.header(lang) for c in COLUMNS] + [shown for _, _, shown in extras]
    widths = {"match_id": 16, "score": 8, "reasons": 50, "note": 40, "status": 10}
    for n, header in enumerate(headers, start=1):
        key = COLUMNS[n - 1].key if n <= len(COLUMNS) else ""
        letter = get_column_letter(n)
        ws.column_dimensions[letter].width = widths.get(
            key, min(max(display_width(header) + 4, 12), 40)
        )
    ws.column_dimensions["A"].hidden = True
    ws.freeze_panes = "B2"
    status_col = get_column_letter(1 + [c.key for c in COLUMNS].index("status"))
    last = len(rows) + 1
    options_name = OPTIONS_SHEET[i]
    dv = DataValidation(
        type="list",
        formula1=f"{quote_sheetname(options_name)}!$A$1:$A${len(Status)}",
        allow_blank=False,
        showErrorMessage=True,
        errorTitle="状态" if lang is Lang.ZH else "Status",
        error=("请选择：" if lang is Lang.ZH else "Choose one of: ")
        + "、".join(_status_label(s.value, lang) for s in Status),
    )
    dv.add(f"{status_col}2:{status_col}{max(last, 2)}")
    ws.data_validations.append(dv)
    ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{last}"
    ws.protection.sheet = True
    ws.protection.autoFilter = False  # False = allowed while protected
    ws.protection.sort = False
    ws.protection.formatColumns = False
    ws.protection.formatRows = False
    editable = {n for n, c in enumerate(COLUMNS) if c.editable}
    header_cells = []
    for n, header in enumerate(headers):
        cell = _text_cell(ws, header)
        cell.font = _HEADER_FONT
        cell.fill = _EDIT_FILL if n in editable else _HEADER_FILL
        header_cells.append(cell)
    ws.append(header_cells)
    for r in rows:
        cells = _row_cells(ws, r, values[r["match_id"]], extras, lang)
        cells[[c.key for c in COLUMNS].index("reasons")].alignment = Alignment(vertical="top")
        ws.append(cells)

    options = wb.create_sheet(options_name)
    options.sheet_state = "hidden"
    for s in Status:
        options.append([_text_cell(options, _status_label(s.value, lang))])

    meta = wb.create_sheet(META_SHEET)
    meta.sheet_state = "veryHidden"
    for key, value in (
        ("export_id", export_id),
        ("created_at", created),
        ("schema_version", str(version)),
        ("workspace_id", workspace_id),
        ("fuzhi_version", __version__),
        ("lang", lang.value),
    ):
        meta.append([_text_cell(meta, key), _text_cell(meta, value)])
    meta.append([])
    meta.append([_text_cell(meta, "match_id"), _text_cell(meta, "fingerprint")])
    for r in rows:
        fp = row_fingerprint(r["match_id"], values[r["match_id"]])
        meta.append([_text_cell(meta, r["match_id"]), _text_cell(meta, fp)])

    filters_json = json.dumps(
        {
            "statuses": [s.value for s in filters.statuses],
            "region": filters.region,
            "since": filters.since.isoformat() if filters.since else None,
            "lang": lang.value,
        },
        ensure_ascii=False,
    )
    with atomic_path(path) as tmp:
        wb.save(tmp)
        with transaction(conn):
            conn.execute(
                "INSERT INTO exports (export_id, created_at, path, filters, rows) "
                "VALUES (?, ?, ?, ?, ?)",
                (export_id, created, str(path), filters_json, len(rows)),
            )
            conn.executemany(
                "INSERT INTO export_rows (export_id, match_id, tracking_rev, values_json) "
                "VALUES (?, ?, ?, ?)",
                (
                    (
                        export_id,
                        r["match_id"],
                        r["tracking_rev"],
                        json.dumps(values[r["match_id"]], ensure_ascii=False),
                    )
                    for r in rows
                ),
            )
    return TrackingExport(export_id, Path(path), len(rows), created, [s for _, _, s in extras])
