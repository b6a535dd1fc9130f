"""Stored library records: the columns each kind keeps, and turning rows to and from frames.

The table of a kind holds one column per :data:`fuzhi.schema.FIELDS` field (same name),
the unknown columns of the source sheet as JSON (``extra``), a fingerprint of both, and
where the row came from.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from fuzhi.errors import FuzhiError
from fuzhi.io.records import EXTRA, ROW, records_frame
from fuzhi.schema import FIELDS, FieldType, Kind


def field_names(kind: Kind) -> list[str]:
    return [f.name for f in FIELDS[kind]]


def check_columns(conn: sqlite3.Connection, kind: Kind) -> None:
    """Refuse to work when the schema has a field the database lacks (a missing migration)."""
    have = {row[1] for row in conn.execute(f"PRAGMA table_info({kind.value})")}
    missing = [n for n in field_names(kind) if n not in have]
    if missing:
        raise FuzhiError(
            f"the {kind.value} table lacks column(s) {', '.join(missing)}: "
            "this fuzhi needs a schema migration that adds them"
        )


def _stored(value: Any, ftype: FieldType) -> Any:
    """A record value as SQLite stores it (None for empty)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if ftype in (FieldType.TRL, FieldType.COUNT):
        return int(value)
    if ftype is FieldType.MONEY:
        return float(value)
    if ftype is FieldType.DATE:
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    text = str(value)
    return text or None


def stored_values(kind: Kind, record: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical fields of one validated record, ready for SQLite."""
    return {f.name: _stored(record.get(f.name), f.type) for f in FIELDS[kind]}


def fingerprint(values: Mapping[str, Any], extra: Mapping[str, str]) -> str:
    """A short hash of a record's content: equal content, equal fingerprint."""
    text = json.dumps([values, dict(sorted(extra.items()))], ensure_ascii=False, sort_keys=True)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def load_frame(
    conn: sqlite3.Connection, kind: Kind, ids: Iterable[str] | None = None
) -> pd.DataFrame:
    """Stored records of ``kind`` as a frame shaped like :func:`fuzhi.io.records.records_frame`."""
    names = field_names(kind)
    sql = f"SELECT {', '.join(names)}, source_row, extra FROM {kind.value}"
    params: tuple[Any, ...] = ()
    if ids is not None:
        wanted = list(ids)
        sql += " WHERE id IN (SELECT value FROM json_each(?))"
        params = (json.dumps(wanted),)
    rows = []
    date_fields = {f.name for f in FIELDS[kind] if f.type is FieldType.DATE}
    for row in conn.execute(sql + " ORDER BY id", params):
        record = {n: row[n] for n in names}
        for n in date_fields:
            if record[n]:
                record[n] = dt.date.fromisoformat(record[n])
        record[ROW] = row["source_row"]
        record[EXTRA] = json.loads(row["extra"] or "{}")
        rows.append(record)
    return records_frame(kind, rows)
