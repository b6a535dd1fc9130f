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
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fuzhi.errors import InputError
from fuzhi.match.tokenize import Tokenizer, TokenizerConfig
from fuzhi.match.topk import TopK, sparse_top_k

Doc = Mapping[str, str]
Progress = Callable[[str, int, int], None]

_HAN_RUN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff]+")
_FORMAT = 1


@dataclass(frozen=True)
class TextOptions:
    """How text becomes vectors. Defaults are the best configuration measured on csl-dev.

    ``field_weights`` (achievements) and ``demand_field_weights`` multiply a field's term
    counts (fields not listed are ignored);
    ``char_ngram`` is the n of the character view (0 turns it off) and ``char_weight`` its
    share of the score; ``feedback_docs`` first-pass hits add ``feedback_weight`` times
    their score-weighted centroid to each query (``feedback_docs=0`` turns feedback off);
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


def char_ngrams(text: str, n: int) -> list[str]:
    """Overlapping n-grams of each Han run of folded text (a shorter run stays whole)."""
    return [
        run[i : i + n] for run in _HAN_RUN.findall(text) for i in range(max(1, len(run) - n + 1))
    ]


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
        self._word_index = {w: i for i, w in enumerate(words)}
        self._gram_index = {g: i + len(words) for i, g in enumerate(grams)}
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
        tokenizer = Tokenizer(options.tokenizer_config(), cache_dir=cache_dir)
        fields = _tokenized_fields(tokenizer, achievements, options.field_weights, progress)
        fields += _tokenized_fields(tokenizer, demands, options.demand_field_weights, progress)
        counts = _count_terms(fields, [1.0] * max((len(f) for f in fields), default=0), options)
        present = counts.matrix.copy()
        present.data[:] = 1
        df = np.bincount(present.indices, minlength=present.shape[1]).astype(np.float64)
        words, grams, order = counts.sorted_vocabulary()
        idf = np.log((1 + len(fields)) / (1 + df[order])) + 1
        return cls(options, words, grams, idf, tokenizer)

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
        self,
        docs: Sequence[Doc],
        field_weights: tuple[tuple[str, float], ...],
        progress: Progress | None,
    ) -> TextVectors:
        opts = self.options
        fields = _tokenized_fields(self.tokenizer, docs, field_weights, progress)
        counts = _count_terms(fields, [w for _, w in field_weights], opts)
        n_words = len(self.words)
        n_cols = n_words + len(self.grams)
        word_index, gram_index = self._word_index, self._gram_index
        ids = np.array(
            [word_index.get(w, -1) for w in counts.words]
            + [gram_index.get(g, -1) for g in counts.grams],
            dtype=np.int64,
        )
        local = counts.matrix.tocoo()
        cols = ids[local.col]
        keep = cols >= 0
        tf = sp.csr_matrix(
            (local.data[keep], (local.row[keep], cols[keep])),
            shape=(len(docs), n_cols),
            dtype=np.float32,
        )
        tf.sum_duplicates()
        if opts.sublinear_tf:
            big = tf.data >= 1
            tf.data[big] = 1 + np.log(tf.data[big])
        tf.data *= self.idf[tf.indices]
        words_part = _normalize(tf[:, :n_words])
        matrix = words_part
        if opts.char_ngram:
            grams_part = _normalize(tf[:, n_words:])
            matrix = sp.hstack(
                [
                    words_part * np.float32(np.sqrt(1 - opts.char_weight)),
                    grams_part * np.float32(np.sqrt(opts.char_weight)),
                ],
                format="csr",
            )
        return TextVectors(_normalize(matrix), self.version)

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
        q = demand.matrix[:, :n_words][d_idx]
        x = achievement.matrix[:, :n_words][a_idx]
        both = sp.csr_matrix(q.multiply(x)).tocoo()
        ok = both.data > 0
        rows, cols, vals = both.row[ok], both.col[ok], both.data[ok]
        order = np.lexsort((cols, -vals, rows))
        rows, cols = rows[order], cols[order]
        starts = np.searchsorted(rows, np.arange(len(d_idx)))
        rank = np.arange(len(rows)) - starts[rows] if len(rows) else rows
        take = rank < n
        rows, cols = rows[take], cols[take]
        out: list[list[str]] = [[] for _ in range(len(d_idx))]
        words = self.words
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            out[r].append(words[c])
        return out

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
    if feedback and opts.feedback_docs > 0 and opts.feedback_weight > 0:
        first = sparse_top_k(
            queries.matrix,
            achievements.matrix,
            opts.feedback_docs,
            min_score=min_score,
            allowed=allowed,
            n_jobs=n_jobs,
        )
        queries = model.expand(queries, achievements, first)
    return sparse_top_k(
        queries.matrix,
        achievements.matrix,
        k,
        min_score=min_score,
        allowed=allowed,
        n_jobs=n_jobs,
        progress=progress,
    )


def _tokenized_fields(
    tokenizer: Tokenizer,
    docs: Sequence[Doc],
    field_weights: tuple[tuple[str, float], ...],
    progress: Progress | None,
) -> list[list[tuple[str, list[str]]]]:
    """Per document, per weighted field: folded text and tokens (missing fields are empty)."""
    names = [name for name, _ in field_weights]
    texts = [tokenizer.fold(str(doc.get(name) or "")) for doc in docs for name in names]
    tokens = tokenizer.tokenize_folded(texts, progress=progress)
    pairs = list(zip(texts, tokens, strict=True))
    width = len(names)
    return [pairs[i : i + width] for i in range(0, len(pairs), width)]


@dataclass(frozen=True)
class _TermCounts:
    """Field-weighted term counts of documents over their own vocabulary: words, then grams."""

    words: list[str]
    grams: list[str]
    matrix: sp.csr_matrix  # documents × (words + grams), float32, duplicates summed

    def sorted_vocabulary(self) -> tuple[list[str], list[str], np.ndarray]:
        """Words and grams each sorted, and the column order that puts them so."""
        n_words = len(self.words)
        word_order = sorted(range(n_words), key=self.words.__getitem__)
        gram_order = sorted(range(len(self.grams)), key=self.grams.__getitem__)
        order = np.array(word_order + [n_words + i for i in gram_order], dtype=np.int64)
        return (
            [self.words[i] for i in word_order],
            [self.grams[i] for i in gram_order],
            order,
        )


def _count_terms(
    fields: list[list[tuple[str, list[str]]]], weights: Sequence[float], options: TextOptions
) -> _TermCounts:
    """One pass over tokenised documents: local term ids (pandas' C hash table, first seen
    first) and their weighted counts."""
    all_words: list[str] = []
    all_grams: list[str] = []
    entry_rows: list[int] = []
    entry_weights: list[float] = []
    word_lens: list[int] = []
    gram_lens: list[int] = []
    n = options.char_ngram
    for r, doc_fields in enumerate(fields):
        for (text, words), weight in zip(doc_fields, weights, strict=False):
            grams = char_ngrams(text, n) if n and text else []
            all_words += words
            all_grams += grams
            entry_rows.append(r)
            entry_weights.append(weight)
            word_lens.append(len(words))
            gram_lens.append(len(grams))
    word_codes, word_vocab = pd.factorize(np.array(all_words, dtype=object))
    gram_codes, gram_vocab = pd.factorize(np.array(all_grams, dtype=object))
    rows = np.asarray(entry_rows, dtype=np.int64)
    vals = np.asarray(entry_weights, dtype=np.float32)
    matrix = sp.csr_matrix(
        (
            np.concatenate([np.repeat(vals, word_lens), np.repeat(vals, gram_lens)]),
            (
                np.concatenate([np.repeat(rows, word_lens), np.repeat(rows, gram_lens)]),
                np.concatenate([word_codes, gram_codes + len(word_vocab)]).astype(np.int64),
            ),
        ),
        shape=(len(fields), len(word_vocab) + len(gram_vocab)),
        dtype=np.float32,
    )
    matrix.sum_duplicates()
    return _TermCounts(list(word_vocab), list(gram_vocab), matrix)


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
