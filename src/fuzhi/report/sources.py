"""Where the progress report's frames come from: the workspace database.

The report core (:func:`fuzhi.report.progress.build_progress`) only sees
:class:`~fuzhi.report.progress.ProgressInputs`; these adapters fill it. The workspace is
read in one transaction, so a report never mixes two states of a database another run is
writing to. Matches no longer proposed and never tracked (still 待对接, no history) are
left out: they are not part of anyone's follow-up.
"""

from __future__ import annotations

import sqlite3

import pandas as pd

from fuzhi.report.progress import ProgressInputs
from fuzhi.schema import Kind
from fuzhi.workspace.records import load_frame

MATCH_COLUMNS = (
    "match_id",
    "demand_id",
    "achievement_id",
    "score",
    "status",
    "signed_amount",
    "created_at",
    "updated_at",
)


def _created(conn: sqlite3.Connection, kind: Kind, frame: pd.DataFrame) -> pd.DataFrame:
    """Add each record's import time (``created_at``) so --as-of can leave later ones out."""
    stamps = dict(conn.execute(f"SELECT id, created_at FROM {kind.value}").fetchall())
    out = frame.copy()
    out["created_at"] = out["id"].map(stamps)
    return out


def inputs_from_workspace(conn: sqlite3.Connection) -> ProgressInputs:
    """Libraries, matches and status history from an open workspace connection."""
    conn.execute("BEGIN")
    try:
        frames = {
            kind: _created(conn, kind, load_frame(conn, kind))
            for kind in (Kind.ACHIEVEMENTS, Kind.DEMANDS, Kind.EVENTS)
        }
        matches = pd.read_sql_query(
            "SELECT match_id, demand_id, achievement_id, score, status, "
            "contract_amount AS signed_amount, created_at, updated_at FROM matches m "
            "WHERE proposed OR status != '待对接' OR EXISTS "
            "(SELECT 1 FROM history h WHERE h.match_id = m.match_id AND h.field = 'status') "
            "ORDER BY match_id",
            conn,
        )
        history = pd.read_sql_query(
            "SELECT match_id, new AS status, at AS changed_at FROM history "
            "WHERE field = 'status' ORDER BY id",
            conn,
        )
    finally:
        conn.execute("COMMIT")
    return ProgressInputs(
        achievements=frames[Kind.ACHIEVEMENTS],
        demands=frames[Kind.DEMANDS],
        matches=matches,
        events=frames[Kind.EVENTS],
        history=history,
    )
