"""Tokenizer: dictionaries, synonyms, stop words, normalisation, token cache, rjieba identity."""

from __future__ import annotations

import importlib.util
import re
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzhi.errors import InputError
from fuzhi.match.segmenter import Engine
from fuzhi.match.token_cache import default_cache_dir
from fuzhi.match.tokenize import (
    Segmented,
    Tokenizer,
    TokenizerConfig,
    normalize_text,
    store_tokens,
)

BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench" / "csl-dev"


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("FUZHI_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Tokenizer:
    return Tokenizer(cache_dir=tmp_path_factory.mktemp("shared-cache"))


def test_cache_dir_follows_environment(cache_home: Path) -> None:
    assert default_cache_dir() == cache_home


@pytest.mark.parametrize("term", ["工业互联网", "数字孪生", "边缘计算", "碳纤维复合材料"])
def test_dictionary_terms_kept_whole(tokenizer: Tokenizer, term: str) -> None:
    assert term in tokenizer.tokenize(f"基于{term}的智能平台建设")


def test_without_bundled_dictionary_terms_split(tmp_path: Path) -> None:
    plain = Tokenizer(TokenizerConfig(bundled_dict=False), cache_dir=tmp_path)
    assert "碳纤维复合材料" not in plain.tokenize("碳纤维复合材料的制备")


def test_synonyms_unify(tokenizer: Tokenizer) -> None:
    assert tokenizer.tokenize("AI芯片") == tokenizer.tokenize("人工智能芯片")
    assert "锂离子电池" in tokenizer.tokenize("锂电池回收")


def test_user_synonyms_and_dictionary(tmp_path: Path) -> None:
    (tmp_path / "syn.txt").write_text("光伏,太阳能发电\n", encoding="utf-8")
    (tmp_path / "dict.txt").write_text("柔性钙钛矿\n", encoding="utf-8")
    tok = Tokenizer(
        TokenizerConfig(synonyms=(tmp_path / "syn.txt",), user_dicts=(tmp_path / "dict.txt",)),
        cache_dir=tmp_path,
    )
    assert tok.tokenize("太阳能发电系统") == tok.tokenize("光伏系统")
    assert "柔性钙钛矿" in tok.tokenize("柔性钙钛矿组件")


def test_stop_words_and_numbers_removed(tokenizer: Tokenizer) -> None:
    tokens = tokenizer.tokenize("本发明公开了一种用于 the 2023 年的方法，有限公司")
    assert not {"本发明", "一种", "的", "the", "2023", "有限公司", "方法", "，"} & set(tokens)
    assert "公开" in tokens


def test_normalisation(tokenizer: Tokenizer) -> None:
    assert normalize_text("ＡＢＣ１２３") == "abc123"
    assert normalize_text("數字孿生與邊緣計算") == "数字孪生与边缘计算"
    assert normalize_text("显著提高") == "显著提高"  # simplified text is left alone
    assert tokenizer.tokenize("數字孿生") == ["数字孪生"]
    assert "il-6" in tokenizer.tokenize("IL-6 水平")


def test_bad_dictionary_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "dict.txt").write_text("新词 many n\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 1"):
        Tokenizer(TokenizerConfig(user_dicts=(tmp_path / "dict.txt",)), cache_dir=tmp_path)


def test_cache_hit_skips_segmentation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = ["数字孪生工厂", "边缘计算网关", "", "数字孪生工厂"]
    first = Tokenizer(cache_dir=tmp_path).tokenize_many(texts)
    assert first[2] == [] and first[0] == first[3]

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("cache should have served every text")

    monkeypatch.setattr(Tokenizer, "_segment_batch", fail)
    assert Tokenizer(cache_dir=tmp_path).tokenize_many(texts) == first


def test_tokens_from_cache_and_fresh_keep_each_texts_order(tmp_path: Path) -> None:
    """A chunk mixes cached texts, new ones, repeats and empty ones: each text gets its own
    tokens, and each new text is segmented (and handed back to store) once."""
    tok = Tokenizer(cache_dir=tmp_path)
    texts = ["数字孪生工厂", "边缘计算网关", "", "数字孪生工厂", "AI芯片 il-6", "制造业", "制造业"]
    folded = tok.fold_many(texts)
    alone = [_alone(tok, f) for f in folded]
    first, batch = tok.tokens(folded[:2])
    assert first.joined() == alone[:2]
    store_tokens(tmp_path / "tokens.sqlite", [batch])  # now cached
    tokens, (keys, fresh) = tok.tokens(folded)
    assert tokens.joined() == alone
    assert len(keys) == 2 and fresh.joined() == [alone[4], alone[5]]
    assert tokens.text_of_tokens().tolist() == [
        i for i, joined in enumerate(alone) for _ in (joined.split(" ") if joined else [])
    ]
    store_tokens(tmp_path / "tokens.sqlite", [(keys, fresh)])
    again, (none, _) = tok.tokens(folded)
    assert none == [] and again.joined() == alone


def test_segmented_take_and_merge() -> None:
    seg = Segmented.of_joined(["a b", "", "c a", "d"])
    assert seg.take([2, 0, 2]).joined() == ["c a", "a b", "c a"]
    other = Segmented.of_joined(["x", "b y"])
    merged = Segmented.merge([(seg.take([0, 3]), [1, 4]), (other, [0, 2])], 6)
    assert merged.joined() == ["x", "a b", "b y", "", "d", ""]


def test_cache_invalidated_when_dictionary_changes(tmp_path: Path) -> None:
    user = tmp_path / "dict.txt"
    user.write_text("孪生工厂 1000 n\n", encoding="utf-8")
    config = TokenizerConfig(user_dicts=(user,))
    before = Tokenizer(config, cache_dir=tmp_path)
    old = before.tokenize_many(["智能孪生工厂"])
    user.write_text("智能孪生 100000 n\n", encoding="utf-8")
    after = Tokenizer(config, cache_dir=tmp_path)
    assert after.version != before.version
    new = after.tokenize_many(["智能孪生工厂"])
    assert "孪生工厂" in old[0] and "智能孪生" in new[0]


def test_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "tokens.sqlite").write_bytes(b"this is not a database" * 100)
    assert Tokenizer(cache_dir=tmp_path).tokenize_many(["边缘计算"]) == [["边缘计算"]]


def test_damaged_cache_row_is_segmented_again(tmp_path: Path) -> None:
    tok = Tokenizer(cache_dir=tmp_path)
    assert tok.tokenize_many(["边缘计算平台"]) == [["边缘计算", "平台"]]
    with sqlite3.connect(tmp_path / "tokens.sqlite") as db:
        db.execute("UPDATE tokens SET tokens = ?", (b"\xff\x00",))  # a blob, not text
    db.close()
    assert Tokenizer(cache_dir=tmp_path).tokenize_many(["边缘计算平台"]) == [["边缘计算", "平台"]]


def test_fold_many_is_fold(tokenizer: Tokenizer) -> None:
    texts = ["數位孿生 ＡＢＣ", "", "数字孪生", "臺灣 il-6", "Ｘ"] * 3
    assert tokenizer.fold_many(texts) == [tokenizer.fold(t) for t in texts]


@given(text=st.text(max_size=60))
@settings(max_examples=60, deadline=None)
def test_tokens_are_clean_for_any_text(tokenizer: Tokenizer, text: str) -> None:
    for token in tokenizer.tokenize(text):
        assert token and not any(c.isspace() for c in token)
        assert token not in tokenizer.stopwords


_AWKWARD = [
    "AI芯片 il-6水平\r\n3.5g",  # words next to Han, inner '-' and '.', a Windows line break
    "\x00数字\x00孪生\r",  # the character batches use for words, in the text itself
    "",
    "  \n\t",
    "，。、",
    "㐀㐁数字 孪生2023年ai",  # CJK extension A, outside jieba's own Han range
    "本发明公开了一种用于 the 2023 年的方法，有限公司",  # stop words and numbers
    "锂电池回收 ＡＩ 人工智能",  # synonyms, full width
    "x",
]


def _alone(tok: Tokenizer, folded: str) -> str:
    """The reference: a folded text's tokens, joined, with each Han run segmented by its
    own call and each word, synonym, stop word and number handled one token at a time."""
    segment = tok.segmenter()
    out: list[str] = []
    for match in _PIECES.finditer(folded):
        for word in segment(match.group()) if match.lastgroup == "han" else [match.group()]:
            word = tok.canonical.get(word, word)
            if word in tok.stopwords or (tok.config.drop_numbers and _NUMBER.match(word)):
                continue
            out.append(word)
    return " ".join(out)


_HAN = "\u3400-\u4dbf\u4e00-\u9fff"
_PIECES = re.compile(rf"(?P<han>[{_HAN}]+)|(?P<word>[^\W_{_HAN}]+(?:[-.][^\W_{_HAN}]+)*)")
_NUMBER = re.compile(r"^[\d.\-]+$")


@pytest.mark.parametrize("engine", ["jieba", "rjieba"])
def test_batch_segmenting_gives_each_texts_own_tokens(
    engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Many texts are segmented in one call with words masked out (``_segment_many``);
    each text must get exactly the tokens it gets alone, in order."""
    if engine == "rjieba" and importlib.util.find_spec("rjieba") is None:
        pytest.skip("rjieba not installed")
    tok = Tokenizer(cache_dir=tmp_path_factory.mktemp(engine), engine=engine)
    texts = list(_AWKWARD)
    if BENCH.exists():
        import pandas as pd

        a = pd.read_excel(BENCH / "achievements.xlsx", engine="calamine", dtype=str).fillna("")
        texts += [*a["成果名称"][:200], *a["成果简介"][:100], *a["关键词"][:200]]
    folded = tok.fold_many(texts)
    alone = [_alone(tok, f) for f in folded]
    assert tok._segment_many(folded).joined() == alone
    assert any(" " in joined for joined in alone)  # real texts, not only empty ones


@given(texts=st.lists(st.text(max_size=40), max_size=8))
@settings(max_examples=80, deadline=None)
def test_batch_segmenting_any_text(tokenizer: Tokenizer, texts: list[str]) -> None:
    folded = tokenizer.fold_many(texts)
    assert tokenizer._segment_many(folded).joined() == [_alone(tokenizer, f) for f in folded]
    assert [tokenizer.tokenize(t) for t in texts] == [
        a.split(" ") if a else [] for a in (_alone(tokenizer, f) for f in folded)
    ]


def test_batches_split_by_length(tokenizer: Tokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    import fuzhi.match.tokenize as module

    folded = tokenizer.fold_many(["数字孪生平台", "边缘计算 ai", "", "工业互联网"] * 5)
    whole = tokenizer._segment_many(folded).joined()
    monkeypatch.setattr(module, "_SEGMENT_BATCH", 8)  # a few texts per segmenter call
    calls: list[int] = []
    batch = Tokenizer._segment_batch

    def counted(self: Tokenizer, part: list[str]) -> Segmented:
        calls.append(len(part))
        return batch(self, part)

    monkeypatch.setattr(Tokenizer, "_segment_batch", counted)
    assert tokenizer._segment_many(folded).joined() == whole
    assert len(calls) > 3 and sum(calls) == len(folded)


@pytest.mark.skipif(importlib.util.find_spec("rjieba") is None, reason="rjieba not installed")
@pytest.mark.skipif(not BENCH.exists(), reason="csl-dev benchmark not present")
def test_rjieba_identical_to_jieba_on_benchmark(tmp_path: Path) -> None:
    import pandas as pd

    a = pd.read_excel(BENCH / "achievements.xlsx", engine="calamine", dtype=str).fillna("")
    d = pd.read_excel(BENCH / "demands.xlsx", engine="calamine", dtype=str).fillna("")
    texts = [*a["成果名称"], *a["成果简介"][:300], *a["关键词"], *d["需求描述"]]
    (tmp_path / "user.txt").write_text("心率变异性\n运动适应性 50 n\n", encoding="utf-8")
    config = TokenizerConfig(user_dicts=(tmp_path / "user.txt",))
    jieba_tok = Tokenizer(config, cache_dir=tmp_path, engine="jieba")
    rjieba_tok = Tokenizer(config, cache_dir=tmp_path, engine="rjieba")
    for text in texts:
        assert rjieba_tok.tokenize(text) == jieba_tok.tokenize(text), text


def test_token_cache_stores_every_batch_in_large_pages(tmp_path: Path) -> None:
    tok = Tokenizer(cache_dir=tmp_path)
    batches = [tok.tokens(tok.fold_many(texts))[1] for texts in (["数字孪生"], ["边缘计算", "ai"])]
    store_tokens(tmp_path / "tokens.sqlite", batches)
    with sqlite3.connect(tmp_path / "tokens.sqlite") as db:
        assert db.execute("PRAGMA page_size").fetchone() == (65536,)
        assert db.execute("SELECT count(*) FROM tokens").fetchone() == (3,)
    db.close()
