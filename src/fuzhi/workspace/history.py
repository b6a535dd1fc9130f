"""The trail of one match: when it was proposed and every tracking change since."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import pandas as pd

from fuzhi.errors import InputError
from fuzhi.workspace.columns import BY_KEY


@dataclass(frozen=True)
class HistoryEntry:
    at: str
    field: str
    old: str | None
    new: str | None
    source: str

    def label(self, lang: str = "zh") -> str:
        column = BY_KEY.get(self.field)
        if column is None:
            return self.field
        return column.zh if lang == "zh" else column.en


@dataclass(frozen=True)
class MatchTrail:
    match_id: str
    demand_id: str
    achievement_id: str
    status: str
    score: float | None
    created_at: str
    entries: list[HistoryEntry]


def match_history(conn: sqlite3.Connection, match_id: str) -> MatchTrail:
    """The pair and its changes, oldest first; InputError for an unknown ID."""
    wanted = match_id.strip().upper()
    row = conn.execute(
        "SELECT match_id, demand_id, achievement_id, status, score, created_at FROM matches "
        "WHERE match_id = ?",
        (wanted,),
    ).fetchone()
    if row is None:
        raise InputError(f"no match {match_id!r} in this workspace (IDs look like M-1A2B3C4D5E6F)")
    entries = [
        HistoryEntry(r["at"], r["field"], r["old"], r["new"], r["source"])
        for r in conn.execute(
            "SELECT at, field, old, new, source FROM history WHERE match_id = ? ORDER BY id",
            (wanted,),
        )
    ]
    return MatchTrail(
        row["match_id"],
        row["demand_id"],
        row["achievement_id"],
        row["status"],
        row["score"],
        row["created_at"],
        entries,
    )


def status_history(conn: sqlite3.Connection) -> pd.DataFrame:
    """Every status change: columns match_id, status (the new one), changed_at.

    The shape :func:`fuzhi.report.tracking.match_states` reads.
    """
    rows = conn.execute(
        "SELECT match_id, new AS status, at AS changed_at FROM history "
        "WHERE field = 'status' ORDER BY id"
    ).fetchall()
    return pd.DataFrame([dict(r) for r in rows], columns=["match_id", "status", "changed_at"])
