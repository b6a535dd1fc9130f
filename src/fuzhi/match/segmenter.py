"""Word segmenters for ``fuzhi.match.tokenize``: jieba, or rjieba given the same dictionary.

rjieba (jieba-rs) is loaded with jieba's own ``dict.txt`` and the same frequencies for added
words, so both engines cut text identically (``tests/test_match_tokenize.py`` checks it on
the benchmark text); a segmenter is built once per process and set of dictionary entries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal

from fuzhi.io.readers import gc_paused

Engine = Literal["auto", "jieba", "rjieba"]
DictEntry = tuple[str, int | None, str | None]


def _resolve_engine(engine: Engine) -> Literal["jieba", "rjieba"]:
    if engine != "auto":
        return engine
    try:
        import rjieba  # noqa: F401
    except ImportError:
        return "jieba"
    return "rjieba"


def build_segmenter(
    entries: Iterable[DictEntry], cache_dir: Path, engine: Engine = "auto"
) -> Callable[[str], list[str]]:
    """A segmenter for ``entries``, shared by all tokenizers of this process that use them."""
    resolved = _resolve_engine(engine)
    return _segmenter_for(tuple(entries), cache_dir if resolved == "jieba" else None, resolved)


@lru_cache(maxsize=4)
def _segmenter_for(
    entries: tuple[DictEntry, ...], cache_dir: Path | None, engine: Engine
) -> Callable[[str], list[str]]:
    """A precise-mode segmenter (HMM on) loaded with jieba's dictionary plus ``entries``.

    rjieba is given jieba's own ``dict.txt`` (its bundled one differs in a few words), and
    entries without a frequency get jieba's ``suggest_freq`` rule, applied in order as
    ``jieba.load_userdict`` does; re-adding a known word replaces its frequency in both
    (jieba-rs semantics), so both engines segment identically.
    """
    import jieba

    jieba.setLogLevel(logging.WARNING)
    if engine == "jieba":
        assert cache_dir is not None
        cache_dir.mkdir(parents=True, exist_ok=True)
        jt: Any = jieba.Tokenizer()
        jt.tmp_dir = str(cache_dir)
        jt.cache_file = "jieba.cache"
        jt.initialize()
        for word, freq, tag in entries:
            if freq is None:
                freq = int(jt.suggest_freq(word, False))
            jt.total -= jt.FREQ.get(word, 0)  # replace, not add to, a known word (as jieba-rs)
            jt.add_word(word, freq, tag)
        return lambda text: list(jt.cut(text, HMM=True))
    import rjieba

    rj = rjieba.Jieba.empty()
    base = _jieba_dictionary()
    for word, freq, tag in base:
        rj.add_word(word, freq, tag)
    freqs = {word: freq for word, freq, _ in base}
    total = sum(freqs.values())
    for word, freq, tag in entries:
        if freq is None:  # jieba.Tokenizer.suggest_freq(word, tune=False)
            share = 1.0
            for seg in rj.cut(word, False):
                share *= freqs.get(seg, 1) / total
            freq = max(int(share * total) + 1, freqs.get(word, 1))
        rj.add_word(word, freq, tag)
        total += freq - freqs.get(word, 0)
        freqs[word] = freq
        for end in range(1, len(word)):
            freqs.setdefault(word[:end], 0)
    return lambda text: list(rj.cut(text, True))


@cache
def _jieba_dictionary() -> tuple[tuple[str, int, str | None], ...]:
    """jieba's own ``dict.txt`` as (word, freq, tag), read once per process."""
    import jieba

    with jieba.get_dict_file() as f:
        text = f.read().decode("utf-8")
    fields = text.split()
    if len(fields) == 3 * (text.count("\n") + (not text.endswith("\n"))):
        # every line is "word freq tag" (as jieba ships it): slice instead of a loop
        with gc_paused():  # 349k tuples, no cycles: collections would only slow this down
            return tuple(zip(fields[0::3], map(int, fields[1::3]), fields[2::3], strict=True))
    rows = []
    for line in text.splitlines():
        word, freq, *tag = line.split()
        rows.append((word, int(freq), tag[0] if tag else None))
    return tuple(rows)
