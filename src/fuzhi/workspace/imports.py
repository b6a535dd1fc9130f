"""Import library files into the workspace: upsert by ID, one transaction per file.

Every kind (achievements, demands, events) goes through the same code. A row whose content
is unchanged is left alone, so importing the same file twice changes nothing; new and
changed rows are marked for the next incremental match.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fuzhi.errors import InputError
from fuzhi.io.records import EXTRA, ROW, Library, Problem, load_library
from fuzhi.schema import Kind
from fuzhi.workspace.records import check_columns, field_names, fingerprint, stored_values
from fuzhi.workspace.store import now, transaction


@dataclass
class FileImport:
    """What importing one file did."""

    path: str
    sheet: str | None
    kind: Kind
    batch_id: int | None = None
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    warnings: int = 0
    problems: list[Problem] = field(default_factory=list)


def import_files(
    conn: sqlite3.Connection,
    kind: Kind,
    paths: Sequence[Path],
    *,
    sheet: str | None = None,
    overrides: Mapping[str, str] | None = None,
    strict: bool = False,
) -> list[FileImport]:
    """Validate every file, then upsert each in its own transaction.

    With ``strict`` nothing lands when any row of any file is rejected (InputError).
    """
    check_columns(conn, kind)
    libraries = [load_library(Path(p), kind, sheet, overrides) for p in paths]
    if strict:
        rejected = [p for lib in libraries for p in lib.rejected]
        if rejected:
            shown = "; ".join(str(p) for p in rejected[:5])
            more = f" (and {len(rejected) - 5} more)" if len(rejected) > 5 else ""
            raise InputError(
                f"--strict: {len(rejected)} row(s) rejected, nothing imported: {shown}{more}"
            )
    return [upsert_library(conn, library) for library in libraries]


def upsert_library(conn: sqlite3.Connection, library: Library) -> FileImport:
    """Upsert one validated file in one transaction and record it as an import batch."""
    kind = library.kind
    source = library.sources[0]
    report = FileImport(
        source.path,
        source.sheet,
        kind,
        rejected=len(library.rejected),
        warnings=len(library.problems) - len(library.rejected),
        problems=list(library.problems),
    )
    names = field_names(kind)
    table = kind.value
    columns = [*names, "fingerprint", "extra", "source_path", "source_sheet", "source_row"]
    insert = (
        f"INSERT INTO {table} ({', '.join(columns)}, batch_id, created_at, updated_at, "
        f"needs_match) VALUES ({', '.join('?' * len(columns))}, ?, ?, ?, 1)"
    )
    update = (
        f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in columns)}, batch_id = ?, "
        "updated_at = ?, needs_match = 1 WHERE id = ?"
    )
    with transaction(conn):
        started = now()
        batch_id = conn.execute(
            "INSERT INTO import_batches (kind, path, sheet, sha256, started_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (kind.value, source.path, source.sheet, source.sha256, started),
        ).lastrowid
        report.batch_id = batch_id
        ids = library.records["id"].tolist()
        existing = dict(
            conn.execute(
                f"SELECT id, fingerprint FROM {table} WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(ids),),
            ).fetchall()
        )
        for record in library.records.to_dict("records"):
            values = stored_values(kind, record)
            extra: dict[str, str] = record.get(EXTRA) or {}
            fp = fingerprint(values, extra)
            old = existing.get(values["id"])
            if old == fp:
                report.unchanged += 1
                continue
            row = [
                *(values[n] for n in names),
                fp,
                json.dumps(extra, ensure_ascii=False),
                source.path,
                source.sheet,
                None if record.get(ROW) is None else int(record[ROW]),
                batch_id,
            ]
            if old is None:
                conn.execute(insert, (*row, started, started))
                report.new += 1
            else:
                conn.execute(update, (*row, started, values["id"]))
                report.updated += 1
        conn.execute(
            "UPDATE import_batches SET finished_at = ?, new = ?, updated = ?, unchanged = ?, "
            "rejected = ?, warnings = ? WHERE id = ?",
            (
                now(),
                report.new,
                report.updated,
                report.unchanged,
                report.rejected,
                report.warnings,
                batch_id,
            ),
        )
    return report
