"""The text model: field-weighted TF-IDF over words and Chinese character n-grams.

A document's fields (title, description, keywords, field) are segmented into words
(``fuzhi.match.tokenize``); term counts are summed with per-field weights, damped with
1 + ln(tf), weighted by IDF fitted on both libraries and L2-normalised. A second view of
overlapping character n-grams of the Han words catches compounds that segment differently
(数字孪生 vs 孪生), and the two views are joined so a dot product is a weighted mix of both
cosines, in [0, 1]. ``text_top_k`` adds one round of pseudo-relevance feedback (Rocchio):
each query is extended by the strongest terms of its best few first-pass hits. Every choice
and its measured effect is in ``docs/matching.md``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fuzhi.errors import InputError
from fuzhi.match.tokenize import (
    MAX_NGRAM,
    Tokenizer,
    TokenizerConfig,
    char_ngram_codes,
    ngram_codes,
    ngram_strings,
)
from fuzhi.match.topk import ItemIndex, TopK, sparse_top_k

Doc = Mapping[str, str]
Progress = Callable[[str, int, int], None]
FieldWeights = tuple[tuple[str, float], ...]

_FORMAT = 1
SKIP_COMMON = 0.02  # see topk.sparse_top_k: candidates without terms in > 2% of items
_CHUNK_DOCS = 8192  # documents counted at a time (bounds the memory of raw tokens)
_NO_GRAMS = np.zeros(0, dtype=np.uint64)
_NO_TEXTS = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class TextOptions:
    """How text becomes vectors. Defaults are the best configuration measured on csl-dev.

    ``field_weights`` (achievements) and ``demand_field_weights`` multiply a field's term
    counts (fields not listed are ignored);
    ``char_ngram`` is the n of the character view (0 turns it off, 4 at most) and
    ``char_weight`` its share of the score; ``feedback_docs`` first-pass hits add
    ``feedback_weight`` times their score-weighted centroid to each query
    (``feedback_docs=0`` turns feedback off);
    only the centroid's ``feedback_terms`` strongest terms are added (0: all), which keeps
    extended queries, and so the second top-k pass, cheap.
    """

    field_weights: tuple[tuple[str, float], ...] = (
        ("title", 2.0),
        ("description", 1.0),
        ("keywords", 2.0),
        ("field", 1.0),
    )
    demand_field_weights: tuple[tuple[str, float], ...] = (
        ("title", 1.0),
        ("description", 1.0),
        ("keywords", 1.0),
    )
    sublinear_tf: bool = True
    char_ngram: int = 2
    char_weight: float = 0.5
    feedback_docs: int = 3
    feedback_weight: float = 0.5
    feedback_terms: int = 200
    user_dicts: tuple[Path, ...] = ()
    synonyms: tuple[Path, ...] = ()
    stopwords: tuple[Path, ...] = ()
    bundled_dict: bool = True
    bundled_synonyms: bool = True
    bundled_stopwords: bool = True
    to_simplified: bool = True
    drop_numbers: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.char_ngram <= MAX_NGRAM:
            raise ValueError(f"char_ngram {self.char_ngram}: expected 0 (off) to {MAX_NGRAM}")

    def tokenizer_config(self) -> TokenizerConfig:
        return TokenizerConfig(
            user_dicts=self.user_dicts,
            synonyms=self.synonyms,
            stopwords=self.stopwords,
            bundled_dict=self.bundled_dict,
            bundled_synonyms=self.bundled_synonyms,
            bundled_stopwords=self.bundled_stopwords,
            to_simplified=self.to_simplified,
            drop_numbers=self.drop_numbers,
        )

    def to_json(self) -> dict[str, object]:
        data = dataclasses.asdict(self)
        for key in ("user_dicts", "synonyms", "stopwords"):
            data[key] = [str(p) for p in data[key]]
        for key in ("field_weights", "demand_field_weights"):
            data[key] = [list(fw) for fw in getattr(self, key)]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> TextOptions:
        values = dict(data)
        for key in ("user_dicts", "synonyms", "stopwords"):
            values[key] = tuple(Path(str(p)) for p in values[key])  # type: ignore[attr-defined]
        for key in ("field_weights", "demand_field_weights"):
            values[key] = tuple(
                (str(f), float(w))
                for f, w in values[key]  # type: ignore[attr-defined]
            )
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TextVectors:
    """Unit-length rows (float32 CSR) of one library under one model version."""

    matrix: sp.csr_matrix
    model_version: str

    def __len__(self) -> int:
        return int(self.matrix.shape[0])


class TextModel:
    """Vocabulary, IDF and options; turns documents into ``TextVectors``."""

    def __init__(
        self,
        options: TextOptions,
        words: list[str],
        grams: list[str],
        idf: np.ndarray,
        tokenizer: Tokenizer,
    ) -> None:
        self.options = options
        self.words = words
        self.grams = grams
        self.idf = idf.astype(np.float32)
        self.tokenizer = tokenizer
        self._word_array = np.array(words, dtype=object)
        self._word_lookup = pd.Index(self._word_array)
        self._gram_codes = ngram_codes(grams, options.char_ngram) if grams else _NO_GRAMS
        digest = hashlib.blake2b(digest_size=12)
        digest.update(json.dumps(options.to_json(), sort_keys=True).encode())
        digest.update(tokenizer.version.encode())
        digest.update("\n".join(words).encode())
        digest.update("\n".join(grams).encode())
        digest.update(self.idf.tobytes())
        self.version = digest.hexdigest()

    @classmethod
    def fit(
        cls,
        achievements: Sequence[Doc],
        demands: Sequence[Doc],
        options: TextOptions = TextOptions(),
        *,
        cache_dir: Path | None = None,
        progress: Progress | None = None,
    ) -> TextModel:
        """Learn vocabulary and IDF from both libraries together."""
        fitted = cls.fit_transform(
            achievements, demands, options, cache_dir=cache_dir, progress=progress
        )
        return fitted[0]

    @classmethod
    def fit_transform(
        cls,
        achievements: Sequence[Doc],
        demands: Sequence[Doc],
        options: TextOptions = TextOptions(),
        *,
        cache_dir: Path | None = None,
        progress: Progress | None = None,
    ) -> tuple[TextModel, TextVectors, TextVectors]:
        """``fit``, and the vectors of both libraries, segmenting and counting each text once
        (the same vectors as ``transform_achievements`` and ``transform_demands`` give)."""
        tokenizer = Tokenizer(options.tokenizer_config(), cache_dir=cache_dir)
        libraries = [(achievements, options.field_weights), (demands, options.demand_field_weights)]
        counts = _count_terms(tokenizer, libraries, options.char_ngram, progress)
        n_docs, n_words = counts.matrix.shape[0], len(counts.words)
        df = np.bincount(counts.matrix.indices, minlength=counts.matrix.shape[1])
        word_order = sorted(range(n_words), key=counts.words.__getitem__)
        gram_order = np.argsort(counts.grams, kind="stable")
        order = np.concatenate([np.array(word_order, dtype=np.int64), n_words + gram_order])
        idf = np.log((1 + n_docs) / (1 + df[order].astype(np.float64))) + 1
        n = options.char_ngram
        grams = ngram_strings(counts.grams[gram_order], n) if n else []
        model = cls(options, [counts.words[i] for i in word_order], grams, idf, tokenizer)
        column = np.empty(len(order), dtype=np.int32)
        column[order] = np.arange(len(order), dtype=np.int32)
        tf = counts.matrix
        vectors = model._vectors(sp.csr_matrix((tf.data, column[tf.indices], tf.indptr), tf.shape))
        n_a = len(achievements)
        return (
            model,
            TextVectors(vectors[:n_a], model.version),
            TextVectors(vectors[n_a:], model.version),
        )

    def transform_achievements(
        self, docs: Sequence[Doc], progress: Progress | None = None
    ) -> TextVectors:
        """Vectors of achievements (fields weighted by ``options.field_weights``)."""
        return self._transform(docs, self.options.field_weights, progress)

    def transform_demands(
        self, docs: Sequence[Doc], progress: Progress | None = None
    ) -> TextVectors:
        """Vectors of demands (fields weighted by ``options.demand_field_weights``)."""
        return self._transform(docs, self.options.demand_field_weights, progress)

    def _transform(
        self, docs: Sequence[Doc], field_weights: FieldWeights, progress: Progress | None
    ) -> TextVectors:
        counts = _count_terms(
            self.tokenizer, [(docs, field_weights)], self.options.char_ngram, progress
        )
        n_words = len(self.words)
        word_cols = self._word_lookup.get_indexer(np.array(counts.words, dtype=object))
        at = np.searchsorted(self._gram_codes, counts.grams)
        known = at < len(self._gram_codes)
        known[known] = self._gram_codes[at[known]] == counts.grams[known]
        column = np.concatenate([word_cols, np.where(known, n_words + at, -1)])
        tf = counts.matrix
        cols = column[tf.indices]
        keep = cols >= 0
        indptr = np.concatenate([[0], np.cumsum(keep)])[tf.indptr]
        tf = sp.csr_matrix((tf.data[keep], cols[keep], indptr), shape=(len(docs), len(self.idf)))
        return TextVectors(self._vectors(tf), self.version)

    def _vectors(self, tf: sp.csr_matrix) -> sp.csr_matrix:
        """Weighted term counts (columns of this model) → damped, IDF-weighted, each view
        L2-normalised, joined as √(1−w)·words ⊕ √w·grams and normalised again."""
        opts = self.options
        data = tf.data.astype(np.float32)
        if opts.sublinear_tf:
            big = data >= 1
            data[big] = 1 + np.log(data[big])
        data *= self.idf[tf.indices]
        n_rows = tf.shape[0]
        rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(tf.indptr))
        view = rows * 2 + (tf.indices >= len(self.words))  # (row, words or grams)
        del rows
        squares = np.bincount(view, np.square(data), minlength=2 * n_rows).reshape(n_rows, 2)
        share = np.array([1 - opts.char_weight, opts.char_weight]) if opts.char_ngram else 1.0
        shares = np.where(squares > 0, share, 0.0)
        total = shares.sum(axis=1, keepdims=True)
        scale = np.sqrt(shares / np.where(squares > 0, squares, 1) / np.where(total > 0, total, 1))
        data *= scale.ravel().astype(np.float32)[view]
        return sp.csr_matrix((data, tf.indices, tf.indptr), shape=tf.shape)

    def shared_terms(
        self, demand: TextVectors, d: int, achievement: TextVectors, a: int, n: int = 5
    ) -> list[str]:
        """Words both texts share, by their contribution to the pair's score, best first."""
        return self.shared_terms_many(demand, [d], achievement, [a], n)[0]

    def shared_terms_many(
        self,
        demand: TextVectors,
        d: Sequence[int] | np.ndarray,
        achievement: TextVectors,
        a: Sequence[int] | np.ndarray,
        n: int = 5,
    ) -> list[list[str]]:
        """``shared_terms`` of many (demand, achievement) pairs at once, in one sparse pass."""
        n_words = len(self.words)
        d_idx = np.asarray(d, dtype=np.int64)
        a_idx = np.asarray(a, dtype=np.int64)
        if not len(d_idx):
            return []
        q = demand.matrix[:, :n_words][d_idx]
        x = achievement.matrix[:, :n_words][a_idx]
        product = sp.csr_matrix(q.multiply(x), dtype=np.float32)
        product.sort_indices()
        both = product.tocoo()
        ok = both.data > 0
        rows, cols, vals = both.row[ok], both.col[ok], both.data[ok]
        # one stable sort: row, then score descending (positive float32 bits sort as the
        # numbers do), then column (already ascending within a row)
        key = (rows.astype(np.int64) << 32) | (0xFFFFFFFF - vals.view(np.uint32)).astype(np.int64)
        order = np.argsort(key, kind="stable")
        rows, cols = rows[order], cols[order]
        starts = np.searchsorted(rows, np.arange(len(d_idx)))
        rank = np.arange(len(rows)) - starts[rows] if len(rows) else rows
        take = rank < n
        terms = self._word_array[cols[take]]
        ends = np.searchsorted(rows[take], np.arange(1, len(d_idx) + 1))
        return [part.tolist() for part in np.split(terms, ends[:-1])]

    def expand(self, queries: TextVectors, items: TextVectors, first: TopK) -> TextVectors:
        """Pseudo-relevance feedback: add to each query the centroid of its first-pass hits,
        each weighted by its first-pass score (as in RM3), ``feedback_weight`` in all."""
        opts = self.options
        n_q, m = first.indices.shape
        weights = np.where(first.indices >= 0, first.scores, 0).astype(np.float64)
        totals = weights.sum(axis=1, keepdims=True)
        weights = weights / np.where(totals > 0, totals, 1) * opts.feedback_weight
        rows = np.repeat(np.arange(n_q), m)
        cols = first.indices.ravel()
        ok = cols >= 0
        pick = sp.csr_matrix(
            (weights.ravel()[ok].astype(np.float32), (rows[ok], cols[ok])),
            shape=(n_q, len(items)),
        )
        centroid = _keep_strongest(sp.csr_matrix(pick @ items.matrix), opts.feedback_terms)
        return TextVectors(_normalize(queries.matrix + centroid), queries.model_version)

    def save(self, path: Path) -> None:
        """Write the model to one ``.npz`` file (atomically: temp file, then rename)."""
        meta = {"format": _FORMAT, "options": self.options.to_json(), "version": self.version}
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(
                f,
                meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                words=np.frombuffer("\n".join(self.words).encode(), dtype=np.uint8),
                grams=np.frombuffer("\n".join(self.grams).encode(), dtype=np.uint8),
                idf=self.idf,
            )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, *, cache_dir: Path | None = None) -> TextModel:
        """Read a model written by ``save``; the dictionaries must still hash the same."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(data["meta"].tobytes().decode())
                words = _split(data["words"])
                grams = _split(data["grams"])
                idf = data["idf"]
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"{path}: not a fuzhi text model ({exc}); fit it again") from exc
        if meta.get("format") != _FORMAT:
            raise InputError(f"{path}: text model format {meta.get('format')}; fit it again")
        options = TextOptions.from_json(meta["options"])
        model = cls(
            options, words, grams, idf, Tokenizer(options.tokenizer_config(), cache_dir=cache_dir)
        )
        if model.version != meta["version"]:
            raise InputError(
                f"{path}: dictionaries, synonyms or stop words changed since the model was fitted; fit it again"
            )
        return model


def text_top_k(
    model: TextModel,
    demands: TextVectors,
    achievements: TextVectors,
    k: int,
    *,
    min_score: float = 0.0,
    allowed: np.ndarray | None = None,
    n_jobs: int = 2,
    progress: Progress | None = None,
    feedback: bool = True,
    skip_common: float = SKIP_COMMON,
) -> TopK:
    """Top ``k`` achievements per demand (cosine in [0, 1], ties by lower achievement index).

    The roles are symmetric: pass achievements as ``demands`` and demands as
    ``achievements`` for the top demands per achievement; ``allowed`` then masks demands.
    With feedback (``options.feedback_docs`` > 0 and ``feedback``), scores are cosines
    against the feedback-extended query; pass ``feedback=False`` for plain text cosines
    (e.g. to find near-duplicates).
    """
    for vectors in (demands, achievements):
        if vectors.model_version != model.version:
            raise ValueError("vectors were made by another text model; transform them again")
    queries = demands
    opts = model.options
    index = ItemIndex(achievements.matrix, allowed)
    if feedback and opts.feedback_docs > 0 and opts.feedback_weight > 0:
        first = sparse_top_k(
            queries.matrix,
            index,
            opts.feedback_docs,
            min_score=min_score,
            n_jobs=n_jobs,
            skip_common=skip_common,
        )
        queries = model.expand(queries, achievements, first)
    return sparse_top_k(
        queries.matrix,
        index,
        k,
        min_score=min_score,
        n_jobs=n_jobs,
        progress=progress,
        skip_common=skip_common,
    )


@dataclass(frozen=True)
class _TermCounts:
    """Field-weighted term counts of documents over their own vocabulary: words, then grams."""

    words: list[str]
    grams: np.ndarray  # uint64 n-gram codes (``char_ngram_codes``)
    matrix: sp.csr_matrix  # documents × (words + grams), float32, duplicates summed


def _count_terms(
    tokenizer: Tokenizer,
    libraries: Sequence[tuple[Sequence[Doc], FieldWeights]],
    n: int,
    progress: Progress | None,
) -> _TermCounts:
    """Fold and segment every weighted field once, then count words and character n-grams
    per chunk of documents (bounded memory) and join the chunks' vocabularies."""
    texts: list[str] = []
    rows: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    weights: list[np.ndarray] = [np.zeros(0, dtype=np.float32)]
    n_docs = 0
    for docs, field_weights in libraries:
        names = [name for name, _ in field_weights]
        texts += [str(doc.get(name) or "") for doc in docs for name in names]
        rows.append(n_docs + np.repeat(np.arange(len(docs)), len(names)))
        weights.append(np.tile(np.array([w for _, w in field_weights], np.float32), len(docs)))
        n_docs += len(docs)
    folded = tokenizer.fold_many(texts)
    del texts
    tokens = tokenizer.tokens_joined(folded, progress=progress)
    text_row, text_weight = np.concatenate(rows), np.concatenate(weights)
    parts = []
    for lo in range(0, n_docs, _CHUNK_DOCS):
        hi = min(n_docs, lo + _CHUNK_DOCS)
        a, b = np.searchsorted(text_row, [lo, hi])
        parts.append(
            _count_chunk(folded[a:b], tokens[a:b], text_row[a:b] - lo, text_weight[a:b], hi - lo, n)
        )
    return _join_chunks(parts, n_docs)


def _count_chunk(
    folded: list[str], tokens: list[str], rows: np.ndarray, weights: np.ndarray, n_rows: int, n: int
) -> _TermCounts:
    n_tokens = np.fromiter((t.count(" ") + 1 if t else 0 for t in tokens), np.int64, len(tokens))
    words = " ".join([t for t in tokens if t]).split(" ") if n_tokens.any() else []
    word_codes, word_vocab = pd.factorize(np.array(words, dtype=object))
    del words
    word_text = np.repeat(np.arange(len(tokens)), n_tokens)
    gram_raw, gram_text = char_ngram_codes(folded, n) if n else (_NO_GRAMS, _NO_TEXTS)
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
    return _TermCounts(list(word_vocab), np.asarray(gram_vocab, dtype=np.uint64), matrix)


def _join_chunks(parts: list[_TermCounts], n_docs: int) -> _TermCounts:
    """Stack chunks' rows over the union of their vocabularies (first seen first)."""
    word_ids, words = pd.factorize(np.array([w for p in parts for w in p.words], dtype=object))
    gram_ids, grams = pd.factorize(np.concatenate([_NO_GRAMS, *(p.grams for p in parts)]))
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
    return _TermCounts(list(words), np.asarray(grams, dtype=np.uint64), matrix)


def _normalize(matrix: sp.spmatrix) -> sp.csr_matrix:
    m = sp.csr_matrix(matrix, dtype=np.float32)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1
    return sp.csr_matrix(sp.diags((1 / norms).astype(np.float32)) @ m)


def _keep_strongest(matrix: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Zero all but the ``n`` largest entries of each row."""
    if n <= 0:
        return matrix
    m = matrix.copy()
    for r in range(m.shape[0]):
        start, end = m.indptr[r], m.indptr[r + 1]
        if end - start > n:
            row = m.data[start:end]
            cut = np.partition(row, end - start - n)[end - start - n]
            row[row < cut] = 0
    m.eliminate_zeros()
    return m


def _split(blob: np.ndarray) -> list[str]:
    text = blob.tobytes().decode()
    return text.split("\n") if text else []
