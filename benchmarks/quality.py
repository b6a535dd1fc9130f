"""Ranking quality of fuzhi's text model on csl-dev against TF-IDF and BM25 baselines.

    python benchmarks/quality.py [DATA_DIR] [--ablation]

DATA_DIR defaults to ../shared/bench/csl-dev relative to the repository root. Metrics are
those of the data set's README: R@1, R@10, MRR@10 and graded nDCG@10 over the demands in
gold.csv. ``--ablation`` also scores the default configuration with one choice undone at a
time, and the choices added one by one to plain TF-IDF.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fuzhi.match.text import TextModel, TextOptions, text_top_k

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "bench" / "csl-dev"
K = 10

Ranker = Callable[[], np.ndarray]  # returns (n_demands, K) achievement indices


@dataclasses.dataclass
class Bench:
    achievements: list[dict[str, str]]
    demands: list[dict[str, str]]
    gold: dict[int, int]  # demand index -> gold achievement index
    grades: dict[int, dict[int, int]]  # demand index -> achievement index -> grade

    def achievement_texts(self) -> list[str]:
        return [
            " ".join(a[f] for f in ("title", "description", "keywords", "field"))
            for a in self.achievements
        ]

    def demand_texts(self) -> list[str]:
        return [" ".join(d[f] for f in ("title", "description")) for d in self.demands]


def load(data: Path) -> Bench:
    """Read the benchmark; achievements sorted by ID (as fuzhi callers do)."""
    a = pd.read_excel(data / "achievements.xlsx", sheet_name="成果", engine="calamine", dtype=str)
    d = pd.read_excel(data / "demands.xlsx", sheet_name="需求", engine="calamine", dtype=str)
    a = a.fillna("").sort_values("成果编号").reset_index(drop=True)
    d = d.fillna("")
    achievements = [
        {"title": r.成果名称, "description": r.成果简介, "keywords": r.关键词, "field": r.技术领域}
        for r in a.itertuples()
    ]
    demands = [{"title": r.需求名称, "description": r.需求描述} for r in d.itertuples()]
    a_index = {x: i for i, x in enumerate(a["成果编号"])}
    d_index = {x: i for i, x in enumerate(d["需求编号"])}
    gold = {
        d_index[r.demand_id]: a_index[r.achievement_id]
        for r in pd.read_csv(data / "gold.csv", dtype=str).itertuples()
    }
    grades: dict[int, dict[int, int]] = {}
    for r in pd.read_csv(data / "gold_graded.csv", dtype=str).itertuples():
        grades.setdefault(d_index[r.demand_id], {})[a_index[r.achievement_id]] = int(r.grade)
    return Bench(achievements, demands, gold, grades)


def score(bench: Bench, ranked: np.ndarray) -> dict[str, float]:
    """R@1, R@10, MRR@10, nDCG@10 (gain 2^g - 1, discount log2(rank + 1))."""
    r1 = r10 = mrr = ndcg = 0.0
    for q, g in bench.gold.items():
        row = [int(x) for x in ranked[q][:K] if x >= 0]
        if row and row[0] == g:
            r1 += 1
        if g in row:
            r10 += 1
            mrr += 1 / (row.index(g) + 1)
        grades = bench.grades[q]
        dcg = sum((2 ** grades.get(x, 0) - 1) / math.log2(i + 2) for i, x in enumerate(row))
        ideal = sorted(grades.values(), reverse=True)[:K]
        idcg = sum((2**x - 1) / math.log2(i + 2) for i, x in enumerate(ideal))
        ndcg += dcg / idcg
    n = len(bench.gold)
    return {"R@1": r1 / n, "R@10": r10 / n, "MRR@10": mrr / n, "nDCG@10": ndcg / n}


def jieba_tokens(texts: Sequence[str]) -> list[list[str]]:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return [jieba.lcut(t) for t in texts]


def tfidf_baseline(bench: Bench) -> np.ndarray:
    """scikit-learn TfidfVectorizer defaults on jieba tokens, cosine."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    a_tok, d_tok = jieba_tokens(bench.achievement_texts()), jieba_tokens(bench.demand_texts())
    vec = TfidfVectorizer(analyzer=lambda tokens: tokens).fit(a_tok)
    sims = (vec.transform(d_tok) @ vec.transform(a_tok).T).toarray()
    return np.argsort(-sims, axis=1, kind="stable")[:, :K]


def bm25_baseline(bench: Bench) -> np.ndarray:
    """bm25s defaults on jieba tokens."""
    import bm25s

    a_tok, d_tok = jieba_tokens(bench.achievement_texts()), jieba_tokens(bench.demand_texts())
    retriever = bm25s.BM25()
    retriever.index(a_tok, show_progress=False)
    ranked, _ = retriever.retrieve(d_tok, k=K, show_progress=False)
    return np.asarray(ranked)


def fuzhi_ranker(bench: Bench, options: TextOptions, cache_dir: Path) -> Ranker:
    def run() -> np.ndarray:
        model = TextModel.fit(bench.achievements, bench.demands, options, cache_dir=cache_dir)
        top = text_top_k(
            model,
            model.transform_demands(bench.demands),
            model.transform_achievements(bench.achievements),
            K,
        )
        return top.indices

    return run


def fuzhi_timings(bench: Bench, cache_dir: Path) -> dict[str, float]:
    """Seconds for fit, transform and top-k with a warm token cache."""
    t0 = time.perf_counter()
    model = TextModel.fit(bench.achievements, bench.demands, cache_dir=cache_dir)
    t1 = time.perf_counter()
    dv = model.transform_demands(bench.demands)
    av = model.transform_achievements(bench.achievements)
    t2 = time.perf_counter()
    text_top_k(model, dv, av, K)
    t3 = time.perf_counter()
    return {"fit": t1 - t0, "transform": t2 - t1, "top-k": t3 - t2}


PLAIN = TextOptions(
    field_weights=(("title", 1.0), ("description", 1.0), ("keywords", 1.0), ("field", 1.0)),
    sublinear_tf=False,
    char_ngram=0,
    feedback_docs=0,
    feedback_terms=0,
    bundled_dict=False,
    bundled_synonyms=False,
    bundled_stopwords=False,
    drop_numbers=False,
)

# Each choice as the change that undoes it from the defaults, in the order they were added.
CHOICES: list[tuple[str, dict[str, object]]] = [
    ("bundled stop words", {"bundled_stopwords": False}),
    ("drop numbers", {"drop_numbers": False}),
    ("tech dictionary + synonyms", {"bundled_dict": False, "bundled_synonyms": False}),
    ("sublinear tf (1 + ln tf)", {"sublinear_tf": False}),
    (
        "field weights title/keywords x2",
        {
            "field_weights": (
                ("title", 1.0),
                ("description", 1.0),
                ("keywords", 1.0),
                ("field", 1.0),
            )
        },
    ),
    ("char bigram view (weight 0.5)", {"char_ngram": 0}),
    ("pseudo-relevance feedback (3 docs, 0.5)", {"feedback_docs": 0}),
    ("feedback cut to 200 terms (speed)", {"feedback_terms": 0}),
]


def table(rows: list[tuple[str, dict[str, float], float]]) -> str:
    lines = [
        f"| {'matcher':44s} | R@1   | R@10  | MRR@10 | nDCG@10 | time (s) |",
        f"|{'-' * 46}|-------|-------|--------|---------|----------|",
    ]
    for name, m, secs in rows:
        lines.append(
            f"| {name:44s} | {m['R@1']:.3f} | {m['R@10']:.3f} | {m['MRR@10']:.4f} "
            f"| {m['nDCG@10']:.4f}  | {secs:8.2f} |"
        )
    return "\n".join(lines)


def timed(bench: Bench, ranker: Ranker) -> tuple[dict[str, float], float]:
    t = time.perf_counter()
    ranked = ranker()
    return score(bench, ranked), time.perf_counter() - t


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--ablation", action="store_true", help="score each choice on its own")
    args = parser.parse_args(argv)
    bench = load(args.data)
    with tempfile.TemporaryDirectory(prefix="fuzhi-bench-") as tmp:
        cache = Path(tmp)
        rows = [
            (
                "sklearn TfidfVectorizer defaults (jieba)",
                *timed(bench, lambda: tfidf_baseline(bench)),
            ),
            ("bm25s defaults (jieba)", *timed(bench, lambda: bm25_baseline(bench))),
            ("fuzhi (cold token cache)", *timed(bench, fuzhi_ranker(bench, TextOptions(), cache))),
            ("fuzhi (warm token cache)", *timed(bench, fuzhi_ranker(bench, TextOptions(), cache))),
        ]
        print(table(rows))
        print(
            "\nfuzhi stages, warm cache:",
            ", ".join(f"{k} {v:.2f} s" for k, v in fuzhi_timings(bench, cache).items()),
        )
        if args.ablation:
            print("\nEach choice undone from the defaults:\n")
            rows = [("fuzhi defaults", *timed(bench, fuzhi_ranker(bench, TextOptions(), cache)))]
            for name, change in CHOICES:
                opts = dataclasses.replace(TextOptions(), **change)  # type: ignore[arg-type]
                rows.append((f"- {name}", *timed(bench, fuzhi_ranker(bench, opts, cache))))
            print(table(rows))
            print("\nChoices added one by one to plain TF-IDF:\n")
            opts = PLAIN
            rows = [
                (
                    "plain TF-IDF (fuzhi tokens, cosine)",
                    *timed(bench, fuzhi_ranker(bench, opts, cache)),
                )
            ]
            defaults = TextOptions()
            for name, change in CHOICES:
                opts = dataclasses.replace(opts, **{key: getattr(defaults, key) for key in change})
                rows.append((f"+ {name}", *timed(bench, fuzhi_ranker(bench, opts, cache))))
            print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
