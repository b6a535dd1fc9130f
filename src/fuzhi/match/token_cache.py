"""The on-disk token cache: a text's tokens (joined by spaces) by a hash of the text.

One SQLite file in WAL mode, so concurrent runs are safe. Tokens are kept as one string per
text (``Tokenizer.tokens`` reads them, ``tokenize.store_tokens`` writes them). It lives in
the fuzhi cache folder (``default_cache_dir``), next to jieba's dictionary cache.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import platformdirs

from fuzhi.match.sqlite_cache import SqliteCache


def default_cache_dir() -> Path:
    """``$FUZHI_CACHE_DIR`` if set, else the per-user cache folder of fuzhi."""
    env = os.environ.get("FUZHI_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("fuzhi"))


class TokenCache(SqliteCache):
    """Space-joined tokens by text key in one SQLite file (off with a warning on any error)."""

    label = "token cache"
    pragmas = ("page_size=65536",)  # a new file's; ~4x fewer pages to write than 4 KB ones
    schema = (
        "CREATE TABLE IF NOT EXISTS tokens (key BLOB PRIMARY KEY, tokens TEXT NOT NULL)"
        " WITHOUT ROWID",
    )

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, str]:
        """Cached space-joined tokens of those keys that are present (looked up in key
        order: the B-tree forward). A damaged row (not text) counts as missing."""
        rows = self.select_in(
            "SELECT key, tokens FROM tokens WHERE key IN ({}) AND typeof(tokens) = 'text'",
            sorted(set(keys)),
        )
        return dict(rows)  # type: ignore[arg-type]

    def put_many(self, items: Mapping[bytes, str]) -> None:
        """Store space-joined tokens (tokens never contain a space)."""
        self.insert_many(
            "INSERT OR IGNORE INTO tokens (key, tokens) VALUES (?, ?)",
            {k: (v,) for k, v in items.items()},
        )
