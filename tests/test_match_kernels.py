"""The compiled shared-terms kernel against a plain Python reference (ties, padding, order)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from fuzhi.match.kernels import shared_terms


def reference(
    d: sp.csr_matrix, a: sp.csr_matrix, pairs: list[tuple[int, int]], n_words: int, n: int
) -> list[list[int]]:
    dd, aa = d.toarray(), a.toarray()
    out = []
    for i, j in pairs:
        products = [(dd[i, c] * aa[j, c], c) for c in range(n_words) if dd[i, c] * aa[j, c] > 0]
        out.append([c for _, c in sorted(products, key=lambda pc: (-pc[0], pc[1]))[:n]])
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_shared_terms_match_reference(seed: int, ties: bool) -> None:
    rng = np.random.default_rng(seed)
    d = sp.random(30, 40, density=0.3, random_state=rng, format="csr", dtype=np.float32)
    a = sp.random(50, 40, density=0.3, random_state=rng, format="csr", dtype=np.float32)
    if ties:
        d.data = rng.integers(1, 3, len(d.data)).astype(np.float32)
        a.data = rng.integers(1, 3, len(a.data)).astype(np.float32)
    # grouped by demand (as the engine passes them) and then shuffled
    grouped = [(i, j) for i in range(30) for j in rng.choice(50, 6, replace=False)]
    shuffled = [grouped[i] for i in rng.permutation(len(grouped))]
    for pairs in (grouped, shuffled):
        cols = shared_terms(
            d, a, np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]), 30, 4
        )
        expected = reference(d, a, pairs, 30, 4)
        assert cols.shape == (len(pairs), 4)
        for row, want in zip(cols.tolist(), expected, strict=True):
            assert row == want + [-1] * (4 - len(want))


def test_shared_terms_of_no_pairs() -> None:
    m = sp.csr_matrix(np.ones((2, 3), dtype=np.float32))
    assert shared_terms(m, m, np.zeros(0), np.zeros(0), 3, 5).shape == (0, 5)


def test_ctrl_c_during_compiled_code_arrives_after_it() -> None:
    """An interrupt reaching a Numba call would surface as a SystemError; it is held and
    raised as a KeyboardInterrupt once the call is over."""
    import signal

    from fuzhi.match.kernels import interrupts_held

    reached_end = False
    with pytest.raises(KeyboardInterrupt), interrupts_held():
        signal.raise_signal(signal.SIGINT)
        for _ in range(1000):  # bytecode runs on: nothing raised in the block
            pass
        reached_end = True
    assert reached_end
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    with interrupts_held():  # no interrupt, nothing raised
        pass
