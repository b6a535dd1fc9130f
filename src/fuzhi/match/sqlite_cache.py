"""What the token and count caches share: one SQLite file in WAL mode that turns itself off.

A cache must never stop a match: any SQLite or file error (a corrupt or unwritable file, a
lock held too long) turns the cache off for the rest of the run with one warning, and from
then on it reads nothing and stores nothing.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

_BATCH = 500  # values per ``IN (…)`` lookup
_TIMEOUT = 10.0  # seconds a connection waits for another run's lock
_WARNED: set[tuple[str, str]] = set()


class SqliteCache:
    """One cache file. Subclasses name themselves (``label``), give the ``schema`` statements
    and any ``pragmas`` to run before WAL mode is set (e.g. a new file's page size)."""

    label = "cache"
    schema: tuple[str, ...] = ()
    pragmas: tuple[str, ...] = ()

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=_TIMEOUT)
            self._set_up()
        except (sqlite3.Error, OSError) as exc:
            self.disable(exc)

    def _set_up(self) -> None:
        """Pragmas and schema. Two runs creating the file at once can find it locked
        without SQLite waiting (switching a new file to WAL): that is retried."""
        assert self._db is not None
        deadline = time.monotonic() + _TIMEOUT
        while True:
            try:
                for pragma in (*self.pragmas, "journal_mode=WAL", "synchronous=NORMAL"):
                    self._db.execute(f"PRAGMA {pragma}")
                with self._db:
                    for statement in self.schema:
                        self._db.execute(statement)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    @property
    def enabled(self) -> bool:
        return self._db is not None

    def disable(self, reason: object) -> None:
        """Stop using the cache for this run (nothing more is read or stored); warned once
        per file and reason in a process (a run opens its caches a chunk at a time)."""
        said = (str(self.path), str(reason))
        if said not in _WARNED:
            _WARNED.add(said)
            log.warning("%s %s not used: %s", self.label, self.path, reason)
        self.close()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def insert_many(self, sql: str, rows: Mapping[bytes, tuple[object, ...]]) -> None:
        """Run ``sql`` (an insert of the key, then the values) for each row in one
        transaction, in key order: inserting into the B-tree then appends rather than splits
        pages (4x faster at 100k). Nothing once disabled."""
        if self._db is None or not rows:
            return
        try:
            with self._db:
                self._db.executemany(sql, ((k, *rows[k]) for k in sorted(rows)))
        except sqlite3.Error as exc:
            self.disable(exc)

    def select_in(self, sql: str, values: Iterable[object]) -> list[tuple[object, ...]]:
        """Rows of ``sql`` (one ``IN ({})``) over ``values`` in batches; [] once disabled."""
        if self._db is None:
            return []
        values = list(values)
        rows: list[tuple[object, ...]] = []
        try:
            for i in range(0, len(values), _BATCH):
                batch = values[i : i + _BATCH]
                rows += self._db.execute(sql.format(",".join("?" * len(batch))), batch).fetchall()
        except sqlite3.Error as exc:
            self.disable(exc)
            return []
        return rows
