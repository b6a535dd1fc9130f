"""Text normalisation and word segmentation for matching, with an on-disk token cache.

Text is folded (NFKC full/half width, lower case, traditional → simplified when it holds
traditional-only characters), split into Han runs and other words, and the Han runs are
segmented by jieba in precise mode with the bundled technology dictionary and any user
dictionaries. Synonyms map onto their group's first word; stop words and numbers are dropped.
rjieba (jieba-rs) is used instead of jieba when installed: it is given exactly the same
dictionary entries and yields the same tokens (``tests/test_match_tokenize.py`` checks this on
the benchmark text), about 20x faster. Counting tokens and character n-grams is
``fuzhi.match.terms``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fuzhi.errors import InputError
from fuzhi.match.segmenter import DictEntry, Engine, build_segmenter
from fuzhi.match.token_cache import TokenCache, default_cache_dir

_HAN = "\u3400-\u4dbf\u4e00-\u9fff"
_HAN_RUN = re.compile(rf"[{_HAN}]+")
# A word of letters/digits that may hold inner '-' or '.' (il-6, gc-ms, 3.5).
_WORD = re.compile(rf"[^\W_{_HAN}]+(?:[-.][^\W_{_HAN}]+)*")
_NUMBER = re.compile(r"^[\d.\-]+$")
_FOLD_BATCH = 50_000
# Segmentation (``Tokenizer._segment_batch``): each word becomes this character, which
# both engines cut off as a token of its own; anything else neither Han nor a word becomes
# a space, and texts are joined by newlines. Spaces and newlines split what jieba and
# jieba-rs segment, so every Han run is cut exactly as when it is segmented alone.
_SLOT = "\x00"
_GAP = re.compile(rf"[^{_HAN}{_SLOT}\n]+")  # texts' own newlines are spaces by then
_SEGMENT_BATCH = 1_000_000  # characters per segmenter call: bounds the tokens held at once
# Bumped whenever the segmentation rules in this module change, so cached tokens are rebuilt.
_RULES_VERSION = "1"


def bundled_path(name: str) -> Path:
    """Path of a file shipped in ``fuzhi/data``."""
    return Path(str(resources.files("fuzhi") / "data" / name))


@cache
def _traditional_only() -> frozenset[str]:
    """Characters that are traditional forms and never simplified ones (the t2s gate)."""
    import opencc

    folder = Path(opencc.__file__).parent / "dictionary"
    trad: set[str] = set()
    simp: set[str] = set()
    for line in (folder / "TSCharacters.txt").read_text("utf-8").splitlines():
        key, _, values = line.partition("\t")
        targets = values.split()
        if len(key) == 1 and targets and targets[0] != key:
            trad.add(key)
            simp.update(targets)
    for line in (folder / "STCharacters.txt").read_text("utf-8").splitlines():
        simp.add(line.partition("\t")[0])
    return frozenset(trad - simp)


@cache
def _t2s() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def normalize_text(text: str, *, to_simplified: bool = True) -> str:
    """NFKC (full → half width), lower case, and traditional → simplified if needed.

    Conversion runs only on text holding a traditional-only character: simplified text (the
    common case) passes a set test instead of the slow pure-Python converter.
    """
    folded = unicodedata.normalize("NFKC", text).lower()
    if to_simplified and not _traditional_only().isdisjoint(folded):
        folded = str(_t2s().convert(folded))
    return folded


@cache
def _traditional_table() -> np.ndarray:
    """A flag per code point: is it a traditional-only character."""
    table = np.zeros(0x110000, dtype=bool)
    table[[ord(c) for c in _traditional_only()]] = True
    return table


def _holding_traditional(texts: Sequence[str]) -> list[int]:
    """Indices of the texts that hold a traditional-only character (one NumPy pass)."""
    if not texts:
        return []
    joined = "\n".join(texts).encode("utf-32-le", "surrogatepass")
    hits = np.flatnonzero(_traditional_table()[np.frombuffer(joined, dtype=np.uint32)])
    if not hits.size:
        return []
    starts = np.cumsum([0] + [len(t) + 1 for t in texts[:-1]])
    return [int(i) for i in np.unique(np.searchsorted(starts, hits, side="right") - 1)]


@dataclass(frozen=True)
class TokenizerConfig:
    """Which dictionaries, synonyms and stop words segmentation uses."""

    user_dicts: tuple[Path, ...] = ()
    synonyms: tuple[Path, ...] = ()
    stopwords: tuple[Path, ...] = ()
    bundled_dict: bool = True
    bundled_synonyms: bool = True
    bundled_stopwords: bool = True
    to_simplified: bool = True
    drop_numbers: bool = True


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{path}: cannot read dictionary file ({exc}); expected UTF-8 text"
        ) from exc
    return [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")]


def read_dictionary(path: Path) -> list[DictEntry]:
    """Entries of a jieba-format dictionary: ``word [freq] [tag]`` per line."""
    entries: list[DictEntry] = []
    for n, line in enumerate(_read_lines(path), 1):
        parts = line.split()
        freq: int | None = None
        tag: str | None = None
        if len(parts) > 1:
            if not parts[1].isdigit():
                raise InputError(f"{path}, line {n}: frequency {parts[1]!r} is not a whole number")
            freq = int(parts[1])
        if len(parts) > 2:
            tag = parts[2]
        entries.append((normalize_text(parts[0]), freq, tag))
    return entries


def read_synonyms(path: Path) -> list[list[str]]:
    """Synonym groups: one per line, comma-separated (ASCII or Chinese comma), canonical first."""
    groups = []
    for line in _read_lines(path):
        words = [normalize_text(w.strip()) for w in re.split(r"[,，]", line) if w.strip()]
        if len(words) > 1:
            groups.append(words)
    return groups


def read_stopwords(path: Path) -> set[str]:
    """Stop words: whitespace separated, ``#`` starts a comment line."""
    return {normalize_text(w) for line in _read_lines(path) for w in line.split()}


class Tokenizer:
    """Segments text into matching tokens; ``version`` changes whenever any dictionary does."""

    def __init__(
        self,
        config: TokenizerConfig = TokenizerConfig(),
        *,
        cache_dir: Path | None = None,
        engine: Engine = "auto",
    ) -> None:
        self.config = config
        self.cache_dir = cache_dir if cache_dir is not None else default_cache_dir()
        self.engine = engine
        dict_files = [
            *([bundled_path("tech_dict.txt")] if config.bundled_dict else []),
            *config.user_dicts,
        ]
        syn_files = [
            *([bundled_path("synonyms.txt")] if config.bundled_synonyms else []),
            *config.synonyms,
        ]
        stop_files = [
            *([bundled_path("stopwords.txt")] if config.bundled_stopwords else []),
            *config.stopwords,
        ]
        self.entries: list[DictEntry] = [e for p in dict_files for e in read_dictionary(p)]
        self.canonical: dict[str, str] = {}
        for group in (g for p in syn_files for g in read_synonyms(p)):
            for word in group:
                self.canonical.setdefault(word, group[0])
                if _HAN_RUN.fullmatch(word):
                    self.entries.append((word, None, None))
        self.stopwords: frozenset[str] = frozenset(w for p in stop_files for w in read_stopwords(p))
        digest = hashlib.blake2b(digest_size=16)
        for item in (
            _RULES_VERSION,
            repr(config.to_simplified),
            repr(config.drop_numbers),
            repr(self.entries),
            repr(sorted(self.canonical.items())),
            repr(sorted(self.stopwords)),
        ):
            digest.update(item.encode())
            digest.update(b"\0")
        self.version = digest.hexdigest()
        self._segment: Callable[[str], list[str]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the loaded segmenter (worker processes build their own)."""
        return {**self.__dict__, "_segment": None}

    def segmenter(self) -> Callable[[str], list[str]]:
        """The loaded segmenter (built on first use, ~0.3 s)."""
        if self._segment is None:
            self._segment = build_segmenter(self.entries, self.cache_dir, self.engine)
        return self._segment

    def tokenize(self, text: str) -> list[str]:
        """Tokens of one text, in order, stop words and numbers removed (no token cache)."""
        tokens = self._segment_many([self.fold(text)]).joined()[0]
        return tokens.split(" ") if tokens else []

    def fold(self, text: str) -> str:
        """The normalised text that tokens are cut from."""
        return normalize_text(text, to_simplified=self.config.to_simplified) if text else ""

    def fold_many(self, texts: Sequence[str]) -> list[str]:
        """``fold`` of many texts; the traditional-character test runs once over all of them."""
        folded = [unicodedata.normalize("NFKC", t).lower() if t else "" for t in texts]
        if self.config.to_simplified:
            for lo in range(0, len(folded), _FOLD_BATCH):
                for i in _holding_traditional(folded[lo : lo + _FOLD_BATCH]):
                    folded[lo + i] = str(_t2s().convert(folded[lo + i]))
        return folded

    def tokenize_many(self, texts: Sequence[str]) -> list[list[str]]:
        """Tokens of many texts: one token cache read, and only the texts missing from it
        are segmented, then stored."""
        found, fresh = self.tokens(self.fold_many(texts))
        store_tokens(self.cache_dir / "tokens.sqlite", [fresh])
        return [s.split(" ") if s else [] for s in found.joined()]

    def tokens(self, folded: Sequence[str]) -> tuple[Segmented, TokenBatch]:
        """The tokens of folded texts (``Segmented``, in order): the token cache's where it
        has them, else segmented here (each distinct text once); and those segmented
        afresh, for the caller to store with ``store_tokens`` (``fuzhi.match.terms`` has a
        worker store them while the run goes on)."""
        cache = TokenCache(self.cache_dir / "tokens.sqlite")
        keys = [self._key(f) for f in folded]
        found = cache.get_many(keys)
        cache.close()
        todo: dict[bytes, str] = {}  # each text once
        for key, text in zip(keys, folded, strict=True):
            if text and key not in found:
                todo.setdefault(key, text)
        fresh = self._segment_many(list(todo.values()))
        batch = (list(todo), fresh)
        if len(todo) == len(folded):  # all new and different: nothing to merge
            return fresh, batch
        row = {key: i for i, key in enumerate(todo)}
        new = [i for i, (k, f) in enumerate(zip(keys, folded, strict=True)) if f and k in row]
        known = [i for i, (k, f) in enumerate(zip(keys, folded, strict=True)) if f and k in found]
        parts = [(fresh.take([row[keys[i]] for i in new]), new)]
        if known:
            parts.append((Segmented.of_joined([found[keys[i]] for i in known]), known))
        return Segmented.merge(parts, len(folded)), batch

    def _key(self, folded: str) -> bytes:
        return hashlib.blake2b(f"{self.version}\0{folded}".encode(), digest_size=16).digest()

    def _segment_many(self, folded: list[str]) -> Segmented:
        """The tokens of folded texts: every Han run segmented (precise mode) as when it is
        segmented alone, words of letters and digits kept whole, synonyms mapped onto their
        group's first word, stop words and numbers dropped; in order.

        Many texts at once: one segmenter call per batch of texts, synonyms, stop words and
        numbers resolved once per distinct token instead of once per token, and the tokens
        kept as codes, which counting reads as they are (no text is joined until stored).
        Counting the 8,000 texts of 2,000 benchmark achievements so takes 0.25 s, against
        0.32 s segmenting a Han run at a time. ``tests/test_match_tokenize.py`` checks the
        tokens against that plain reference."""
        parts: list[tuple[Segmented, list[int]]] = []
        lo = 0
        while lo < len(folded):
            hi, size = lo, 0
            while hi < len(folded) and (hi == lo or size + len(folded[hi]) <= _SEGMENT_BATCH):
                size += len(folded[hi]) + 1
                hi += 1
            parts.append((self._segment_batch(folded[lo:hi]), list(range(lo, hi))))
            lo = hi
        if len(parts) == 1:
            return parts[0][0]
        return Segmented.merge(parts, len(folded))

    def _segment_batch(self, folded: list[str]) -> Segmented:
        joined = "\n".join(f.replace("\n", " ") for f in folded)  # one regex pass each
        words = _WORD.findall(joined)  # (a word never spans a newline)
        masked = _GAP.sub(" ", _WORD.sub(_SLOT, joined.replace(_SLOT, " ")))
        codes, distinct = pd.factorize(_objects(self.segmenter()(masked + "\n")))
        vocabulary = distinct.tolist()
        marks = {token: i for i, token in enumerate(vocabulary) if token in (_SLOT, "\n")}
        slots = np.flatnonzero(codes == marks.get(_SLOT, -1))
        if len(slots) != len(words):  # both engines cut each mask off on its own
            raise RuntimeError(f"segmenter merged masked words ({len(slots)} ≠ {len(words)})")
        if words:  # the slots take the words, in order
            word_codes, word_vocabulary = pd.factorize(_objects(words))
            codes[slots] = len(vocabulary) + word_codes
            vocabulary += word_vocabulary.tolist()
        canonical, stop, numbers = self.canonical, self.stopwords, self.config.drop_numbers
        word_of: dict[str, int] = {}  # a kept token's word (synonyms share one)
        column = np.full(len(vocabulary), -1, dtype=np.int32)
        for i, token in enumerate(vocabulary):
            if token != _SLOT and not token.isspace():
                word = canonical.get(token, token)
                if word not in stop and not (numbers and _NUMBER.match(word)):
                    column[i] = word_of.setdefault(word, len(word_of))
        ends = np.flatnonzero(codes == marks["\n"])  # one per text
        mapped = column[codes]
        kept = np.flatnonzero(mapped >= 0)
        counts = np.diff(np.searchsorted(kept, ends), prepend=0)
        return Segmented(list(word_of), mapped[kept], counts)


@dataclass(frozen=True)
class Segmented:
    """The tokens of several texts, flat: each token a code into ``words`` (distinct), in
    text order, and how many tokens each text has."""

    words: list[str]
    codes: np.ndarray  # int32, one per token
    counts: np.ndarray  # int64, one per text

    def joined(self) -> list[str]:
        """Each text's tokens joined by spaces."""
        flat = _objects(self.words)[self.codes].tolist()
        bounds = np.concatenate([[0], np.cumsum(self.counts)]).tolist()
        return [" ".join(flat[a:b]) for a, b in pairwise(bounds)]

    def text_of_tokens(self) -> np.ndarray:
        """The text each token belongs to."""
        return np.repeat(np.arange(len(self.counts)), self.counts)

    @classmethod
    def of_joined(cls, joined: list[str]) -> Segmented:
        """From each text's tokens joined by spaces (the token cache's form)."""
        counts = np.fromiter((s.count(" ") + 1 if s else 0 for s in joined), np.int64, len(joined))
        flat = " ".join([s for s in joined if s]).split(" ") if counts.any() else []
        codes, words = pd.factorize(_objects(flat))
        return cls(words.tolist(), codes.astype(np.int32), counts)

    def take(self, texts: Sequence[int]) -> Segmented:
        """The tokens of the given texts (by index; repeats allowed), in that order."""
        at = np.asarray(texts, dtype=np.int64)
        starts = (np.cumsum(self.counts) - self.counts)[at]
        counts = self.counts[at]
        shift = np.repeat(starts - (np.cumsum(counts) - counts), counts)
        return Segmented(self.words, self.codes[shift + np.arange(int(counts.sum()))], counts)

    @classmethod
    def merge(cls, parts: Sequence[tuple[Segmented, Sequence[int]]], n_texts: int) -> Segmented:
        """One ``Segmented`` of ``n_texts`` texts from parts, each with the places of its
        texts in increasing order (texts no part holds have no tokens)."""
        counts = np.zeros(n_texts, dtype=np.int64)
        if len(parts) == 1:  # no interleaving: the tokens are in text order already
            part, places = parts[0]
            counts[np.asarray(places, dtype=np.int64)] = part.counts
            return cls(part.words, part.codes, counts)
        codes, words = pd.factorize(_objects([w for part, _ in parts for w in part.words]))
        at = 0
        pieces, text_of = [], []
        for part, places in parts:
            pieces.append(codes[at : at + len(part.words)][part.codes])
            text_of.append(np.repeat(np.asarray(places, dtype=np.int64), part.counts))
            at += len(part.words)
        text = np.concatenate([np.zeros(0, np.int64), *text_of])
        order = np.argsort(text, kind="stable")  # each text's tokens together, in order
        flat = np.concatenate([np.zeros(0, np.int32), *pieces])[order]
        counts += np.bincount(text, minlength=n_texts)
        return cls(words.tolist(), flat.astype(np.int32), counts)


TokenBatch = tuple[list[bytes], Segmented]  # texts' keys and their tokens, to store


def store_tokens(path: Path, batches: Sequence[TokenBatch]) -> None:
    """Store batches of segmented texts in the token cache at ``path``."""
    items: dict[bytes, str] = {}
    for keys, segmented in batches:
        if keys:
            items.update(zip(keys, segmented.joined(), strict=True))
    if items:  # in one transaction: each page of the table is written once, not per batch
        cache = TokenCache(path)
        cache.put_many(items)
        cache.close()


def _objects(items: list[str]) -> np.ndarray:
    """A list of strings as a NumPy object array (never a fixed-width string array)."""
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array
