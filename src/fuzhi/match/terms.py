"""Term counts: documents → field-weighted counts of words and character n-grams.

Every weighted field of every document is folded and segmented once (``Tokenizer``); words
are counted from the space-joined token strings per chunk of documents (pandas' hash table),
and character n-grams of the Han runs never become strings: each is one ``uint64`` code made
in NumPy over code points (``char_ngram_codes``), which sorts as the strings do. The text
model (``fuzhi.match.text``) fits its vocabulary and IDF on these counts, or maps them onto a
fitted vocabulary, and weights them into vectors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fuzhi.match.tokenize import Tokenizer

Doc = Mapping[str, str]
Progress = Callable[[str, int, int], None]
FieldWeights = tuple[tuple[str, float], ...]

MAX_NGRAM = 4  # n-gram codes hold 4 Han code points of 16 bits in a uint64
_CHUNK_DOCS = 8192  # documents counted at a time (bounds the memory of raw tokens)
NO_GRAMS = np.zeros(0, dtype=np.uint64)
_NO_TEXTS = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class TermCounts:
    """Field-weighted term counts of documents over their own vocabulary: words, then grams."""

    words: list[str]
    grams: np.ndarray  # uint64 n-gram codes (``char_ngram_codes``)
    matrix: sp.csr_matrix  # documents × (words + grams), float32, duplicates summed

    def in_order(self) -> tuple[list[str], np.ndarray, sp.csr_matrix]:
        """Words sorted, then gram codes sorted, and the counts with columns in that order."""
        n_words = len(self.words)
        word_order = sorted(range(n_words), key=self.words.__getitem__)
        gram_order = np.argsort(self.grams, kind="stable")
        order = np.concatenate([np.array(word_order, dtype=np.int64), n_words + gram_order])
        column = np.empty(len(order), dtype=np.int32)
        column[order] = np.arange(len(order), dtype=np.int32)
        tf = self.matrix
        matrix = sp.csr_matrix((tf.data, column[tf.indices], tf.indptr), tf.shape)
        return [self.words[i] for i in word_order], self.grams[gram_order], matrix

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
    """Fold and segment every weighted field once, then count words and character n-grams
    per chunk of documents (bounded memory) and join the chunks' vocabularies.

    Chunks never span two libraries, so a library's rows are counted exactly as they are
    when it is counted alone (the same entries in the same order: ``fit_transform`` gives
    the very vectors ``transform_*`` give)."""
    texts: list[str] = []
    rows: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    weights: list[np.ndarray] = [np.zeros(0, dtype=np.float32)]
    chunks: list[int] = []
    n_docs = 0
    for docs, field_weights in libraries:
        names = [name for name, _ in field_weights]
        texts += [str(doc.get(name) or "") for doc in docs for name in names]
        rows.append(n_docs + np.repeat(np.arange(len(docs)), len(names)))
        weights.append(np.tile(np.array([w for _, w in field_weights], np.float32), len(docs)))
        chunks += [n_docs + lo for lo in range(0, len(docs), _CHUNK_DOCS)]
        n_docs += len(docs)
    folded = tokenizer.fold_many(texts)
    del texts
    tokens = tokenizer.tokens_joined(folded, progress=progress)
    text_row, text_weight = np.concatenate(rows), np.concatenate(weights)
    parts = []
    for lo, hi in zip(chunks, [*chunks[1:], n_docs], strict=True):
        a, b = np.searchsorted(text_row, [lo, hi])
        parts.append(
            _count_chunk(folded[a:b], tokens[a:b], text_row[a:b] - lo, text_weight[a:b], hi - lo, n)
        )
    return _join_chunks(parts, n_docs)


def _count_chunk(
    folded: list[str], tokens: list[str], rows: np.ndarray, weights: np.ndarray, n_rows: int, n: int
) -> TermCounts:
    n_tokens = np.fromiter((t.count(" ") + 1 if t else 0 for t in tokens), np.int64, len(tokens))
    words = " ".join([t for t in tokens if t]).split(" ") if n_tokens.any() else []
    word_codes, word_vocab = pd.factorize(np.array(words, dtype=object))
    del words
    word_text = np.repeat(np.arange(len(tokens)), n_tokens)
    gram_raw, gram_text = char_ngram_codes(folded, n) if n else (NO_GRAMS, _NO_TEXTS)
    gram_codes, gram_vocab = pd.factorize(gram_raw)
    text = np.concatenate([word_text, gram_text])
    matrix = sp.csr_matrix(
        (
            weights[text],
            (rows[text], np.concatenate([word_codes, gram_codes + len(word_vocab)])),
        ),
        shape=(n_rows, len(word_vocab) + len(gram_vocab)),
        dtype=np.float32,
    )
    matrix.sum_duplicates()
    return TermCounts(list(word_vocab), np.asarray(gram_vocab, dtype=np.uint64), matrix)


def _join_chunks(parts: list[TermCounts], n_docs: int) -> TermCounts:
    """Stack chunks' rows over the union of their vocabularies (first seen first)."""
    word_ids, words = pd.factorize(np.array([w for p in parts for w in p.words], dtype=object))
    gram_ids, grams = pd.factorize(np.concatenate([NO_GRAMS, *(p.grams for p in parts)]))
    indices, data, indptr = [], [], [np.zeros(1, dtype=np.int64)]
    w_at = g_at = nnz = 0
    for p in parts:
        n_w, n_g = len(p.words), len(p.grams)
        cols = np.concatenate(
            [word_ids[w_at : w_at + n_w], len(words) + gram_ids[g_at : g_at + n_g]]
        )
        indices.append(cols[p.matrix.indices].astype(np.int32))
        data.append(p.matrix.data)
        indptr.append(p.matrix.indptr[1:] + nnz)
        w_at, g_at, nnz = w_at + n_w, g_at + n_g, nnz + p.matrix.nnz
    matrix = sp.csr_matrix(
        (
            np.concatenate([np.zeros(0, dtype=np.float32), *data]),
            np.concatenate([np.zeros(0, dtype=np.int32), *indices]),
            np.concatenate(indptr),
        ),
        shape=(n_docs, len(words) + len(grams)),
    )
    return TermCounts(list(words), np.asarray(grams, dtype=np.uint64), matrix)


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
