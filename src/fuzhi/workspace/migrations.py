"""Named, ordered schema migrations, each applied once and recorded in ``schema_migrations``.

A migration is frozen once released: a later change to :mod:`fuzhi.schema` (a new field)
needs a new migration that adds the column, never an edit of an old one. A database whose
recorded version is newer than this fuzhi knows is refused rather than guessed at.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from fuzhi.errors import FuzhiError

_RECORD_COLUMNS = """
    fingerprint TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    source_path TEXT,
    source_sheet TEXT,
    source_row INTEGER,
    batch_id INTEGER REFERENCES import_batches(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    needs_match INTEGER NOT NULL DEFAULT 1
"""

_0001_LIBRARIES = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE import_batches (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    sheet TEXT,
    sha256 TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    new INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0,
    warnings INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE achievements (
    id TEXT PRIMARY KEY,
    title TEXT, description TEXT, keywords TEXT, field TEXT, industry TEXT, holder TEXT,
    region TEXT, trl INTEGER, licensing TEXT, price REAL,
    {_RECORD_COLUMNS}
);
CREATE TABLE demands (
    id TEXT PRIMARY KEY,
    title TEXT, description TEXT, keywords TEXT, enterprise TEXT, field TEXT, industry TEXT,
    region TEXT, trl INTEGER, budget REAL, deadline TEXT, demand_type TEXT,
    {_RECORD_COLUMNS}
);
CREATE INDEX achievements_needs_match ON achievements(needs_match) WHERE needs_match;
CREATE INDEX demands_needs_match ON demands(needs_match) WHERE needs_match;
"""

_0002_EVENTS = f"""
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    name TEXT, date TEXT, region TEXT, organiser TEXT, form TEXT,
    enterprises INTEGER, achievements INTEGER, intents INTEGER, contracts INTEGER, amount REAL,
    {_RECORD_COLUMNS}
);
"""

_0003_MATCHES = """
CREATE TABLE match_runs (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    mode TEXT NOT NULL,
    parameters TEXT NOT NULL,
    model_version TEXT,
    fuzhi_version TEXT NOT NULL,
    demands_matched INTEGER NOT NULL DEFAULT 0,
    achievements_matched INTEGER NOT NULL DEFAULT 0,
    pairs_new INTEGER NOT NULL DEFAULT 0,
    pairs_updated INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE matches (
    match_id TEXT PRIMARY KEY,
    demand_id TEXT NOT NULL,
    achievement_id TEXT NOT NULL,
    rank INTEGER,
    score REAL,
    text_score REAL,
    f_field REAL, f_industry REAL, f_region REAL, f_trl REAL, f_budget REAL,
    shared_terms TEXT NOT NULL DEFAULT '[]',
    reasons_zh TEXT,
    reasons_en TEXT,
    model_version TEXT,
    run_id INTEGER REFERENCES match_runs(id),
    proposed INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL DEFAULT '待对接',
    owner TEXT,
    next_follow_up TEXT,
    contract_amount REAL,
    note TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    tracking_rev INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (demand_id, achievement_id)
);
CREATE INDEX matches_achievement ON matches(achievement_id);
CREATE INDEX matches_status ON matches(status);
"""

_0004_TRACKING = """
CREATE TABLE exports (
    export_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    path TEXT NOT NULL,
    filters TEXT NOT NULL,
    rows INTEGER NOT NULL
);
CREATE TABLE export_rows (
    export_id TEXT NOT NULL REFERENCES exports(export_id),
    match_id TEXT NOT NULL,
    tracking_rev INTEGER NOT NULL,
    values_json TEXT NOT NULL,
    PRIMARY KEY (export_id, match_id)
) WITHOUT ROWID;
CREATE TABLE syncs (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    path TEXT NOT NULL,
    export_id TEXT,
    applied INTEGER NOT NULL,
    conflicts INTEGER NOT NULL
);
CREATE TABLE history (
    id INTEGER PRIMARY KEY,
    match_id TEXT NOT NULL,
    field TEXT NOT NULL,
    old TEXT,
    new TEXT,
    at TEXT NOT NULL,
    source TEXT NOT NULL,
    sync_id INTEGER REFERENCES syncs(id)
);
CREATE INDEX history_match ON history(match_id, id);
"""


@dataclass(frozen=True)
class Migration:
    """One schema step: its number, a name a person can read, and what it does."""

    version: int
    name: str
    apply: str | Callable[[sqlite3.Connection], None]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "libraries", _0001_LIBRARIES),
    Migration(2, "events", _0002_EVENTS),
    Migration(3, "matches", _0003_MATCHES),
    Migration(4, "tracking", _0004_TRACKING),
)
LATEST = MIGRATIONS[-1].version


class SchemaTooNewError(FuzhiError):
    """The database was migrated by a newer fuzhi."""


def _ensure_table(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )


def schema_version(conn: sqlite3.Connection) -> int:
    """The highest applied migration, 0 for an empty database."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(
    conn: sqlite3.Connection, target: int = LATEST, where: str = "database"
) -> list[Migration]:
    """Apply the missing migrations up to ``target``, each in its own transaction."""
    current = schema_version(conn)
    if current > LATEST:
        raise SchemaTooNewError(
            f"{where}: schema version {current} is newer than this fuzhi knows ({LATEST}); "
            "upgrade fuzhi"
        )
    applied: list[Migration] = []
    for migration in MIGRATIONS:
        if migration.version > target:
            break
        if migration.version <= current:  # applied: no write lock needed
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            _ensure_table(conn)
            if schema_version(conn) >= migration.version:  # another process got there first
                conn.execute("ROLLBACK")
                continue
            if isinstance(migration.apply, str):
                for statement in migration.apply.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            else:
                migration.apply(conn)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, dt.datetime.now().astimezone().isoformat()),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(migration)
    return applied
