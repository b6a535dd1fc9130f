"""Remember each document's vector under the stored text model, so incremental runs are fast.

Vectorising a 100k-record library takes most of a match; under a fixed model a document's
vector depends only on its own text, so it is kept between runs in
``.fuzhi/model/vectors-<model version>.npz`` (keyed by side and a hash of the document)
and only new or changed documents are vectorised.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from fuzhi.match.text import TextModel, TextVectors


def _key(side: str, doc: Any) -> str:
    text = side + json.dumps(dict(doc), ensure_ascii=False, sort_keys=True)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


class CachedModel(TextModel):
    """The stored model, with a persistent per-document vector cache.

    Built from a loaded :class:`TextModel` (it shares that model's state), so the engine
    uses it wherever it takes a model.
    """

    _cache_path: Path
    _index: dict[str, int]
    _matrix: sp.csr_matrix | None
    _dirty: bool

    @classmethod
    def wrap(cls, model: TextModel, cache_path: Path) -> CachedModel:
        cached = cls.__new__(cls)
        cached.__dict__.update(model.__dict__)
        cached._cache_path = cache_path
        cached._index, cached._matrix, cached._dirty = {}, None, False
        if cache_path.is_file():
            with np.load(cache_path, allow_pickle=False) as data:
                keys = data["keys"].tobytes().decode().split("\n") if data["keys"].size else []
                cached._index = {k: i for i, k in enumerate(keys)}
                cached._matrix = sp.csr_matrix(
                    (data["data"], data["indices"], data["indptr"]), shape=tuple(data["shape"])
                )
        return cached

    def _add_missing(
        self, side: str, docs: Sequence[Any], fresh: Callable[[list[int]], sp.csr_matrix]
    ) -> list[str]:
        """Cache the vectors of ``docs`` not cached yet, ``fresh(their positions)``; their keys."""
        keys = [_key(side, d) for d in docs]
        missing = list(dict.fromkeys(k for k in keys if k not in self._index))
        if missing:
            where = {k: i for i, k in enumerate(keys)}
            vectors = fresh([where[k] for k in missing])
            start = 0 if self._matrix is None else self._matrix.shape[0]
            self._matrix = (
                vectors if self._matrix is None else sp.vstack([self._matrix, vectors], "csr")
            )
            self._index.update({k: start + i for i, k in enumerate(missing)})
            self._dirty = True
        return keys

    def _cached(
        self, side: str, docs: Sequence[Any], fresh: Callable[[list[int]], sp.csr_matrix]
    ) -> TextVectors:
        keys = self._add_missing(side, docs, fresh)
        assert self._matrix is not None
        rows = np.fromiter((self._index[k] for k in keys), dtype=np.int64, count=len(keys))
        return TextVectors(sp.csr_matrix(self._matrix[rows]), self.version)

    def transform_achievements(self, docs: Sequence[Any], progress: Any = None) -> TextVectors:
        return self._cached(
            "a",
            docs,
            lambda at: TextModel.transform_achievements(self, [docs[i] for i in at]).matrix,
        )

    def transform_demands(self, docs: Sequence[Any], progress: Any = None) -> TextVectors:
        return self._cached(
            "d", docs, lambda at: TextModel.transform_demands(self, [docs[i] for i in at]).matrix
        )

    def remember(
        self,
        achievements: Sequence[Any],
        achievement_vectors: TextVectors,
        demands: Sequence[Any],
        demand_vectors: TextVectors,
    ) -> None:
        """Cache vectors this model already made (``TextModel.fit_transform``'s), so that
        ``transform_*`` does not vectorise those documents again."""
        if {achievement_vectors.model_version, demand_vectors.model_version} != {self.version}:
            raise ValueError("vectors were made by another text model")
        self._add_missing("a", achievements, lambda at: achievement_vectors.matrix[at])
        self._add_missing("d", demands, lambda at: demand_vectors.matrix[at])

    def save_vectors(self) -> None:
        """Write the cache if it grew (temp file, then rename)."""
        if not self._dirty or self._matrix is None:
            return
        m = self._matrix
        self._cache_path.parent.mkdir(parents=True, exist_ok=True)
        keys = "\n".join(sorted(self._index, key=self._index.__getitem__)).encode()
        tmp = self._cache_path.with_name(self._cache_path.name + f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                keys=np.frombuffer(keys, dtype=np.uint8),
                data=m.data,
                indices=m.indices,
                indptr=m.indptr,
                shape=np.array(m.shape),
            )
        os.replace(tmp, self._cache_path)
        self._dirty = False
