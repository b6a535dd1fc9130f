"""Term counts: documents → field-weighted counts of words and character n-grams.

A document's counts are read from the count cache (``fuzhi.match.count_cache``) when it holds
them: a warm run hashes each document's fields, reads the stored rows in one pass and maps
their term ids onto this run's columns with one lookup array. The other documents have every
weighted field folded and segmented once (``Tokenizer``); words are counted from the
space-joined token strings per chunk of documents (pandas' hash table), and character n-grams
of the Han runs never become strings: each is one ``uint64`` code made in NumPy over code
points (``char_ngram_codes``), which sorts as the strings do; their rows are then stored. The
text model (``fuzhi.match.text``) fits its vocabulary and IDF on these counts, or maps them
onto a fitted vocabulary, and weights them into vectors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import BrokenExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fuzhi.match import workers
from fuzhi.match.count_cache import (
    BLOCK,
    CountCache,
    Row,
    TermIds,
    decode_rows,
    doc_keys,
    encode_rows,
    seen_ids,
    store_counts,
    valid_row,
)
from fuzhi.match.tokenize import Segmented, TokenBatch, Tokenizer, store_tokens
from fuzhi.match.topk import prepare_kernels

log = logging.getLogger(__name__)

Doc = Mapping[str, str]
Progress = Callable[[str, int, int], None]
FieldWeights = tuple[tuple[str, float], ...]
_Task = tuple[list[str], np.ndarray, np.ndarray, int, int]  # texts, rows, weights, n_rows, n

MAX_NGRAM = 4  # n-gram codes hold 4 Han code points of 16 bits in a uint64
_CHUNK_DOCS = 8192  # documents counted at a time (bounds the memory of raw tokens)
_PARALLEL_MIN_TEXTS = 20_000  # fewer texts are segmented here: starting workers costs more
_CHUNKS_PER_JOB = 3  # smaller chunks when there are few: the workers finish together
NO_GRAMS = np.zeros(0, dtype=np.uint64)
_NO_TEXTS = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class TermCounts:
    """Field-weighted term counts of documents over their own vocabulary: words, then grams."""

    words: list[str]
    grams: np.ndarray  # uint64 n-gram codes (``char_ngram_codes``)
    matrix: sp.csr_matrix  # documents × (words + grams), float32, duplicates summed

    def onto(self, word_lookup: pd.Index, gram_codes: np.ndarray) -> sp.csr_matrix:
        """The counts in the columns of a fitted vocabulary (its words, then its sorted gram
        codes); terms it does not hold are dropped."""
        n_words = len(word_lookup)
        word_cols = word_lookup.get_indexer(np.array(self.words, dtype=object))
        at = np.searchsorted(gram_codes, self.grams)
        known = at < len(gram_codes)
        known[known] = gram_codes[at[known]] == self.grams[known]
        column = np.concatenate([word_cols, np.where(known, n_words + at, -1)])
        tf = self.matrix
        cols = column[tf.indices]
        keep = cols >= 0
        indptr = np.concatenate([[0], np.cumsum(keep)])[tf.indptr]
        shape = (tf.shape[0], n_words + len(gram_codes))
        return sp.csr_matrix((tf.data[keep], cols[keep], indptr), shape=shape)


def count_terms(
    tokenizer: Tokenizer,
    libraries: Sequence[tuple[Sequence[Doc], FieldWeights]],
    n: int,
    progress: Progress | None,
) -> TermCounts:
    """Field-weighted counts of every document, over their vocabulary in order (words
    sorted, then gram codes sorted; each row's terms in that order).

    Documents the count cache holds are read from it; the others are folded, segmented and
    counted per chunk (bounded memory) and stored. A document's counts depend on nothing but
    its own fields, so ``fit_transform`` gives the very vectors ``transform_*`` give."""
    keys: list[bytes] = []
    for docs, field_weights in libraries:
        keys += doc_keys(docs, field_weights, tokenizer.version, n)
    workers.settle(tokenizer)  # an earlier count's rows may still be being stored
    cache = CountCache(tokenizer.cache_dir / "counts.sqlite")
    fresh_rows: dict[bytes, Row] = {}
    tokens: list[TokenBatch] = []  # segmented texts the token cache lacked
    try:
        rows = {k: r for k, r in cache.get_many(set(keys)).items() if valid_row(r)}
        ids = TermIds(cache)  # after reading rows: see TermIds
        while True:  # twice at most: rows whose ids the term table lacks are counted again
            fresh = _count_missing(tokenizer, libraries, keys, rows, n, ids, tokens, progress)
            fresh_rows.update(fresh)
            rows.update(fresh)
            in_order = [rows[k] for k in keys]
            term_ids, weights, indptr = decode_rows(in_order)
            seen = seen_ids(term_ids, int(term_ids.max(initial=0)) + 1)
            unknown = ids.learn(seen)
            if not unknown.any():
                break
            bad = _rows_holding(unknown, term_ids, indptr)
            log.warning("count cache: %d documents name unknown terms; counted again", sum(bad))
            for key in (k for k, b in zip(keys, bad, strict=True) if b):
                rows.pop(key, None)
        if fresh_rows:  # stored in a worker if one is started: cold runs
            stored = fresh_rows if cache.enabled else {}  # ids are this run's alone if off
            token_path = tokenizer.cache_dir / "tokens.sqlite"
            args = (token_path, tokens, cache.path, stored, ids.pending())
            workers.in_background(tokenizer, _store, *args)
    finally:
        cache.close()
    words, grams, column = ids.vocabulary(seen)
    n_cols = len(words) + len(grams)
    index = np.int32 if max(len(term_ids), n_cols) < 2**31 else np.int64
    indices = np.empty(len(term_ids), dtype=index)
    for at in range(0, len(term_ids), BLOCK):
        np.take(column, term_ids[at : at + BLOCK], out=indices[at : at + BLOCK])
    shape = (len(in_order), n_cols)
    return TermCounts(words, grams, sp.csr_matrix((weights, indices, indptr.astype(index)), shape))


def _rows_holding(flagged: np.ndarray, term_ids: np.ndarray, indptr: np.ndarray) -> list[bool]:
    """Per row: does it hold an id flagged in ``flagged``."""
    hits = np.zeros(len(term_ids) + 1, dtype=np.int64)
    for at in range(0, len(term_ids), BLOCK):
        hits[at + 1 : at + BLOCK + 1] = flagged[term_ids[at : at + BLOCK]]
    hits = np.cumsum(hits)
    return (hits[indptr[1:]] > hits[indptr[:-1]]).tolist()


def _count_missing(
    tokenizer: Tokenizer,
    libraries: Sequence[tuple[Sequence[Doc], FieldWeights]],
    keys: list[bytes],
    found: Mapping[bytes, Row],
    n: int,
    ids: TermIds,
    tokens: list[TokenBatch],
    progress: Progress | None,
) -> dict[bytes, Row]:
    """Rows of the documents ``found`` lacks (each key once), a chunk of documents at a time:
    each chunk's fields are folded, segmented (through the token cache) and counted, in the
    workers (``fuzhi.match.workers``) when there are many, and its terms numbered here.
    Texts segmented afresh are added to ``tokens``."""
    texts: list[str] = []
    weights: list[np.ndarray] = [np.zeros(0, dtype=np.float32)]
    todo: dict[bytes, None] = {}
    n_fields = at = 0
    for docs, field_weights in libraries:
        names = [name for name, _ in field_weights]
        field_weight = np.array([w for _, w in field_weights], np.float32)
        n_fields += len(docs) * len(names)
        for doc, key in zip(docs, keys[at : at + len(docs)], strict=True):
            if key not in found and key not in todo:
                todo[key] = None
                texts += [str(doc.get(name) or "") for name in names]
                weights.append(field_weight)
        at += len(docs)
    done = n_fields - len(texts)
    if progress:
        progress("tokenize", done, n_fields)
    if not todo:
        return {}
    counts = np.fromiter((len(w) for w in weights[1:]), np.int64, len(todo))
    text_row = np.repeat(np.arange(len(todo)), counts)
    text_weight = np.concatenate(weights)
    n_jobs = workers.N_JOBS
    parallel = n_jobs > 1 and len(texts) >= _PARALLEL_MIN_TEXTS
    step = (
        min(_CHUNK_DOCS, -(-len(todo) // (_CHUNKS_PER_JOB * n_jobs))) if parallel else _CHUNK_DOCS
    )
    bounds = [(lo, min(lo + step, len(todo))) for lo in range(0, len(todo), step)]
    tasks = []
    for lo, hi in bounds:
        a, b = np.searchsorted(text_row, [lo, hi])
        tasks.append((texts[a:b], text_row[a:b] - lo, text_weight[a:b], hi - lo, n))
    del texts
    todo_keys = list(todo)
    fresh: dict[bytes, Row] = {}
    with ExitStack() as stack:
        pool = stack.enter_context(workers.pool(tokenizer, n_jobs)) if parallel else None
        keep = pool is not None and pool.each_possible
        if pool is not None:
            parts = _surviving(pool, tokenizer, tasks, keep)
            prepare_kernels()  # this process mostly waits from here: load top-k's kernels
        else:
            parts = (count_texts(tokenizer, *task) for task in tasks)
        for (lo, hi), task, (part, fresh_tokens) in zip(bounds, tasks, parts, strict=True):
            if fresh_tokens is not None:
                tokens.append(fresh_tokens)
            term_ids = ids.ids_of(part.words, part.grams)
            tf = part.matrix
            counted = encode_rows(term_ids[tf.indices], tf.data, tf.indptr)
            fresh.update(zip(todo_keys[lo:hi], counted, strict=True))
            done += len(task[0])
            if progress:
                progress("tokenize", done, n_fields)
        if keep:  # before the pool can close: each worker stores the tokens it kept
            assert pool is not None
            pool.submit_each(_store_kept, tokenizer.cache_dir / "tokens.sqlite")
    return fresh


def _surviving(
    pool: workers.Workers, tokenizer: Tokenizer, tasks: list[_Task], keep: bool
) -> Iterator[tuple[TermCounts, TokenBatch | None]]:
    """The workers' results in order; if a worker dies (e.g. killed for memory) or could
    not start (handing out the tasks then fails), the tasks not yet done are counted here
    instead. With ``keep``, the workers keep the tokens they segment afresh (None comes
    back instead) for ``_store_kept``: they never cross a pipe."""
    done = 0
    try:
        for result in pool.map(_count_keeping_tokens if keep else _count_in_worker, tasks):
            yield result
            done += 1
    except BrokenExecutor as exc:
        log.warning("a worker process died (%s); counting the rest in this process", exc)
        for task in tasks[done:]:
            yield count_texts(tokenizer, *task)


def count_texts(
    tokenizer: Tokenizer,
    texts: list[str],
    rows: np.ndarray,
    weights: np.ndarray,
    n_rows: int,
    n: int,
) -> tuple[TermCounts, TokenBatch]:
    """Counts of a chunk of raw field texts (text ``i`` belongs to row ``rows[i]`` with
    weight ``weights[i]``): folded, segmented through the token cache, and counted; with
    the tokens the cache lacked, to store later."""
    folded = tokenizer.fold_many(texts)
    tokens, fresh = tokenizer.tokens(folded)
    return _count_chunk(folded, tokens, rows, weights, n_rows, n), fresh


def _count_in_worker(task: _Task) -> tuple[TermCounts, TokenBatch]:
    return count_texts(workers.tokenizer(), *task)


_KEPT: list[TokenBatch] = []  # in a worker: tokens segmented afresh, not yet stored


def _count_keeping_tokens(task: _Task) -> tuple[TermCounts, None]:
    counts, fresh = count_texts(workers.tokenizer(), *task)
    if fresh[0]:
        _KEPT.append(fresh)
    return counts, None


def _store_kept(token_cache: Path) -> None:
    """In a worker: store the tokens its chunks segmented afresh (``_count_keeping_tokens``)."""
    batches = _KEPT[:]
    _KEPT.clear()
    store_tokens(token_cache, batches)


def _store(
    token_cache: Path,
    tokens: list[TokenBatch],
    count_cache: Path,
    rows: dict[bytes, Row],
    pending: tuple[list[str], np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """Store a run's new tokens and counts (in a worker while the run goes on, if started)."""
    store_tokens(token_cache, tokens)
    if rows:
        store_counts(count_cache, rows, pending)


def _count_chunk(
    folded: list[str],
    tokens: Segmented,
    rows: np.ndarray,
    weights: np.ndarray,
    n_rows: int,
    n: int,
) -> TermCounts:
    """Counts of a chunk of texts over the chunk's vocabulary in order (words sorted, then
    gram codes sorted): each row's terms come out in that order."""
    word_vocab = np.empty(len(tokens.words), dtype=object)
    word_vocab[:] = tokens.words
    word_text = tokens.text_of_tokens()
    gram_raw, gram_text = char_ngram_codes(folded, n) if n else (NO_GRAMS, _NO_TEXTS)
    gram_codes, gram_vocab = pd.factorize(gram_raw)
    word_order, word_rank = _ranks(word_vocab)
    gram_order, gram_rank = _ranks(gram_vocab)
    text = np.concatenate([word_text, gram_text])
    columns = np.concatenate([word_rank[tokens.codes], len(word_vocab) + gram_rank[gram_codes]])
    matrix = sp.csr_matrix(
        (weights[text], (rows[text], columns)),
        shape=(n_rows, len(word_vocab) + len(gram_vocab)),
        dtype=np.float32,
    )
    matrix.sum_duplicates()  # sorts each row's columns: its terms in order
    grams = np.asarray(gram_vocab, dtype=np.uint64)[gram_order]
    return TermCounts(list(word_vocab[word_order]), grams, matrix)


def _ranks(vocab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The order that sorts a vocabulary, and each term's place in it."""
    order = np.argsort(vocab, kind="stable")
    rank = np.empty(len(vocab), dtype=np.int64)
    rank[order] = np.arange(len(vocab))
    return order, rank


def char_ngram_codes(folded: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping character n-grams (n ≤ 4) of each Han run of folded texts, in NumPy.

    Returns each n-gram as a code (its code points, 16 bits each, first in the high bits;
    a run shorter than n stays whole, zero-padded) and the index of the text it came from.
    Codes sort as the n-gram strings do; ``ngram_strings`` turns them back into text.
    """
    if not 1 <= n <= MAX_NGRAM:
        raise ValueError(f"character n-grams of n = {n}: expected 1 to {MAX_NGRAM}")
    empty = np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    if not folded:
        return empty
    joined = "\n".join(folded).encode("utf-32-le", "surrogatepass")
    cp = np.frombuffer(joined, dtype=np.uint32)
    han = ((cp >= 0x3400) & (cp <= 0x4DBF)) | ((cp >= 0x4E00) & (cp <= 0x9FFF))
    edges = np.diff(han.view(np.int8), prepend=0, append=0)
    run_start, run_end = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if not run_start.size:
        return empty
    length = run_end - run_start
    count = np.maximum(1, length - n + 1)
    first = np.cumsum(count) - count
    start = np.repeat(run_start, count) + np.arange(int(count.sum())) - np.repeat(first, count)
    size = np.minimum(n, np.repeat(length, count))
    digits = np.concatenate([np.where(han, cp, 0), np.zeros(n, dtype=np.uint32)])
    codes = np.zeros(len(start), dtype=np.uint64)
    for j in range(n):
        codes = (codes << np.uint64(16)) | np.where(size > j, digits[start + j], 0).astype(
            np.uint64
        )
    text_start = np.cumsum([0] + [len(t) + 1 for t in folded[:-1]])
    return codes, np.searchsorted(text_start, start, side="right") - 1


def ngram_strings(codes: np.ndarray, n: int) -> list[str]:
    """The n-gram strings of ``char_ngram_codes`` codes."""
    shifts = np.arange(n - 1, -1, -1, dtype=np.uint64) * np.uint64(16)
    points = ((codes[:, None] >> shifts) & np.uint64(0xFFFF)).astype(np.uint32)
    return np.ascontiguousarray(points).view(f"<U{n}").ravel().tolist()


def ngram_codes(grams: Sequence[str], n: int) -> np.ndarray:
    """Codes (as ``char_ngram_codes`` makes them) of n-gram strings."""
    points = np.array(grams, dtype=f"<U{n}").view(np.uint32).reshape(-1, n).astype(np.uint64)
    codes = np.zeros(len(points), dtype=np.uint64)
    for j in range(n):
        codes = (codes << np.uint64(16)) | points[:, j]
    return codes
