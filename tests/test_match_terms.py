"""Term counts: character n-gram codes and their strings."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fuzhi.match import terms
from fuzhi.match.tokenize import Tokenizer


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_char_ngram_codes(n: int) -> None:
    texts = ["数字孪生, ai 边缘", "云", "", "abc", "云,数字孪生平台x机器"]
    codes, text = terms.char_ngram_codes(texts, n)
    expected = [
        (i, run[j : j + n])
        for i, t in enumerate(texts)
        for run in re.findall("[\u3400-\u4dbf\u4e00-\u9fff]+", t)
        for j in range(max(1, len(run) - n + 1))
    ]
    grams = terms.ngram_strings(codes, n)
    assert list(zip(text.tolist(), grams, strict=True)) == expected
    assert (terms.ngram_codes(grams, n) == codes).all()
    assert [grams[i] for i in np.argsort(codes, kind="stable")] == sorted(grams)


def test_counts_in_their_own_sorted_vocabulary(tmp_path: Path) -> None:
    docs = [
        {"title": "数字孪生平台", "description": "边缘计算 ai 平台"},
        {"title": "碳纤维复合材料", "description": ""},
    ]
    weights = (("title", 2.0), ("description", 1.0))
    counts = terms.count_terms(Tokenizer(cache_dir=tmp_path), [(docs, weights)], 2, None)
    words, grams, tf = counts.words, counts.grams, counts.matrix
    assert words == sorted(words)
    assert (grams[1:] > grams[:-1]).all()
    assert tf.shape == (2, len(words) + len(grams))
    assert tf.has_sorted_indices  # each row's terms in vocabulary order
    assert tf[0, words.index("数字孪生")] == 2.0
    assert tf[0, words.index("平台")] == 3.0
    assert tf[1, words.index("碳纤维复合材料")] == 2.0
    assert (counts.onto(pd.Index(words), grams) != tf).nnz == 0
    fewer = counts.onto(pd.Index(["平台", "边缘计算"]), grams[:1])
    assert fewer.shape == (2, 3)
    assert fewer.toarray()[0, :2].tolist() == [3.0, 1.0]
