"""What ``fuzhi workspace status`` shows, and a consistent backup taken while in use."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from fuzhi.errors import UsageError
from fuzhi.io.atomic import atomic_path
from fuzhi.schema import Kind, Status
from fuzhi.workspace.locate import Workspace
from fuzhi.workspace.migrations import LATEST, schema_version
from fuzhi.workspace.store import connect, get_meta


@dataclass(frozen=True)
class WorkspaceStatus:
    """Counts, the last import and match, and the schema version of one workspace."""

    root: Path
    schema_version: int
    latest_schema: int
    workspace_id: str | None
    records: dict[str, int]
    matches: int
    by_status: dict[str, int]
    last_import: dict[str, str] | None
    last_match: dict[str, str] | None
    pending_match: dict[str, int]


def workspace_status(conn: sqlite3.Connection, workspace: Workspace) -> WorkspaceStatus:
    """Read the status in one snapshot."""
    conn.execute("BEGIN")
    try:
        records = {
            k.value: conn.execute(f"SELECT COUNT(*) FROM {k.value}").fetchone()[0] for k in Kind
        }
        pending = {
            k.value: conn.execute(f"SELECT COUNT(*) FROM {k.value} WHERE needs_match").fetchone()[0]
            for k in (Kind.ACHIEVEMENTS, Kind.DEMANDS)
        }
        counts = dict(conn.execute("SELECT status, COUNT(*) FROM matches GROUP BY status"))
        by_status = {s.value: int(counts.get(s.value, 0)) for s in Status}
        imp = conn.execute(
            "SELECT kind, path, finished_at, new, updated, unchanged, rejected "
            "FROM import_batches WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()
        run = conn.execute(
            "SELECT id, finished_at, mode, model_version, demands_matched, pairs_new "
            "FROM match_runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()
        version = schema_version(conn)
        ws_id = get_meta(conn, "workspace_id")
    finally:
        conn.execute("COMMIT")
    return WorkspaceStatus(
        root=workspace.root,
        schema_version=version,
        latest_schema=LATEST,
        workspace_id=ws_id,
        records=records,
        matches=sum(by_status.values()),
        by_status=by_status,
        last_import=None if imp is None else {k: str(v) for k, v in dict(imp).items()},
        last_match=None if run is None else {k: str(v) for k, v in dict(run).items()},
        pending_match=pending,
    )


def backup_workspace(conn: sqlite3.Connection, target: Path) -> int:
    """Copy the database to ``target`` with SQLite's online backup; returns its size in bytes.

    The backup API copies a consistent snapshot even while another process writes; the
    copy is written to a temporary file and renamed into place.
    """
    target = Path(target)
    if target.resolve() == Path(conn.execute("PRAGMA database_list").fetchone()[2]).resolve():
        raise UsageError(f"{target}: a backup cannot overwrite the workspace database")
    with atomic_path(target) as tmp:
        dest = connect(tmp)
        try:
            conn.backup(dest)
            dest.execute("PRAGMA journal_mode = DELETE")
        finally:
            dest.close()
    return target.stat().st_size
