"""Count cache: warm runs give the very vectors of a cold or uncached run, changed documents
and dictionaries are counted again, a corrupt cache is survived, concurrent runs are safe."""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzhi.match import count_cache, terms
from fuzhi.match.text import TextModel, TextOptions
from fuzhi.match.tokenize import Tokenizer

PHRASES = [
    "基于机器视觉的钢板表面缺陷检测",
    "数字孪生工厂",
    "边缘计算网关",
    "碳纤维复合材料热压成型工艺",
    "智能灌溉水肥一体化",
    "印染废水深度处理陶瓷膜",
    "锂电池正极材料",
    "工业互联网平台",
    "AI 视觉 il-6 gc-ms 3.5",
    "電池管理系統",  # traditional: folded to simplified
    "本发明公开了一种",
    "深度学习",
    "",
]


def make_docs(n: int, seed: int, fields: tuple[str, ...]) -> list[dict[str, str]]:
    """Documents of random phrases; each description also holds 3 random Han characters,
    so every chunk of documents brings new terms."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        doc = {f: "".join(rng.choices(PHRASES, k=rng.randint(0, 4))) for f in fields}
        doc["description"] += "".join(chr(0x4E00 + rng.randrange(3000)) for _ in range(3))
        docs.append(doc)
    return docs


ACH_FIELDS = ("title", "description", "keywords", "field")
ACHIEVEMENTS = make_docs(60, 1, ACH_FIELDS)
ACHIEVEMENTS += ACHIEVEMENTS[:3]  # the same documents twice
DEMANDS = make_docs(25, 2, ("title", "description", "keywords"))
ODD = TextOptions(
    field_weights=(("title", 0.3), ("description", 1.7), ("keywords", 2.5), ("field", 1e-3)),
    char_ngram=3,
)


def fit(
    cache: Path,
    options: TextOptions | None = None,
    achievements: list[dict[str, str]] = ACHIEVEMENTS,
    demands: list[dict[str, str]] = DEMANDS,
) -> tuple[TextModel, sp.csr_matrix, sp.csr_matrix]:
    options = options or TextOptions()
    model, a, d = TextModel.fit_transform(achievements, demands, options, cache_dir=cache)
    return model, a.matrix, d.matrix


def assert_same(one: tuple, two: tuple) -> None:
    """Same model (vocabulary, IDF, version) and the same vectors, array for array."""
    assert one[0].version == two[0].version
    assert one[0].words == two[0].words and one[0].grams == two[0].grams
    for x, y in zip(one[1:], two[1:], strict=True):
        for part in ("data", "indices", "indptr"):
            assert np.array_equal(getattr(x, part), getattr(y, part)), part


def record_folding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts folded from now on (only texts that are counted are folded)."""
    folded: list[str] = []
    fold_many = Tokenizer.fold_many

    def recording(self: Tokenizer, texts: list[str]) -> list[str]:
        folded.extend(texts)
        return fold_many(self, texts)

    monkeypatch.setattr(Tokenizer, "fold_many", recording)
    return folded


@pytest.mark.parametrize("options", [TextOptions(), ODD], ids=["defaults", "odd-weights"])
def test_warm_run_gives_the_cold_vectors(
    tmp_path: Path, options: TextOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    cold = fit(tmp_path / "cache", options)
    (tmp_path / "off" / "counts.sqlite").mkdir(parents=True)  # cannot be opened: cache off
    assert_same(fit(tmp_path / "off", options), cold)
    folded = record_folding(monkeypatch)
    warm = fit(tmp_path / "cache", options)
    assert folded == []  # nothing folded, segmented or counted
    assert_same(warm, cold)
    assert warm[1].has_sorted_indices and warm[2].has_sorted_indices


def test_transform_reads_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, a, d = fit(tmp_path)
    folded = record_folding(monkeypatch)
    for got, want in (
        (model.transform_achievements(ACHIEVEMENTS).matrix, a),
        (model.transform_demands(DEMANDS).matrix, d),
    ):
        for part in ("data", "indices", "indptr"):
            assert np.array_equal(getattr(got, part), getattr(want, part))
    assert folded == []


def test_changed_document_is_counted_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fit(tmp_path / "cache")
    changed = [dict(doc) for doc in ACHIEVEMENTS]
    changed[7]["description"] = "全新的氢燃料电池电堆技术"
    folded = record_folding(monkeypatch)
    warm = fit(tmp_path / "cache", achievements=changed)
    assert folded == [changed[7][f] for f in ACH_FIELDS]  # that document only
    assert "氢燃料" in warm[0].words or "电堆" in warm[0].words
    assert_same(warm, fit(tmp_path / "fresh", achievements=changed))


def test_changed_dictionary_counts_everything_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tmp_path / "dict.txt"
    user.write_text("孪生工厂 1000 n\n", encoding="utf-8")
    options = TextOptions(user_dicts=(user,))
    before = fit(tmp_path / "cache", options)
    user.write_text("字孪生 100000 n\n", encoding="utf-8")
    folded = record_folding(monkeypatch)
    after = fit(tmp_path / "cache", options)
    distinct = {tuple(doc.values()) for doc in ACHIEVEMENTS}, {tuple(d.values()) for d in DEMANDS}
    assert len(folded) == 4 * len(distinct[0]) + 3 * len(distinct[1])  # every document
    assert "孪生工厂" in before[0].words and "孪生工厂" not in after[0].words
    assert "字孪生" in after[0].words
    monkeypatch.undo()
    assert_same(after, fit(tmp_path / "fresh", options))


def test_corrupt_cache_file_is_survived(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    reference = fit(tmp_path / "fresh")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "counts.sqlite").write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.WARNING, logger="fuzhi.match.count_cache"):
        assert_same(fit(tmp_path / "cache"), reference)
    assert "count cache" in caplog.text and "not used" in caplog.text


def test_bad_rows_are_counted_again_and_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = fit(tmp_path / "cache")
    with sqlite3.connect(tmp_path / "cache" / "counts.sqlite") as db:
        keys = [k for (k,) in db.execute("SELECT key FROM docs ORDER BY key")]
        db.execute("UPDATE docs SET ids = substr(ids, 2) WHERE key = ?", (keys[0],))
        db.execute("UPDATE docs SET n = n + 1 WHERE key = ?", (keys[1],))
        db.execute("DELETE FROM terms WHERE id IN (SELECT id FROM terms LIMIT 5)")
        db.execute("UPDATE terms SET term = x'00ff' WHERE id = (SELECT max(id) FROM terms)")
    db.close()
    with caplog.at_level(logging.WARNING, logger="fuzhi.match.terms"):
        assert_same(fit(tmp_path / "cache"), reference)
    assert "unknown terms" in caplog.text
    folded = record_folding(monkeypatch)
    assert_same(fit(tmp_path / "cache"), reference)
    assert folded == []  # the rows were replaced: all warm now


def test_term_table_failing_on_a_warm_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    reference = fit(tmp_path / "cache")

    def failing(self: count_cache.CountCache, ids: np.ndarray) -> list:
        self.disable(sqlite3.OperationalError("disk I/O error"))
        return []

    monkeypatch.setattr(count_cache.CountCache, "terms", failing)
    with caplog.at_level(logging.WARNING, logger="fuzhi.match.count_cache"):
        assert_same(fit(tmp_path / "cache"), reference)  # all counted again, in memory
    assert "disk I/O error" in caplog.text


def test_cache_failing_when_storing_still_gives_the_vectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    reference = fit(tmp_path / "fresh")
    monkeypatch.setattr(terms, "_CHUNK_DOCS", 16)
    calls = []

    def failing(
        self: count_cache.CountCache, words: list[str], codes: np.ndarray
    ) -> tuple[np.ndarray, ...] | None:
        calls.append(len(words) + len(codes))
        self.disable(sqlite3.OperationalError("database is locked"))
        return None

    monkeypatch.setattr(count_cache.CountCache, "add_terms", failing)
    with caplog.at_level(logging.WARNING, logger="fuzhi.match.count_cache"):
        assert_same(fit(tmp_path / "cache"), reference)
    assert len(calls) == 1 and "database is locked" in caplog.text  # new terms: added once
    with sqlite3.connect(tmp_path / "cache" / "counts.sqlite") as db:
        assert db.execute("SELECT count(*) FROM docs").fetchone() == (0,)  # nothing stored
    db.close()


def test_cache_failing_mid_count_still_gives_the_vectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A partly warm run looks up the table's ids of the terms it meets, a chunk at a time;
    the cache failing between two chunks leaves the rest numbered for this run alone."""
    reference = fit(tmp_path / "fresh")
    fit(tmp_path / "cache", achievements=ACHIEVEMENTS[:30], demands=DEMANDS[:10])
    monkeypatch.setattr(terms, "_CHUNK_DOCS", 8)
    select_in = count_cache.CountCache.select_in
    calls = []

    def failing(self: count_cache.CountCache, sql: str, values: object) -> list:
        calls.append(sql)
        if len(calls) == 3:  # the rows, the first chunk's terms, then this
            self.disable(sqlite3.OperationalError("database is locked"))
            return []
        return select_in(self, sql, values)

    monkeypatch.setattr(count_cache.CountCache, "select_in", failing)
    with caplog.at_level(logging.WARNING, logger="fuzhi.match.count_cache"):
        assert_same(fit(tmp_path / "cache"), reference)
    assert len(calls) >= 3 and "FROM terms WHERE term IN" in calls[1]
    assert "database is locked" in caplog.text  # then the stored rows are counted again
    monkeypatch.undo()
    with sqlite3.connect(tmp_path / "cache" / "counts.sqlite") as db:
        assert db.execute("SELECT count(*) FROM docs").fetchone() == (40,)  # the first run's
    db.close()
    caplog.clear()
    folded = record_folding(monkeypatch)
    with caplog.at_level(logging.WARNING):
        assert_same(fit(tmp_path / "cache"), reference)  # then stored, and right
    assert folded and not caplog.records


_WRITER = """
import json, sys, time
from pathlib import Path
import numpy as np
from fuzhi.match import count_cache
from fuzhi.match.text import TextModel

cache, me, docs = Path(sys.argv[1]), sys.argv[2], json.loads(Path(sys.argv[3]).read_text())
add_terms = count_cache.CountCache.add_terms

def at_once(self, *terms):  # both runs reach their first write, then write together
    (cache / f"ready-{me}").touch()
    while len(list(cache.glob("ready-*"))) < 2:
        time.sleep(0.005)
    return add_terms(self, *terms)

count_cache.CountCache.add_terms = at_once
model, a, d = TextModel.fit_transform(docs["a"], docs["d"], cache_dir=cache)
np.savez(sys.argv[4], a_data=a.matrix.data, a_indices=a.matrix.indices,
         a_indptr=a.matrix.indptr, d_data=d.matrix.data, d_indices=d.matrix.indices,
         d_indptr=d.matrix.indptr, version=np.array(model.version))
"""


def test_two_processes_writing_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(_WRITER), encoding="utf-8")
    runs = {"one": (ACHIEVEMENTS[:40], DEMANDS[:15]), "two": (ACHIEVEMENTS[20:], DEMANDS[5:])}
    procs = []
    for me, (a, d) in runs.items():
        (tmp_path / f"{me}.json").write_text(json.dumps({"a": a, "d": d}), encoding="utf-8")
        args = [str(cache), me, str(tmp_path / f"{me}.json"), str(tmp_path / f"{me}.npz")]
        procs.append(subprocess.Popen([sys.executable, str(script), *args]))
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    for me, (a, d) in runs.items():
        want = fit(tmp_path / f"fresh-{me}", achievements=a, demands=d)
        with np.load(tmp_path / f"{me}.npz") as got:
            assert str(got["version"]) == want[0].version
            for side, matrix in (("a", want[1]), ("d", want[2])):
                for part in ("data", "indices", "indptr"):
                    assert np.array_equal(got[f"{side}_{part}"], getattr(matrix, part))
    with sqlite3.connect(cache / "counts.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        n, distinct = db.execute("SELECT count(*), count(DISTINCT term) FROM terms").fetchone()
        assert n == distinct
    db.close()
    reference = fit(tmp_path / "fresh")
    folded = record_folding(monkeypatch)
    with caplog.at_level(logging.WARNING):
        assert_same(fit(cache), reference)  # the two runs together stored every document
    assert folded == [] and not caplog.records


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.integers(0, 2**32 - 1),
                st.one_of(
                    st.integers(0, 255).map(float),
                    st.integers(-2048, 2048).map(lambda i: i / 2),
                    st.floats(width=32, allow_nan=False),
                ),
            ),
            max_size=6,
        ),
        max_size=8,
    )
)
def test_rows_round_trip(docs: list[list[tuple[int, float]]]) -> None:
    ids = np.array([i for doc in docs for i, _ in doc], dtype=np.int64)
    weights = np.array([w for doc in docs for _, w in doc], dtype=np.float32)
    indptr = np.concatenate([[0], np.cumsum([len(doc) for doc in docs])]).astype(np.int64)
    rows = count_cache.encode_rows(ids, weights, indptr)
    assert all(count_cache.valid_row(r) for r in rows)
    got_ids, got_weights, got_indptr = count_cache.decode_rows(rows)
    assert np.array_equal(got_ids, ids) and np.array_equal(got_indptr, indptr)
    assert np.array_equal(got_weights, weights)
    assert got_weights.dtype == np.float32


def test_terms_another_run_adds_meanwhile_get_ids_of_their_own(tmp_path: Path) -> None:
    """This run numbers new terms past the table's largest id as it began; a term another
    run adds after that holds an id in the very range this run numbers in, so it is
    numbered like a new term (and mapped to the table's id when stored)."""
    path = tmp_path / "counts.sqlite"
    cache = count_cache.CountCache(path)
    cache.add_terms(["甲"], np.zeros(0, np.int64))
    ids = count_cache.TermIds(cache)  # the table's largest id: 1
    other = count_cache.CountCache(path)
    other.add_terms(["乙"], np.zeros(0, np.int64))  # another run: id 2
    other.close()
    got = ids.ids_of(["乙", "丙", "甲"], np.zeros(0, np.uint64))
    assert got.tolist()[2] == 1  # known when this run began: the table's id
    assert len(set(got.tolist())) == 3  # 乙 does not share an id with 丙
    pending = ids.pending()
    assert pending[0] == ["乙", "丙"]
    cache.close()


def _open_after(barrier: object, path: str, results: object) -> None:
    logging.disable(logging.CRITICAL)
    barrier.wait()  # type: ignore[attr-defined]
    cache = count_cache.CountCache(Path(path))
    results.put(cache.enabled)  # type: ignore[attr-defined]
    cache.close()


def test_two_runs_creating_the_cache_at_once_both_use_it(tmp_path: Path) -> None:
    """Switching a new file to WAL can find it locked without SQLite waiting (one open in
    six failed so, turning the cache off); the set-up is retried."""
    import multiprocessing

    context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
    opened = []
    for attempt in range(10):
        path = tmp_path / str(attempt) / "counts.sqlite"
        path.parent.mkdir()
        barrier, results = context.Barrier(2), context.Queue()
        runs = [
            context.Process(target=_open_after, args=(barrier, str(path), results))
            for _ in range(2)
        ]
        for run in runs:
            run.start()
        for run in runs:
            run.join(timeout=60)
        opened += [results.get(timeout=10), results.get(timeout=10)]
    assert opened == [True] * 20
