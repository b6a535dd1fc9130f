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
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fuzhi.match.sqlite_cache import SqliteCache

# Bumped whenever the blobs or the way documents are counted change, so counts are redone.
_FORMAT = 1
_PAGE_SIZE = 65536  # a document's blobs (~1-2 KB) stay on their B-tree page
_WIDTHS: dict[int, np.dtype[Any]] = {1: np.dtype(np.uint8), 2: np.dtype("<f2"), 4: np.dtype("<f4")}
BLOCK = 1 << 22  # entries indexed at a time: temporaries stay small (no fresh pages)
_STORE_BATCH = 8192  # rows renumbered and stored at a time
_TERM_BATCH = 100_000  # new terms added per transaction (~0.15 s of write lock)

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


class CountCache(SqliteCache):
    """Term table and per-document counts in one SQLite file (off with a warning on any
    error)."""

    label = "count cache"
    pragmas = (f"page_size={_PAGE_SIZE}", "journal_size_limit=67108864")  # page size: new files
    schema = (
        "CREATE TABLE IF NOT EXISTS terms (id INTEGER PRIMARY KEY, term UNIQUE)",
        "CREATE TABLE IF NOT EXISTS docs (key BLOB PRIMARY KEY, n INTEGER NOT NULL,"
        " ids BLOB NOT NULL, weights BLOB NOT NULL) WITHOUT ROWID",
    )

    def get_many(self, keys: Iterable[bytes]) -> dict[bytes, Row]:
        """Rows of those keys that are present (looked up in key order: the B-tree forward)."""
        rows = self.select_in(
            "SELECT key, n, ids, weights FROM docs WHERE key IN ({})", sorted(keys)
        )
        return {r[0]: r[1:] for r in rows}  # type: ignore[misc]

    def terms(self, ids: np.ndarray) -> list[tuple[int, Term]]:
        """(id, term) of those ``ids`` the term table holds."""
        return self.select_in("SELECT id, term FROM terms WHERE id IN ({})", ids.tolist())  # type: ignore[return-value]

    def term_ids(self, terms: Sequence[Term]) -> dict[Term, int]:
        """The ids of those ``terms`` the term table holds."""
        rows = self.select_in("SELECT term, id FROM terms WHERE term IN ({})", terms)
        return dict(rows)  # type: ignore[arg-type]

    def max_id(self) -> int | None:
        """The largest id in the term table (0 when empty); None once disabled."""
        if self._db is None:
            return None
        try:
            (top,) = self._db.execute("SELECT coalesce(max(id), 0) FROM terms").fetchone()
        except sqlite3.Error as exc:
            self.disable(exc)
            return None
        return int(top)

    def add_terms(self, words: Sequence[str], codes: np.ndarray) -> tuple[np.ndarray, ...] | None:
        """Ids of words and of n-gram codes (signed 64-bit), added to the table if new; None
        once disabled. The write lock is held while adding: when every term was new, the ids
        are the next ones in insertion order (checked), else they are read back. Another run
        adding the same terms at once reads the same ids."""
        if self._db is None:
            return None
        terms: list[Term] = [*codes.tolist(), *words]
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                (top,) = self._db.execute("SELECT coalesce(max(id), 0) FROM terms").fetchone()
                self._db.executemany(
                    "INSERT OR IGNORE INTO terms (term) VALUES (?)", ((t,) for t in terms)
                )
                added = self._db.execute(
                    "SELECT count(*), coalesce(max(id), 0) FROM terms WHERE id > ?", (top,)
                ).fetchone()
        except sqlite3.Error as exc:
            self.disable(exc)
            return None
        if added == (len(terms), top + len(terms)):
            ids = top + 1 + np.arange(len(terms), dtype=np.int64)
        else:
            found = self.term_ids(terms)
            if self._db is None or len(found) < len(terms):
                self.disable("the term table lost terms it was given")
                return None
            ids = np.array([found[t] for t in terms], dtype=np.int64)
        return ids[len(codes) :], ids[: len(codes)]

    def put_many(self, rows: Mapping[bytes, Row]) -> None:
        """Store documents' rows, replacing any stored under the same keys."""
        self.insert_many(
            "INSERT OR REPLACE INTO docs (key, n, ids, weights) VALUES (?, ?, ?, ?)", rows
        )


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
    for this run alone once the cache is off (nothing is stored after that). Known terms are
    held in hash indexes, so a chunk's vocabulary is looked up in one call per kind.

    New terms are not added to the table as they come but numbered past its largest id
    (read now: create this after reading any rows, so their ids lie below); those
    provisional ids are turned into the table's own when the rows are stored
    (``store_counts`` with ``pending()``), off the critical path of a cold run."""

    def __init__(self, cache: CountCache) -> None:
        self._cache = cache
        self._words = pd.Index([], dtype=object)
        self._word_ids = np.zeros(0, dtype=np.int64)
        self._grams = pd.Index(np.zeros(0, dtype=np.int64))  # codes as signed 64-bit integers
        self._gram_ids = np.zeros(0, dtype=np.int64)
        self.top = 0  # 1 + the largest id in use
        self._base = (cache.max_id() or 0) + 1  # the first provisional id
        self._pending: list[tuple[list[str], np.ndarray, np.ndarray, np.ndarray]] = []

    def _add(
        self, words: Sequence[str], word_ids: np.ndarray, codes: np.ndarray, gram_ids: np.ndarray
    ) -> None:
        if len(words):
            self._words = self._words.append(pd.Index(list(words), dtype=object))
            self._word_ids = np.concatenate([self._word_ids, word_ids])
        if len(codes):
            self._grams = self._grams.append(pd.Index(np.asarray(codes, dtype=np.int64)))
            self._gram_ids = np.concatenate([self._gram_ids, gram_ids])
        self.top = max(self.top, 1 + int(max(word_ids.max(initial=-1), gram_ids.max(initial=-1))))

    def learn(self, seen: np.ndarray) -> np.ndarray:
        """Read the terms of the ``seen`` ids not yet known from the cache; returns a flag per
        id: seen but unknown to the term table (such rows must be counted again)."""
        known = np.zeros(len(seen), dtype=bool)
        for held in (self._word_ids, self._gram_ids):
            known[held[held < len(seen)]] = True
        asked = np.flatnonzero(seen & ~known)
        if len(asked):
            pairs = self._cache.terms(asked)
            words = [(pid, t) for pid, t in pairs if isinstance(t, str)]
            grams = [(pid, t) for pid, t in pairs if isinstance(t, int)]  # others: unknown
            word_ids = np.array([pid for pid, _ in words], dtype=np.int64)
            gram_ids = np.array([pid for pid, _ in grams], dtype=np.int64)
            codes = np.array([t for _, t in grams], dtype=np.int64)
            self._add([t for _, t in words], word_ids, codes, gram_ids)
            for ids in (word_ids, gram_ids):
                known[ids[ids < len(seen)]] = True
        return seen & ~known

    def ids_of(self, words: Sequence[str], grams: np.ndarray) -> np.ndarray:
        """Ids of words, then of n-gram codes (``uint64``), adding those not yet known."""
        word_keys, codes = pd.Index(words, dtype=object), grams.view(np.int64)
        word_at, gram_at = self._words.get_indexer(word_keys), self._grams.get_indexer(codes)
        new_words, new_codes = word_keys[word_at < 0].tolist(), codes[gram_at < 0]
        if new_words or len(new_codes):
            got = self._number(new_words, new_codes)
            for at, known in ((word_at, len(self._words)), (gram_at, len(self._grams))):
                at[at < 0] = known + np.arange(np.count_nonzero(at < 0))  # appended in order
            self._add(new_words, got[0], new_codes, got[1])
        return np.concatenate([self._word_ids[word_at], self._gram_ids[gram_at]])

    def _number(self, words: list[str], codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ids of terms this run has not met yet (words', then codes'): the table's for those
        it held when this run began, else provisional ones past every id given."""
        terms: list[Term] = [*codes.tolist(), *words]
        ids = np.full(len(terms), -1, dtype=np.int64)  # codes, then words
        if self._cache.enabled and self._base > 1:  # the table had terms: known ones
            found = self._cache.term_ids(terms)
            ids[:] = [found.get(t, -1) for t in terms]
            ids[ids >= self._base] = -1  # added since this run began: numbered like new ones
        new = ids < 0
        ids[new] = max(self.top, self._base) + np.arange(np.count_nonzero(new), dtype=np.int64)
        code_ids, word_ids = ids[: len(codes)], ids[len(codes) :]
        if self._cache.enabled:  # stored later; once the cache is off, ids are this run's
            new_codes, new_words = new[: len(codes)], new[len(codes) :]
            pending_words = [w for w, n in zip(words, new_words.tolist(), strict=True) if n]
            self._pending.append(
                (pending_words, word_ids[new_words], codes[new_codes], code_ids[new_codes])
            )
        return word_ids, code_ids

    def pending(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """The terms numbered provisionally: words, their ids, codes, their ids."""
        parts = self._pending
        return (
            [w for p in parts for w in p[0]],
            np.concatenate([np.zeros(0, np.int64), *(p[1] for p in parts)]),
            np.concatenate([np.zeros(0, np.int64), *(p[2] for p in parts)]),
            np.concatenate([np.zeros(0, np.int64), *(p[3] for p in parts)]),
        )

    def vocabulary(self, used: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The words (sorted) and n-gram codes (sorted) of the ``used`` ids, and the column of
        each id in that order (words, then codes; -1 for ids not used)."""
        column = np.full(self.top, -1, dtype=np.int32)
        used = np.concatenate([used, np.zeros(max(0, self.top - len(used)), dtype=bool)])
        keep = used[self._word_ids]
        words, word_ids = self._words[keep].to_numpy(), self._word_ids[keep]
        order = np.argsort(words, kind="stable")  # code point order, as sorted() gives
        column[word_ids[order]] = np.arange(len(words), dtype=np.int32)
        keep = used[self._gram_ids]
        codes = self._grams[keep].to_numpy().view(np.uint64)
        gram_ids = self._gram_ids[keep]
        gram_order = np.argsort(codes, kind="stable")
        column[gram_ids[gram_order]] = len(words) + np.arange(len(codes), dtype=np.int32)
        return words[order].tolist(), codes[gram_order], column


def store_counts(
    path: Path,
    rows: Mapping[bytes, Row],
    pending: tuple[list[str], np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """Store rows whose ids may be provisional (``TermIds``): their terms
    (``pending``) are added to the term table, the rows' ids turned into the table's, and the
    rows stored, a batch at a time (memory stays that of the rows given). Any cache failure
    only means nothing (more) is stored."""
    words, word_ids, codes, code_ids = pending
    cache = CountCache(path)
    try:
        base, remap = 0, None
        if len(words) or len(codes):
            provisional = np.concatenate([word_ids, code_ids])
            base = int(provisional.min())
            remap = np.zeros(int(provisional.max()) - base + 1, dtype=np.int64)
            # a batch of terms per transaction: other runs wait for the write lock briefly
            for lo in range(0, len(codes), _TERM_BATCH):
                got = cache.add_terms([], codes[lo : lo + _TERM_BATCH])
                if got is None:
                    return
                remap[code_ids[lo : lo + _TERM_BATCH] - base] = got[1]
            for lo in range(0, len(words), _TERM_BATCH):
                got = cache.add_terms(words[lo : lo + _TERM_BATCH], np.zeros(0, np.int64))
                if got is None:
                    return
                remap[word_ids[lo : lo + _TERM_BATCH] - base] = got[0]
        keys = sorted(rows)
        for lo in range(0, len(keys), _STORE_BATCH):
            batch = {k: rows[k] for k in keys[lo : lo + _STORE_BATCH]}
            cache.put_many(batch if remap is None else _renumbered(batch, base, remap))
    finally:
        cache.close()


def _renumbered(rows: Mapping[bytes, Row], base: int, remap: np.ndarray) -> dict[bytes, Row]:
    """Rows with ids from ``base`` on replaced by ``remap[id - base]``."""
    keys = list(rows)
    n = np.fromiter((rows[k][0] for k in keys), np.int64, len(keys))
    ids = np.frombuffer(b"".join([rows[k][1] for k in keys]), "<u4").copy()
    high = ids >= base
    ids[high] = remap[ids[high] - base]
    blob = ids.tobytes()
    ends = (4 * np.cumsum(n)).tolist()
    starts = [0, *ends[:-1]]
    return {
        k: (rows[k][0], blob[a:b], rows[k][2]) for k, a, b in zip(keys, starts, ends, strict=True)
    }
