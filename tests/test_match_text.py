"""Text model: ranking, score range, shared terms, feedback, save/load, versions."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from fuzhi.errors import InputError
from fuzhi.match.text import TextModel, TextOptions, text_top_k

ACHIEVEMENTS = [
    {
        "title": "基于机器视觉的钢板表面缺陷检测系统",
        "description": "采用深度学习和机器视觉技术，实现钢板表面缺陷的在线检测，准确率99%。",
        "keywords": "机器视觉;缺陷检测;深度学习",
        "field": "先进制造与自动化",
    },
    {
        "title": "高性能碳纤维复合材料成型工艺",
        "description": "开发碳纤维复合材料热压成型工艺，降低成本，适用于汽车轻量化部件。",
        "keywords": "碳纤维复合材料;轻量化",
        "field": "新材料",
    },
    {
        "title": "智能灌溉水肥一体化系统",
        "description": "基于物联网传感器的土壤墒情监测与智能灌溉控制，节水40%。",
        "keywords": "智能灌溉;物联网;水肥一体化",
        "field": "资源与环境",
    },
    {
        "title": "印染废水深度处理陶瓷膜技术",
        "description": "采用新型陶瓷膜对印染废水进行深度处理，出水达到回用标准。",
        "keywords": "废水处理;陶瓷膜",
        "field": "资源与环境",
    },
    {"title": "", "description": ""},
]
DEMANDS = [
    {"title": "钢板表面缺陷自动检测", "description": "人工目检效率低，希望引进机器视觉检测技术。"},
    {"title": "印染废水回用", "description": "印染废水排放量大，需要深度处理实现中水回用。"},
    {"title": "果园节水灌溉", "description": "希望采用智能灌溉和水肥一体化技术。", "keywords": ""},
    {"title": "汽车轻量化部件", "keywords": "碳纤维"},
]
EXPECTED = [0, 3, 2, 1]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> TextModel:
    return TextModel.fit(ACHIEVEMENTS, DEMANDS, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize("feedback", [True, False])
def test_each_demand_finds_its_achievement(fitted: TextModel, feedback: bool) -> None:
    d, a = fitted.transform_demands(DEMANDS), fitted.transform_achievements(ACHIEVEMENTS)
    top = text_top_k(fitted, d, a, 3, feedback=feedback)
    assert top.indices[:, 0].tolist() == EXPECTED
    assert (top.scores <= 1.0 + 1e-6).all() and (top.scores >= 0).all()
    assert (np.diff(top.scores, axis=1) <= 1e-7).all()
    assert 4 not in top.indices  # the empty achievement matches nothing


def test_reverse_direction(fitted: TextModel) -> None:
    d, a = fitted.transform_demands(DEMANDS), fitted.transform_achievements(ACHIEVEMENTS)
    top = text_top_k(fitted, a, d, 1)
    assert [top.indices[i, 0] for i in EXPECTED] == [0, 1, 2, 3]
    assert top.indices[4, 0] == -1


def test_allowed_mask(fitted: TextModel) -> None:
    d, a = fitted.transform_demands(DEMANDS), fitted.transform_achievements(ACHIEVEMENTS)
    allowed = np.array([False, True, True, True, True])
    top = text_top_k(fitted, d, a, 2, allowed=allowed)
    assert 0 not in top.indices


def test_vectors_are_unit_or_empty(fitted: TextModel) -> None:
    norms = np.sqrt(
        fitted.transform_achievements(ACHIEVEMENTS)
        .matrix.multiply(fitted.transform_achievements(ACHIEVEMENTS).matrix)
        .sum(axis=1)
    ).A1
    np.testing.assert_allclose(norms, [1, 1, 1, 1, 0], atol=1e-5)


def test_vectors_weigh_each_row_alone_across_blocks(fitted: TextModel) -> None:
    """Rows are weighted a block of 4,096 at a time; every row, on either side of a block
    edge, gets what weighing it alone gives (1 + ln tf, IDF, each view normalised, joined)."""
    rng = np.random.default_rng(7)
    n_rows, n_words, n_cols = 9000, len(fitted.words), len(fitted.idf)
    tf = sp.random(n_rows, n_cols, density=0.05, format="csr", random_state=rng, dtype=np.float32)
    tf.data = rng.integers(1, 6, len(tf.data)).astype(np.float32)
    tf = sp.csr_matrix(sp.diags((np.arange(n_rows) >= 5).astype(np.float32)) @ tf)
    tf.eliminate_zeros()  # the first 5 rows empty
    got = fitted._vectors(tf)
    w = fitted.options.char_weight
    for i in [*range(6), 4095, 4096, 4097, 8191, 8192, n_rows - 1, *rng.integers(0, n_rows, 50)]:
        cols, data = tf[i].indices, tf[i].data
        weighted = (1 + np.log(data)) * fitted.idf[cols]
        want = np.zeros(n_cols)
        for part, share in ((cols < n_words, 1 - w), (cols >= n_words, w)):
            norm = np.linalg.norm(weighted[part])
            want[cols[part]] = weighted[part] / norm * np.sqrt(share) if norm else 0
        want /= max(np.linalg.norm(want), 1e-30)
        np.testing.assert_allclose(got[i].toarray().ravel(), want, rtol=1e-5, atol=1e-7)


def test_shared_terms_are_words(fitted: TextModel) -> None:
    d, a = fitted.transform_demands(DEMANDS), fitted.transform_achievements(ACHIEVEMENTS)
    terms = fitted.shared_terms(d, 0, a, 0, n=3)
    assert 1 <= len(terms) <= 3
    assert set(terms) <= {"钢板", "表面", "缺陷", "机器视觉", "检测", "技术", "引进"}
    assert "机器视觉" in terms or "缺陷" in terms
    assert fitted.shared_terms(d, 0, a, 1) == []


def test_fit_transform_gives_the_transform_vectors(fitted: TextModel, tmp_path: Path) -> None:
    model, a, d = TextModel.fit_transform(ACHIEVEMENTS, DEMANDS, cache_dir=tmp_path)
    assert model.version == fitted.version
    for got, want in (
        (a.matrix, fitted.transform_achievements(ACHIEVEMENTS).matrix),
        (d.matrix, fitted.transform_demands(DEMANDS).matrix),
    ):  # the very same entries in the same order, so every later sum is the same too
        for part in ("data", "indices", "indptr"):
            assert np.array_equal(getattr(got, part), getattr(want, part))


def test_character_view_holds_the_bigrams(fitted: TextModel) -> None:
    assert {"钢板", "表面", "缺陷", "机器", "器视", "汽车"} <= set(fitted.grams)
    assert fitted.grams == sorted(fitted.grams)
    assert all(1 <= len(g) <= 2 for g in fitted.grams)


def test_unknown_terms_are_ignored(fitted: TextModel) -> None:
    v = fitted.transform_demands([{"title": "缺陷 zzqx 鑫鑫"}, {"title": ""}]).matrix
    assert v[0].nnz > 0 and v[1].nnz == 0
    assert v.indices.max() < len(fitted.words) + len(fitted.grams)


def test_char_ngram_range_is_checked() -> None:
    with pytest.raises(ValueError, match="char_ngram"):
        TextOptions(char_ngram=5)


def test_deterministic_version_and_vectors(tmp_path: Path) -> None:
    one = TextModel.fit(ACHIEVEMENTS, DEMANDS, cache_dir=tmp_path)
    two = TextModel.fit(ACHIEVEMENTS, DEMANDS, cache_dir=tmp_path)
    assert one.version == two.version
    other = TextModel.fit(ACHIEVEMENTS, DEMANDS, TextOptions(char_ngram=0), cache_dir=tmp_path)
    assert other.version != one.version
    a1, a2 = one.transform_achievements(ACHIEVEMENTS), two.transform_achievements(ACHIEVEMENTS)
    assert (a1.matrix != a2.matrix).nnz == 0


def test_vectors_of_another_model_are_refused(fitted: TextModel, tmp_path: Path) -> None:
    other = TextModel.fit(ACHIEVEMENTS[:2], DEMANDS, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="another text model"):
        text_top_k(
            fitted, other.transform_demands(DEMANDS), fitted.transform_achievements(ACHIEVEMENTS), 1
        )


def test_save_load_round_trip(fitted: TextModel, tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    fitted.save(path)
    loaded = TextModel.load(path, cache_dir=tmp_path)
    assert loaded.version == fitted.version and loaded.options == fitted.options
    a1 = fitted.transform_achievements(ACHIEVEMENTS).matrix
    a2 = loaded.transform_achievements(ACHIEVEMENTS).matrix
    assert (a1 != a2).nnz == 0


def test_load_refuses_changed_dictionary_and_garbage(tmp_path: Path) -> None:
    user = tmp_path / "dict.txt"
    user.write_text("表面缺陷 100 n\n", encoding="utf-8")
    options = dataclasses.replace(TextOptions(), user_dicts=(user,))
    model = TextModel.fit(ACHIEVEMENTS, DEMANDS, options, cache_dir=tmp_path)
    model.save(tmp_path / "m.npz")
    user.write_text("表面缺陷检测 100 n\n", encoding="utf-8")
    with pytest.raises(InputError, match="fit it again"):
        TextModel.load(tmp_path / "m.npz", cache_dir=tmp_path)
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a fuzhi text model"):
        TextModel.load(tmp_path / "bad.npz")


def test_progress_reports(tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    TextModel.fit(ACHIEVEMENTS, DEMANDS, cache_dir=tmp_path, progress=lambda *a: seen.append(a))
    assert seen and seen[-1][1] == seen[-1][2]
