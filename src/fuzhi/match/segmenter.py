"""Word segmenters for ``fuzhi.match.tokenize``: jieba, or rjieba given the same dictionary.

rjieba (jieba-rs) is loaded with jieba's own ``dict.txt`` and the same frequencies for added
words, so both engines cut text identically (``tests/test_match_tokenize.py`` checks it on
the benchmark text); a segmenter is built once per process and set of dictionary entries.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Callable, Iterable
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal

Engine = Literal["auto", "jieba", "rjieba"]
DictEntry = tuple[str, int | None, str | None]


def _resolve_engine(engine: Engine) -> Literal["jieba", "rjieba"]:
    if engine != "auto":
        return engine
    if importlib.util.find_spec("rjieba") is None:
        return "jieba"
    try:
        _rjieba_class()
    except ImportError:  # installed but unusable (e.g. built for another platform)
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
    if engine == "jieba":
        import jieba

        jieba.setLogLevel(logging.WARNING)
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
    rj = _rjieba_class().empty()
    words, counts, tags = _jieba_dictionary()
    add = rj.add_word
    for word, freq, tag in zip(words, counts, tags, strict=True):
        add(word, freq, tag)
    freqs = dict(zip(words, counts, strict=True))
    total = sum(counts)
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
    return lambda text: rj.cut(text, True)


def _rjieba_class() -> Any:
    """rjieba's ``Jieba`` class. Its package ``__init__`` builds a default segmenter from
    jieba-rs's own dictionary (~0.1 s) that fuzhi never uses, so the compiled module is
    loaded on its own when the package is laid out as rjieba 0.2 ships it; otherwise (or
    once the package is imported anyway) the plain import is used."""
    if "rjieba" not in sys.modules and "rjieba.rjieba" not in sys.modules:
        try:
            spec = importlib.util.find_spec("rjieba")
            folder = Path(next(iter(spec.submodule_search_locations or ()))) if spec else None
            found = (
                sorted(folder.glob("rjieba.*.so")) + sorted(folder.glob("rjieba.*.pyd"))
                if folder
                else []
            )
            ext = (
                importlib.util.spec_from_file_location("rjieba.rjieba", found[0]) if found else None
            )
            if ext is not None and ext.loader is not None:
                module = importlib.util.module_from_spec(ext)
                ext.loader.exec_module(module)
                sys.modules["rjieba.rjieba"] = module
        except (ImportError, OSError, StopIteration):
            pass
    if "rjieba.rjieba" in sys.modules and "rjieba" not in sys.modules:
        return sys.modules["rjieba.rjieba"].Jieba
    import rjieba

    return rjieba.Jieba


def _jieba_dict_path() -> Path:
    """jieba's ``dict.txt``, found without importing jieba (whose import loads
    ``pkg_resources``, ~0.1 s)."""
    spec = importlib.util.find_spec("jieba")
    if spec is not None and spec.origin:
        path = Path(spec.origin).with_name("dict.txt")
        if path.is_file():
            return path
    import jieba

    with jieba.get_dict_file() as f:
        return Path(f.name)


@cache
def _jieba_dictionary() -> tuple[list[str], list[int], list[str | None]]:
    """jieba's own ``dict.txt`` as words, frequencies and tags, read once per process."""
    text = _jieba_dict_path().read_bytes().decode("utf-8")
    fields = text.split()
    if len(fields) == 3 * (text.count("\n") + (not text.endswith("\n"))):
        # every line is "word freq tag" (as jieba ships it): slice instead of a loop
        return fields[0::3], list(map(int, fields[1::3])), list(fields[2::3])
    words, freqs, tags = [], [], []
    for line in text.splitlines():
        word, freq, *tag = line.split()
        words.append(word)
        freqs.append(int(freq))
        tags.append(tag[0] if tag else None)
    return words, freqs, tags
