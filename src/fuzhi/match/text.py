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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fuzhi.errors import InputError
from fuzhi.match.count_cache import BLOCK
from fuzhi.match.terms import (
    MAX_NGRAM,
    NO_GRAMS,
    Doc,
    FieldWeights,
    Progress,
    count_terms,
    ngram_codes,
    ngram_strings,
)
from fuzhi.match.tokenize import Tokenizer, TokenizerConfig
from fuzhi.match.topk import ItemIndex, TopK, feedback_queries, sparse_top_k

_FORMAT = 1
SKIP_COMMON = 0.02  # see topk.sparse_top_k: candidates without terms in > 2% of items
SEARCH_SHARE = 0.9  # … found by the strongest rare terms holding 90% of their weight


@dataclass(frozen=True)
class TextOptions(TokenizerConfig):
    """How text becomes vectors. Defaults are the best configuration measured on csl-dev.

    The dictionary, synonym and stop-word fields are :class:`TokenizerConfig`'s;
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

    def __post_init__(self) -> None:
        if not 0 <= self.char_ngram <= MAX_NGRAM:
            raise ValueError(f"char_ngram {self.char_ngram}: expected 0 (off) to {MAX_NGRAM}")

    def tokenizer_config(self) -> TokenizerConfig:
        """Just the tokenizer's part of these options."""
        shared = dataclasses.fields(TokenizerConfig)
        return TokenizerConfig(**{f.name: getattr(self, f.name) for f in shared})

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
        self._gram_codes = ngram_codes(grams, options.char_ngram) if grams else NO_GRAMS
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
        counts = count_terms(tokenizer, libraries, options.char_ngram, progress)
        tf = counts.matrix
        df = np.zeros(tf.shape[1], dtype=np.int64)
        for at in range(0, tf.nnz, BLOCK):  # a block at a time: no large temporaries
            df += np.bincount(tf.indices[at : at + BLOCK], minlength=tf.shape[1])
        idf = np.log((1 + tf.shape[0]) / (1 + df.astype(np.float64))) + 1
        n = options.char_ngram
        grams = ngram_strings(counts.grams, n) if n else []
        model = cls(options, counts.words, grams, idf, tokenizer)
        vectors = model._vectors(tf)

        def rows(lo: int, hi: int) -> TextVectors:  # shares the entries, does not copy them
            a, b = int(vectors.indptr[lo]), int(vectors.indptr[hi])
            part = (vectors.data[a:b], vectors.indices[a:b], vectors.indptr[lo : hi + 1] - a)
            return TextVectors(sp.csr_matrix(part, shape=(hi - lo, tf.shape[1])), model.version)

        n_a = len(achievements)
        return model, rows(0, n_a), rows(n_a, tf.shape[0])

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
        counts = count_terms(
            self.tokenizer, [(docs, field_weights)], self.options.char_ngram, progress
        )
        return TextVectors(
            self._vectors(counts.onto(self._word_lookup, self._gram_codes)), self.version
        )

    def _vectors(self, tf: sp.csr_matrix) -> sp.csr_matrix:
        """Weighted term counts (columns of this model) → damped, IDF-weighted, each view
        L2-normalised, joined as √(1−w)·words ⊕ √w·grams and normalised again.

        Rows are weighted a block at a time: the temporaries stay a few MB (at 100k, whole
        arrays of tens of millions of entries cost ~3x as much, most of it fresh pages)."""
        opts = self.options
        share = np.array([1 - opts.char_weight, opts.char_weight]) if opts.char_ngram else 1.0
        n_rows, n_words, block = tf.shape[0], len(self.words), 4096
        out = np.empty(tf.nnz, dtype=np.float32)
        for lo in range(0, n_rows, block):
            hi = min(lo + block, n_rows)
            a, b = int(tf.indptr[lo]), int(tf.indptr[hi])
            data, indices = tf.data[a:b].astype(np.float32), tf.indices[a:b]
            if opts.sublinear_tf:
                big = data >= 1
                data[big] = 1 + np.log(data[big])
            data *= self.idf[indices]
            rows = np.repeat(np.arange(hi - lo, dtype=np.int64), np.diff(tf.indptr[lo : hi + 1]))
            view = rows * 2 + (indices >= n_words)  # (row, words or grams)
            squares = np.bincount(view, np.square(data), minlength=2 * (hi - lo)).reshape(-1, 2)
            shares = np.where(squares > 0, share, 0.0)
            total = shares.sum(axis=1, keepdims=True)
            scale = np.sqrt(
                shares / np.where(squares > 0, squares, 1) / np.where(total > 0, total, 1)
            )
            np.multiply(data, scale.ravel().astype(np.float32)[view], out=out[a:b])
        return sp.csr_matrix((out, tf.indices, tf.indptr), shape=tf.shape)

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
        """``shared_terms`` of many (demand, achievement) pairs at once (compiled kernel)."""
        from fuzhi.match.kernels import shared_terms

        cols = shared_terms(
            demand.matrix, achievement.matrix, np.asarray(d), np.asarray(a), len(self.words), n
        )
        terms = self._word_array[np.maximum(cols, 0)].tolist()
        counts = (cols >= 0).sum(axis=1).tolist()  # -1 pads only at the end of a row
        return [row[:c] for row, c in zip(terms, counts, strict=True)]

    def expand(self, queries: TextVectors, items: TextVectors, first: TopK) -> TextVectors:
        """Pseudo-relevance feedback: add to each query the centroid of its first-pass hits,
        each weighted by its first-pass score (as in RM3), ``feedback_weight`` in all."""
        opts = self.options
        extended = feedback_queries(
            queries.matrix, items.matrix, first, opts.feedback_weight, opts.feedback_terms
        )
        return TextVectors(extended, queries.model_version)

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
    ``allowed`` limits the candidates only: query feedback always uses every item.
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
        # Feedback reads the whole library, so a filter or an incremental run's candidate
        # mask changes which items are proposed, never how a pair is scored.
        whole = index if allowed is None else ItemIndex(achievements.matrix, None)
        first = sparse_top_k(
            queries.matrix,
            whole,
            opts.feedback_docs,
            min_score=min_score,
            n_jobs=n_jobs,
            skip_common=skip_common,
            search_share=SEARCH_SHARE,
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
        search_share=SEARCH_SHARE,
    )


def _split(blob: np.ndarray) -> list[str]:
    text = blob.tobytes().decode()
    return text.split("\n") if text else []
