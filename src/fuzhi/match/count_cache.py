"""The on-disk count cache: each document's field-weighted term counts, by a hash of its fields.

Beside the token cache, one SQLite file (WAL, so concurrent runs are safe) keeps a term table
(``terms``: an id per word or character n-gram code) and, per document, its summed weighted
counts as two blobs: the term ids (``uint32``) in term order (words by code point, then gram
codes) and their weights in the narrowest of ``uint8``, ``float16``, ``float32`` that holds
them all exactly. The key hashes the tokenizer version, n, the field weights and the raw
field texts, so a warm run neither folds nor segments: it hashes the documents, reads their
blobs in one pass and builds the counts from them (``fuzhi.match.terms``). A changed
dictionary, synonym or stop word changes the tokenizer version, and so every key.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# Bumped whenever the blobs or the way documents are counted change, so counts are redone.
_FORMAT = 1
_BATCH = 500
_PAGE_SIZE = 65536  # a document's blobs (~1-2 KB) stay on their B-tree page
_WIDTHS: dict[int, np.dtype[Any]] = {1: np.dtype(np.uint8), 2: np.dtype("<f2"), 4: np.dtype("<f4")}
BLOCK = 1 << 22  # entries indexed at a time: temporaries stay small (no fresh pages)

Term = str | int  # a word, or an n-gram code as a signed 64-bit integer
Row = tuple[int, bytes, bytes]  # entries, term ids, weights


def doc_keys(
    docs: Sequence[Mapping[str, str]],
    field_weights: tuple[tuple[str, float], ...],
    version: str,
    n: int,
) -> list[bytes]:
    """Cache keys of documents: their fields' raw texts (with lengths, so no two documents
    share one), under the tokenizer version, n and the field weights."""
    head = hashlib.sha256(f"{_FORMAT}\0{version}\0{n}\0{field_weights!r}\0".encode())
    names = [name for name, _ in field_weights]
    keys = []
    for doc in docs:
        texts = [str(doc.get(name) or "") for name in names]
        digest = head.copy()
        digest.update(
            (" ".join([str(len(t)) for t in texts]) + "\0" + "".join(texts)).encode(
                "utf-16-le", "surrogatepass"
            )
        )
        keys.append(digest.digest()[:16])
    return keys


class CountCache:
    """Term table and per-document counts in one SQLite file.

    Any SQLite error (a corrupt or unwritable file, a lock held too long) turns the cache off
    for this run with a warning: a cache must never stop a match.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=10.0)
            self._db = db
            db.execute(f"PRAGMA page_size={_PAGE_SIZE}")  # new files only
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA journal_size_limit=67108864")
            with db:
                db.execute("CREATE TABLE IF NOT EXISTS terms (id INTEGER PRIMARY KEY, term UNIQUE)")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS docs (key BLOB PRIMARY KEY, n INTEGER NOT NULL,"
                    " ids BLOB NOT NULL, weights BLOB NOT NULL) WITHOUT ROWID"
                )
        except (sqlite3.Error, OSError) as exc:
            self.disable(exc)

    @property
    def enabled(self) -> bool:
        return self._db is not None

    def disable(self, reason: object) -> None:
        """Stop using the cache for this run (nothing more is read or stored)."""
        log.warning("count cache %s not used: %s", self.path, reason)
        if self._db is not None:
            self._db.close()
        self._db = None

    def _select(self, sql: str, values: Iterable[object]) -> list[tuple[object, ...]]:
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

    def get_many(self, keys: Iterable[bytes]) -> dict[bytes, Row]:
        """Rows of those keys that are present (looked up in key order: the B-tree forward)."""
        rows = self._select("SELECT key, n, ids, weights FROM docs WHERE key IN ({})", sorted(keys))
        return {r[0]: r[1:] for r in rows}  # type: ignore[misc]

    def terms(self, ids: np.ndarray) -> list[tuple[int, Term]]:
        """(id, term) of those ``ids`` the term table holds."""
        return self._select("SELECT id, term FROM terms WHERE id IN ({})", ids.tolist())  # type: ignore[return-value]

    def add_terms(self, terms: Sequence[Term]) -> dict[Term, int]:
        """Ids of ``terms``, added to the table if new; {} once disabled. The write lock is
        held while adding, so the rows past the largest id are this run's, read back in one
        range; terms another run added first are looked up."""
        if self._db is None or not terms:
            return {}
        ordered = sorted(t for t in terms if isinstance(t, int)) + sorted(
            t for t in terms if isinstance(t, str)
        )  # the index order (integers before text): inserting appends
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                (top,) = self._db.execute("SELECT coalesce(max(id), 0) FROM terms").fetchone()
                self._db.executemany(
                    "INSERT OR IGNORE INTO terms (term) VALUES (?)", ((t,) for t in ordered)
                )
                rows = self._db.execute("SELECT term, id FROM terms WHERE id > ?", (top,))
                got: dict[Term, int] = dict(rows.fetchall())
        except sqlite3.Error as exc:
            self.disable(exc)
            return {}
        rest = [t for t in terms if t not in got]
        got.update(self._select("SELECT term, id FROM terms WHERE term IN ({})", rest))  # type: ignore[arg-type]
        return got

    def put_many(self, rows: Mapping[bytes, Row]) -> None:
        """Store documents' rows, replacing any stored under the same keys (in key order,
        which keeps inserting cheap)."""
        if self._db is None or not rows:
            return
        try:
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO docs (key, n, ids, weights) VALUES (?, ?, ?, ?)",
                    ((k, *rows[k]) for k in sorted(rows)),
                )
        except sqlite3.Error as exc:
            self.disable(exc)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def encode_rows(ids: np.ndarray, weights: np.ndarray, indptr: np.ndarray) -> list[Row]:
    """Rows of a CSR layout (term ids, float32 weights): each document's ids as ``uint32`` and
    its weights in the narrowest exact width."""
    weights = weights.astype(np.float32, copy=False)
    with np.errstate(all="ignore"):  # weights a width cannot hold are found below
        as_u8 = weights.astype(np.uint8)
        as_f16 = weights.astype("<f2")
    lo, hi = indptr[:-1], indptr[1:]

    def all_exact(exact: np.ndarray) -> np.ndarray:
        bad = np.concatenate([[0], np.cumsum(~exact)])
        return np.asarray(bad[hi] == bad[lo])

    width = np.where(
        all_exact(as_u8 == weights), 1, np.where(all_exact(as_f16 == weights), 2, 4)
    ).tolist()
    id_bytes = ids.astype("<u4").tobytes()
    by_width = {1: as_u8.tobytes(), 2: as_f16.tobytes(), 4: weights.astype("<f4").tobytes()}
    return [
        (b - a, id_bytes[4 * a : 4 * b], by_width[w][w * a : w * b])
        for a, b, w in zip(lo.tolist(), hi.tolist(), width, strict=True)
    ]


def valid_row(row: Row) -> bool:
    """Whether a stored row has the lengths a row of ``encode_rows`` has."""
    n, ids, weights = row
    if not isinstance(n, int) or not isinstance(ids, bytes) or not isinstance(weights, bytes):
        return False
    if n <= 0:
        return n == 0 and not ids and not weights
    return len(ids) == 4 * n and len(weights) in (n, 2 * n, 4 * n)


def seen_ids(ids: np.ndarray, size: int) -> np.ndarray:
    """A flag per id below ``size``: does ``ids`` hold it."""
    seen = np.zeros(size, dtype=bool)
    for at in range(0, len(ids), BLOCK):
        seen[ids[at : at + BLOCK]] = True
    return seen


def decode_rows(rows: Sequence[Row]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Term ids (uint32), weights (float32) and row pointers of rows, stacked in order."""
    n = np.fromiter((r[0] for r in rows), np.int64, len(rows))
    indptr = np.concatenate([[0], np.cumsum(n)])
    ids = np.frombuffer(b"".join([r[1] for r in rows]), "<u4")
    size = np.fromiter((len(r[2]) for r in rows), np.int64, len(rows))
    width = np.where(n > 0, size // np.maximum(n, 1), 1)
    weights = np.empty(len(ids), dtype=np.float32)
    if (width == 1).all():
        weights[:] = np.frombuffer(b"".join([r[2] for r in rows]), np.uint8)
        return ids, weights, indptr
    entry_width = np.repeat(width, n)
    for w, dtype in _WIDTHS.items():
        blob = b"".join([r[2] for r, rw in zip(rows, width.tolist(), strict=True) if rw == w])
        weights[entry_width == w] = np.frombuffer(blob, dtype)
    return ids, weights, indptr


class TermIds:
    """The term ids one run uses: read from (or added to) the cache's term table, or numbered
    for this run alone once the cache is off (nothing is stored after that)."""

    def __init__(self, cache: CountCache) -> None:
        self._cache = cache
        self._words: dict[str, int] = {}
        self._grams: dict[int, int] = {}  # n-gram code as a signed 64-bit integer → id
        self.top = 0  # 1 + the largest id in use

    def _learn(self, pairs: Iterable[tuple[int, Term]]) -> None:
        for pid, term in pairs:
            if isinstance(term, str):
                self._words[term] = pid
            else:
                self._grams[term] = pid
            self.top = max(self.top, pid + 1)

    def learn(self, seen: np.ndarray) -> np.ndarray:
        """Read the terms of the ``seen`` ids not yet known from the cache; returns a flag per
        id: seen but unknown to the term table (such rows must be counted again)."""
        known = np.zeros(len(seen), dtype=bool)
        held = np.fromiter([*self._words.values(), *self._grams.values()], np.int64)
        known[held[held < len(seen)]] = True
        asked = np.flatnonzero(seen & ~known)
        if len(asked):
            self._learn(got := self._cache.terms(asked))
            known[[pid for pid, _ in got if pid < len(seen)]] = True
        return seen & ~known

    def ids_of(self, words: Sequence[str], grams: np.ndarray) -> np.ndarray:
        """Ids of words, then of n-gram codes (``uint64``), adding those not yet known."""
        codes = grams.view(np.int64).tolist()
        new: list[Term] = [w for w in words if w not in self._words]
        new += [g for g in codes if g not in self._grams]
        if new:
            got = self._cache.add_terms(new)
            if self._cache.enabled and len(got) < len(set(new)):
                self._cache.disable("the term table lost terms it was given")
            self._learn((got[t], t) for t in new if t in got)
            for t in new:
                if t not in got:
                    self._learn([(self.top, t)])
        out = [self._words[w] for w in words] + [self._grams[g] for g in codes]
        return np.array(out, dtype=np.int64)

    def vocabulary(self, used: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The words (sorted) and n-gram codes (sorted) of the ``used`` ids, and the column of
        each id in that order (words, then codes; -1 for ids not used)."""
        column = np.full(self.top, -1, dtype=np.int32)
        used = np.concatenate([used, np.zeros(max(0, self.top - len(used)), dtype=bool)])
        word_ids = np.fromiter(self._words.values(), np.int64, len(self._words))
        keep = used[word_ids].tolist()
        words = [w for w, k in zip(self._words, keep, strict=True) if k]
        word_ids = word_ids[np.asarray(keep, dtype=bool)]
        order = sorted(range(len(words)), key=words.__getitem__)
        column[word_ids[order]] = np.arange(len(words), dtype=np.int32)
        gram_ids = np.fromiter(self._grams.values(), np.int64, len(self._grams))
        codes = np.fromiter(self._grams, np.int64, len(self._grams)).view(np.uint64)
        keep_grams = used[gram_ids]
        codes, gram_ids = codes[keep_grams], gram_ids[keep_grams]
        gram_order = np.argsort(codes, kind="stable")
        column[gram_ids[gram_order]] = len(words) + np.arange(len(codes), dtype=np.int32)
        return [words[i] for i in order], codes[gram_order], column
