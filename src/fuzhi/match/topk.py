"""Top-k rows of ``queries @ items.T`` for sparse matrices, in bounded memory, on all cores.

Ties are broken by lower item index so results are deterministic (callers sort items by ID
first, so ties break by ID). The compiled kernel (``fuzhi.match.kernels``, Numba) searches
blocks of queries on all cores; where it cannot run (Numba missing, negative entries),
SciPy products over row blocks run on a thread pool (SciPy's sparse kernels release the
GIL) and give the same results. At scale, ``skip_common`` finds candidates without the
terms most items hold (most of the kernel's work) and then scores the candidates exactly. ``feedback_queries`` extends queries by their first-pass hits
(pseudo-relevance feedback) for a second pass.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from fuzhi.process import Background

Progress = Callable[[str, int, int], None]
log = logging.getLogger(__name__)

_DENSE_BLOCK_CELLS = 16_000_000  # 64 MB of float32 per dense block
_KERNEL_BLOCK_ROWS = 4096
_EXTRA_CANDIDATES = 20
_MIN_CANDIDATES = 50
_SKIP_MIN_PAIRS = 100_000_000  # below this, exact top-k is cheap enough
# Queries that would lose more than this share of their squared weight to skipped common
# terms are scored exactly instead.
_MAX_SKIPPED_MASS = 0.5
_PREPARE_LOCK = threading.Lock()
_PREPARING: Background[None] | None = None


@dataclass(frozen=True)
class TopK:
    """Best ``k`` items per query, best first; missing places hold index -1 and score 0."""

    indices: np.ndarray  # (n_queries, k) int64
    scores: np.ndarray  # (n_queries, k) float32

    def row(self, i: int) -> list[tuple[int, float]]:
        """(item index, score) pairs of query ``i`` without padding."""
        return [
            (int(j), float(s))
            for j, s in zip(self.indices[i], self.scores[i], strict=True)
            if j >= 0
        ]


def _select(scores: np.ndarray, k: int, min_score: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of each row of a dense block: score desc, then column asc; > min_score."""
    n_rows, n_cols = scores.shape
    idx = np.full((n_rows, k), -1, dtype=np.int64)
    out = np.zeros((n_rows, k), dtype=np.float32)
    if n_cols == 0 or n_rows == 0:
        return idx, out
    if k < n_cols:
        kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1]
        keep = (
            scores >= np.maximum(kth, np.nextafter(np.float32(min_score), np.float32(1)))[:, None]
        )
    else:
        keep = scores > min_score
    rows, cols = np.nonzero(keep)
    return _rank_pairs(rows, cols, scores[rows, cols], n_rows, k)


def _rank_pairs(
    rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n_rows: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (row, column, score) entries of each row: score desc, then column asc."""
    idx = np.full((n_rows, k), -1, dtype=np.int64)
    out = np.zeros((n_rows, k), dtype=np.float32)
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows, np.arange(n_rows))
    rank = np.arange(len(rows)) - starts[rows]
    take = rank < k
    idx[rows[take], rank[take]] = cols[take]
    out[rows[take], rank[take]] = vals[take]
    return idx, out


def _dense_block(queries: sp.csr_matrix, items_t: sp.csr_matrix) -> np.ndarray:
    return np.asarray((queries @ items_t).toarray(), dtype=np.float32)


def sparse_top_k(
    queries: sp.spmatrix,
    items: sp.spmatrix | ItemIndex,
    k: int,
    *,
    min_score: float = 0.0,
    allowed: np.ndarray | None = None,
    n_jobs: int = 2,
    progress: Progress | None = None,
    use_kernel: bool | None = None,
    skip_common: float = 0.0,
    search_share: float = 1.0,
) -> TopK:
    """Top ``k`` items per query row by dot product; only scores above ``min_score`` count.

    ``items`` is a matrix or an ``ItemIndex`` (which then holds the ``allowed`` mask).
    ``allowed`` is an optional boolean mask over items; ``use_kernel`` asks for (True) or
    avoids (False) the compiled kernel, default: use it when Numba is installed (matrices
    with negative entries always take the SciPy path). ``skip_common`` > 0 (with the kernel,
    at scale) finds candidates without the terms held by more than that share of the items,
    and (``search_share`` < 1) by only each query's strongest other terms that carry that
    share of their squared weight, then
    scores the candidates exactly: much faster, and the results differ only where an item
    would rank by the terms left out alone.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if isinstance(items, ItemIndex):
        if allowed is not None:
            raise ValueError("pass allowed to ItemIndex, not with one")
        index = items
    else:
        index = ItemIndex(items, allowed)
    q = sp.csr_matrix(queries, dtype=np.float32)
    a, items_t = index.items, index.items_t
    if q.shape[1] != a.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} columns, items {a.shape[1]}")
    if use_kernel is None:
        use_kernel = _kernel_available()
    use_kernel = use_kernel and index.nonnegative and bool((q.data >= 0).all())
    common = index.df > skip_common * a.shape[0]
    big = q.shape[0] * a.shape[0] >= _SKIP_MIN_PAIRS
    if use_kernel and a.shape[0] > 0:
        skip = common if big and skip_common > 0 and common.any() else None
        result = _top_k_kernel(q, index, k, min_score, n_jobs, progress, skip, search_share)
    else:
        result = _top_k_blocks(q, items_t, k, min_score, n_jobs, progress)
    idx, scores = result
    if index.column_map is not None:
        idx = np.where(idx >= 0, index.column_map[np.maximum(idx, 0)], -1)
    return TopK(indices=idx, scores=scores)


class ItemIndex:
    """Items made ready for ``sparse_top_k`` (masked by ``allowed``, transposed), so that
    several passes over the same items (as with feedback) prepare them once."""

    def __init__(self, items: sp.spmatrix, allowed: np.ndarray | None = None) -> None:
        a = sp.csr_matrix(items, dtype=np.float32)
        self.column_map: np.ndarray | None = None
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=bool)
            if allowed.shape != (a.shape[0],):
                raise ValueError(
                    f"allowed mask has shape {allowed.shape}, expected ({a.shape[0]},)"
                )
            self.column_map = np.flatnonzero(allowed)
            a = a[self.column_map]
        self.items = a
        self.items_t = a.T.tocsr()
        self.df = np.diff(self.items_t.indptr)  # items holding each term
        self.nonnegative = bool((a.data >= 0).all())  # what the compiled kernel needs


def feedback_queries(
    queries: sp.spmatrix, items: sp.spmatrix, first: TopK, weight: float, n_terms: int
) -> sp.csr_matrix:
    """Pseudo-relevance feedback: each query plus the centroid of its first-pass hits, each
    weighted by its first-pass score (as in RM3), ``weight`` in all, cut to the centroid's
    ``n_terms`` strongest terms (0: all), L2-normalised."""
    n_q, m = first.indices.shape
    weights = np.where(first.indices >= 0, first.scores, 0).astype(np.float64)
    totals = weights.sum(axis=1, keepdims=True)
    weights = weights / np.where(totals > 0, totals, 1) * weight
    rows = np.repeat(np.arange(n_q), m)
    cols = first.indices.ravel()
    ok = cols >= 0
    pick = sp.csr_matrix(
        (weights.ravel()[ok].astype(np.float32), (rows[ok], cols[ok])),
        shape=(n_q, items.shape[0]),
    )
    centroid = _keep_strongest(sp.csr_matrix(pick @ items), n_terms)
    return _normalize(queries + centroid)


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


def prepare_kernels() -> None:
    """Start loading the compiled kernels on a background thread (once per process).

    Importing Numba and setting up its CPU target takes ~0.45 s of Python work; a caller
    about to wait on other processes (``fuzhi.match.terms`` while workers segment) calls
    this so the wait does it. A fork waits for the thread to finish first (it may hold
    import locks a child would need: ``fuzhi.process.Background``)."""
    global _PREPARING
    with _PREPARE_LOCK:
        if _PREPARING is None:
            _PREPARING = Background("fuzhi-kernels", _load_kernels)


def _kernels_loaded() -> None:
    """Wait for ``prepare_kernels``' thread, if started."""
    if _PREPARING is not None:
        _PREPARING.result()


def _load_kernels() -> None:
    with contextlib.suppress(Exception):  # failures are reported by _kernel_available
        from numba.core.compiler_lock import global_compiler_lock
        from numba.core.registry import cpu_target

        import fuzhi.match.kernels  # (needs Numba)

        with global_compiler_lock:
            cpu_target.target_context.refresh()
        fuzhi.match.kernels.warm_up()


def _kernel_available() -> bool:
    _kernels_loaded()
    try:
        import fuzhi.match.kernels  # noqa: F401  (needs Numba)
    except (ImportError, RuntimeError) as exc:  # RuntimeError: Numba found no cache folder
        log.warning("compiled top-k kernel unavailable (%s); using SciPy", exc)
        return False
    return True


def _top_k_blocks(
    q: sp.csr_matrix,
    items_t: sp.csr_matrix,
    k: int,
    min_score: float,
    n_jobs: int,
    progress: Progress | None,
) -> tuple[np.ndarray, np.ndarray]:
    n = q.shape[0]
    idx = np.full((n, k), -1, dtype=np.int64)
    out = np.zeros((n, k), dtype=np.float32)
    step = max(1, min(1024, _DENSE_BLOCK_CELLS // max(1, items_t.shape[1])))
    starts = list(range(0, n, step))

    def run(lo: int) -> int:
        hi = min(n, lo + step)
        idx[lo:hi], out[lo:hi] = _select(_dense_block(q[lo:hi], items_t), k, min_score)
        return hi - lo

    done = 0
    with ThreadPoolExecutor(max(1, n_jobs)) as pool:
        for rows in pool.map(run, starts):
            done += rows
            if progress:
                progress("top-k", done, n)
    return idx, out


def _top_k_kernel(
    q: sp.csr_matrix,
    index: ItemIndex,
    k: int,
    min_score: float,
    n_jobs: int,
    progress: Progress | None,
    common: np.ndarray | None = None,
    search_share: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k with the compiled kernel, in blocks of queries (for progress); with
    ``common`` (a mask over terms), candidates are found without those terms (and with only
    each query's strongest other terms carrying ``search_share`` of their squared weight)
    and scored exactly.

    The kernel's cost is the posting lists it walks, and the few terms most items hold make
    up most of them. Each query's ``k + 20`` (at least 50) best items by its searched terms
    are candidates; the rest of their score is added back exactly and the best ``k`` kept.
    Queries whose common terms hold more than half their squared weight are searched
    exactly.
    """
    from fuzhi.match.kernels import top_k_csr

    n, n_items = q.shape[0], index.items.shape[0]
    idx = np.full((n, k), -1, dtype=np.int64)
    out = np.zeros((n, k), dtype=np.float32)
    pool = min(n_items, max(k + _EXTRA_CANDIDATES, _MIN_CANDIDATES))
    for lo in range(0, n, _KERNEL_BLOCK_ROWS):
        hi = min(n, lo + _KERNEL_BLOCK_ROWS)
        idx[lo:hi], out[lo:hi] = top_k_csr(
            q[lo:hi],
            index.items,
            index.items_t,
            k,
            min_score=min_score,
            common=common,
            pool=pool,
            share=search_share,
            max_skipped=_MAX_SKIPPED_MASS,
            n_jobs=n_jobs,
        )
        if progress:
            progress("top-k", hi, n)
    return idx, out
