"""The workspace database: one SQLite file in WAL mode with a busy timeout.

Connections run in autocommit mode; every write goes through :func:`transaction`, which
takes the write lock up front (``BEGIN IMMEDIATE``) so a write either lands whole or not at
all, even when the process is killed half-way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

from fuzhi.errors import FuzhiError, InputError
from fuzhi.workspace.locate import Workspace
from fuzhi.workspace.migrations import migrate

BUSY_TIMEOUT_MS = 10_000


def now() -> str:
    """The current local time as ISO 8601 with offset, the format of every stored time."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def connect(path: Path) -> sqlite3.Connection:
    """An autocommit connection in WAL mode with a busy timeout and foreign keys on."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{path}: not a usable fuzhi database ({exc})") from exc
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: committed when the block ends, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def open_workspace(workspace: Workspace) -> sqlite3.Connection:
    """Connect to the workspace database, creating and migrating it as needed."""
    conn = connect(workspace.db_path)
    try:
        migrate(conn, where=str(workspace.db_path))
        if get_meta(conn, "workspace_id") is None:
            with transaction(conn):
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('workspace_id', ?)",
                    (uuid.uuid4().hex,),
                )
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?)", (now(),)
                )
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise FuzhiError(f"{workspace.db_path}: database error ({exc})") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


@contextlib.contextmanager
def session(
    workspace: Workspace, *, write: bool, purpose: str = ""
) -> Iterator[sqlite3.Connection]:
    """A connection to the workspace; writers hold the workspace lock for the whole block."""
    from fuzhi.workspace.lock import workspace_lock

    with contextlib.ExitStack() as stack:
        if write:
            stack.enter_context(workspace_lock(workspace, purpose))
        conn = open_workspace(workspace)
        stack.callback(conn.close)
        yield conn
