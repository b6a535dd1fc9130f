"""Metrics against hand-computed values, and the files evaluate reads."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fuzhi.errors import InputError
from fuzhi.match.evaluate import evaluate_files, evaluate_rankings


def test_metrics_by_hand() -> None:
    gold = {
        "d1": {"a1": 2, "a2": 1, "a3": 1},
        "d2": {"b1": 2},
        "d3": {"c1": 2, "c2": 1},
    }
    rankings = {
        "d1": ["a2", "a1", "x"],  # gold at rank 2
        "d2": ["b1"],  # gold first
        "d3": ["x"] * 10 + ["c1"],  # gold at rank 11: outside the cutoff
    }
    m = evaluate_rankings(rankings, gold)
    assert m.r_at_1 == pytest.approx(1 / 3)
    assert m.r_at_10 == pytest.approx(2 / 3)
    assert m.mrr_at_10 == pytest.approx((0.5 + 1 + 0) / 3)
    dcg1 = 1 / math.log2(2) + 3 / math.log2(3)
    idcg1 = 3 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert m.ndcg_at_10 == pytest.approx((dcg1 / idcg1 + 1.0 + 0.0) / 3)
    assert m.as_dict().keys() == {"R@1", "R@10", "MRR@10", "nDCG@10"}


def test_missing_demand_scores_zero() -> None:
    m = evaluate_rankings({}, {"d1": {"a1": 2}})
    assert (m.r_at_1, m.r_at_10, m.mrr_at_10, m.ndcg_at_10) == (0, 0, 0, 0)


def test_reads_jsonl_and_gold_csv(tmp_path: Path) -> None:
    matches = tmp_path / "m.jsonl"
    rows = [
        {"direction": "demand", "demand_id": "d1", "achievement_id": "a9", "rank": 1},
        {"direction": "demand", "demand_id": "d1", "achievement_id": "a1", "rank": 2},
        {"direction": "achievement", "demand_id": "d1", "achievement_id": "a1", "rank": 1},
    ]
    matches.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    gold = tmp_path / "gold.csv"
    gold.write_text("demand_id,achievement_id,grade\nd1,a1,2\n", encoding="utf-8")
    m = evaluate_files(matches, gold)
    assert m.mrr_at_10 == pytest.approx(0.5) and m.r_at_1 == 0


def test_bad_gold(tmp_path: Path) -> None:
    gold = tmp_path / "gold.csv"
    gold.write_text("demand,achievement\nd1,a1\n", encoding="utf-8")
    matches = tmp_path / "m.jsonl"
    matches.write_text('{"demand_id": "d1", "achievement_id": "a1", "rank": 1}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"gold.csv: no demand_id column"):
        evaluate_files(matches, gold)
