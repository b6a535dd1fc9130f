"""The on-disk token cache: a text's tokens (joined by spaces) by a hash of the text.

One SQLite file in WAL mode, so concurrent runs are safe. Tokens are kept as one string per
text, as the text model reads them (``Tokenizer.tokens_joined``): no per-token objects are made
when reading. It lives in the fuzhi cache folder (``default_cache_dir``), next to jieba's
dictionary cache.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path

import platformdirs

log = logging.getLogger(__name__)

_BATCH = 500


def default_cache_dir() -> Path:
    """``$FUZHI_CACHE_DIR`` if set, else the per-user cache folder of fuzhi."""
    env = os.environ.get("FUZHI_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("fuzhi"))


def open_cache_db(path: Path, *pragmas: str) -> sqlite3.Connection:
    """A connection to a cache file in WAL mode (concurrent runs read while one writes),
    its folder made first; ``pragmas`` run before WAL is set (e.g. a new file's page size).
    Raises ``sqlite3.Error`` or ``OSError``: callers turn their cache off with a warning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=10.0)
    try:
        for pragma in (*pragmas, "journal_mode=WAL", "synchronous=NORMAL"):
            db.execute(f"PRAGMA {pragma}")
    except sqlite3.Error:
        db.close()
        raise
    return db


class TokenCache:
    """Space-joined tokens by text key in one SQLite file.

    Any SQLite error (a corrupt or unwritable file, a lock held too long) turns the cache off
    for this run with a warning: a cache must never stop a match.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        try:
            db = open_cache_db(path)
            db.execute(
                "CREATE TABLE IF NOT EXISTS tokens (key BLOB PRIMARY KEY, tokens TEXT NOT NULL)"
                " WITHOUT ROWID"
            )
            self._db = db
        except (sqlite3.Error, OSError) as exc:
            self._disable(exc)

    def _disable(self, exc: Exception) -> None:
        log.warning("token cache %s not used: %s", self.path, exc)
        if self._db is not None:
            self._db.close()
        self._db = None

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, str]:
        """Cached space-joined tokens of those keys that are present."""
        found: dict[bytes, str] = {}
        if self._db is None:
            return found
        unique = sorted(set(keys))  # in key order, lookups walk the B-tree forward
        try:
            for i in range(0, len(unique), _BATCH):
                batch = unique[i : i + _BATCH]
                marks = ",".join("?" * len(batch))
                found.update(
                    self._db.execute(
                        f"SELECT key, tokens FROM tokens WHERE key IN ({marks})"
                        " AND typeof(tokens) = 'text'",  # a damaged row counts as missing
                        batch,
                    ).fetchall()
                )
        except sqlite3.Error as exc:
            self._disable(exc)
            return {}
        return found

    def put_many(self, items: Mapping[bytes, str]) -> None:
        """Store space-joined tokens (tokens never contain a space), in key order: inserting
        into the B-tree then appends rather than splits pages (4x faster at 100k)."""
        if self._db is None or not items:
            return
        try:
            with self._db:
                self._db.executemany(
                    "INSERT OR IGNORE INTO tokens (key, tokens) VALUES (?, ?)",
                    ((k, items[k]) for k in sorted(items)),
                )
        except sqlite3.Error as exc:
            self._disable(exc)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
