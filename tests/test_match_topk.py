"""Blocked top-k against brute force: ties, k > n, masks, thresholds, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from fuzhi.match import topk
from fuzhi.match.topk import ItemIndex, TopK, sparse_top_k

KERNELS = [False, True]


def brute_force(
    q: sp.spmatrix,
    a: sp.spmatrix,
    k: int,
    min_score: float = 0.0,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    scores = (q @ a.T).toarray().astype(np.float32)
    idx = np.full((q.shape[0], k), -1)
    out = np.zeros((q.shape[0], k), dtype=np.float32)
    for r, row in enumerate(scores):
        ranked = sorted(
            (j for j in range(len(row)) if row[j] > min_score and (allowed is None or allowed[j])),
            key=lambda j: (-row[j], j),
        )[:k]
        idx[r, : len(ranked)] = ranked
        out[r, : len(ranked)] = row[ranked]
    return idx, out


def random_pair(
    seed: int, n_q: int = 40, n_a: int = 300, ties: bool = False
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    rng = np.random.default_rng(seed)
    q = sp.random(n_q, 50, density=0.1, random_state=rng, format="csr", dtype=np.float32)
    a = sp.random(n_a, 50, density=0.1, random_state=rng, format="csr", dtype=np.float32)
    if ties:  # small integers make many equal scores
        q.data = rng.integers(1, 3, len(q.data)).astype(np.float32)
        a.data = rng.integers(1, 3, len(a.data)).astype(np.float32)
    return q, a


def assert_matches(top: TopK, expected: tuple[np.ndarray, np.ndarray]) -> None:
    np.testing.assert_array_equal(top.indices, expected[0])
    np.testing.assert_allclose(top.scores, expected[1], rtol=1e-6)
    assert top.indices.dtype == np.int64 and top.scores.dtype == np.float32


@pytest.mark.parametrize("use_kernel", KERNELS)
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force(use_kernel: bool, ties: bool, seed: int) -> None:
    q, a = random_pair(seed, ties=ties)
    assert_matches(sparse_top_k(q, a, 7, use_kernel=use_kernel), brute_force(q, a, 7))


@pytest.mark.parametrize("use_kernel", KERNELS)
def test_all_tied_breaks_by_lower_index(use_kernel: bool) -> None:
    q = sp.csr_matrix(np.ones((3, 4), dtype=np.float32))
    a = sp.csr_matrix(np.ones((10, 4), dtype=np.float32))
    top = sparse_top_k(q, a, 3, use_kernel=use_kernel)
    assert top.indices.tolist() == [[0, 1, 2]] * 3


@pytest.mark.parametrize("use_kernel", KERNELS)
def test_k_larger_than_items_pads(use_kernel: bool) -> None:
    q, a = random_pair(3, n_q=5, n_a=4)
    top = sparse_top_k(q, a, 9, use_kernel=use_kernel)
    assert top.indices.shape == (5, 9)
    assert (top.indices[:, 4:] == -1).all() and (top.scores[:, 4:] == 0).all()
    assert_matches(top, brute_force(q, a, 9))


@pytest.mark.parametrize("use_kernel", KERNELS)
def test_mask_and_min_score(use_kernel: bool) -> None:
    q, a = random_pair(4)
    allowed = np.random.default_rng(4).random(a.shape[0]) < 0.3
    top = sparse_top_k(q, a, 5, min_score=0.05, allowed=allowed, use_kernel=use_kernel)
    assert_matches(top, brute_force(q, a, 5, 0.05, allowed))
    assert allowed[top.indices[top.indices >= 0]].all()


@pytest.mark.parametrize("use_kernel", KERNELS)
def test_deterministic_across_threads(use_kernel: bool) -> None:
    q, a = random_pair(5, n_q=200, ties=True)
    one = sparse_top_k(q, a, 10, n_jobs=1, use_kernel=use_kernel)
    two = sparse_top_k(q, a, 10, n_jobs=2, use_kernel=use_kernel)
    np.testing.assert_array_equal(one.indices, two.indices)
    np.testing.assert_array_equal(one.scores, two.scores)


def test_row_and_errors() -> None:
    q, a = random_pair(6, n_q=2, n_a=3)
    top = sparse_top_k(q, a, 5)
    assert all(j >= 0 for j, _ in top.row(0))
    with pytest.raises(ValueError, match="k must be"):
        sparse_top_k(q, a, 0)
    with pytest.raises(ValueError, match="allowed mask"):
        sparse_top_k(q, a, 1, allowed=np.ones(7, dtype=bool))


def test_empty_inputs() -> None:
    q = sp.csr_matrix((0, 5), dtype=np.float32)
    a = sp.csr_matrix((3, 5), dtype=np.float32)
    assert sparse_top_k(q, a, 2).indices.shape == (0, 2)
    top = sparse_top_k(a, q, 2)
    assert (top.indices == -1).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_skipping_common_terms_scores_candidates_exactly(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(topk, "_SKIP_MIN_PAIRS", 0)
    q, a = (m.tolil() for m in random_pair(seed, n_q=60, n_a=400))
    a[:, :3] = 0.5  # three terms every item holds
    q[:, 0] = 0.9  # a query of only common terms is scored without skipping
    q[0] = 0
    q[0, 1] = 1.0
    q, a = sp.csr_matrix(q), sp.csr_matrix(a)
    exact = sparse_top_k(q, a, 5, use_kernel=True)
    skipped = sparse_top_k(q, a, 5, use_kernel=True, skip_common=0.5)
    np.testing.assert_array_equal(skipped.indices, exact.indices)
    np.testing.assert_allclose(skipped.scores, exact.scores, rtol=1e-5)
    masked = sparse_top_k(q, a, 5, use_kernel=True, skip_common=0.5, min_score=0.8)
    assert (masked.scores[masked.indices >= 0] > 0.8).all()
    # searching by only the strongest rare terms still scores every candidate exactly
    strongest = sparse_top_k(q, a, 5, use_kernel=True, skip_common=0.5, search_share=0.6)
    found = strongest.indices >= 0
    assert (found == (exact.indices >= 0)).all()
    rows = np.nonzero(found)[0]
    direct = (q @ a.T).toarray()[rows, strongest.indices[found]]
    np.testing.assert_allclose(strongest.scores[found], direct, rtol=1e-5)
    assert np.mean(strongest.indices[:, 0] == exact.indices[:, 0]) > 0.9


def test_item_index_serves_several_passes() -> None:
    q, a = random_pair(3)
    allowed = np.arange(a.shape[0]) % 3 != 0
    index = ItemIndex(a, allowed)
    for k in (1, 7):
        direct = sparse_top_k(q, a, k, allowed=allowed)
        reused = sparse_top_k(q, index, k)
        np.testing.assert_array_equal(reused.indices, direct.indices)
    with pytest.raises(ValueError, match="allowed"):
        sparse_top_k(q, index, 1, allowed=allowed)


def test_compiled_kernel_at_size_matches_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_scipy(*args: object) -> None:
        raise AssertionError("the compiled kernel should have run")

    monkeypatch.setattr(topk, "_top_k_blocks", no_scipy)
    q, a = random_pair(5, n_q=120, n_a=3000, ties=True)
    assert_matches(sparse_top_k(q, a, 25, use_kernel=True, n_jobs=2), brute_force(q, a, 25))
    assert_matches(
        sparse_top_k(q, a, 4, use_kernel=True, min_score=3.0), brute_force(q, a, 4, min_score=3.0)
    )


@pytest.mark.parametrize("ties", [False, True])
def test_queries_whose_terms_touch_most_items_match_brute_force(ties: bool) -> None:
    """Queries whose posting lists hold more entries than there are items read every item
    after accumulating (the kernel's other mode); sparse queries in the same batch still
    note the items they touch."""
    rng = np.random.default_rng(11)
    q, a = random_pair(11, n_q=60, n_a=200, ties=ties)
    dense_rows = sp.random(30, 50, density=0.8, random_state=rng, format="csr", dtype=np.float32)
    common = sp.random(200, 50, density=0.5, random_state=rng, format="csr", dtype=np.float32)
    if ties:
        dense_rows.data = rng.integers(1, 3, len(dense_rows.data)).astype(np.float32)
        common.data = rng.integers(1, 3, len(common.data)).astype(np.float32)
    q = sp.vstack([q, dense_rows]).tocsr()
    a = (a + common).tocsr()
    df = np.diff(a.tocsc().indptr)
    postings = np.array([df[q.indices[q.indptr[r] : q.indptr[r + 1]]].sum() for r in range(90)])
    assert (postings > a.shape[0]).any() and (postings <= a.shape[0]).any()
    for k in (1, 5, 40):
        assert_matches(sparse_top_k(q, a, k, use_kernel=True), brute_force(q, a, k))


def test_negative_entries_take_the_scipy_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    blocks = topk._top_k_blocks

    def counted(*args: object, **kwargs: object) -> tuple[np.ndarray, np.ndarray]:
        calls.append(1)
        return blocks(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(topk, "_top_k_blocks", counted)
    q, a = random_pair(6)
    a.data[::5] *= -1  # a negative weight can cancel a sum back to zero
    assert_matches(sparse_top_k(q, a, 6, use_kernel=True), brute_force(q, a, 6))
    assert calls
