"""Structured factors beyond text: field, industry, region, readiness and budget.

Each factor scores a demand–achievement pair in [0, 1], or None when either side lacks the
field. A factor *discounts* the text score: ``score = text × Π (1 − w·(1 − f))`` over the
factors present, so a pair that meets every requirement keeps its text score, a miss costs at
most its weight, and with no structured fields the ranking is the text ranking exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from fuzhi.io.parse import clean_text
from fuzhi.schema import header_key

FACTORS: tuple[str, ...] = ("field", "industry", "region", "trl", "budget")


@dataclass(frozen=True)
class FactorWeights:
    """Largest discount each factor can apply (0 switches it off). Documented defaults."""

    field: float = 0.15
    industry: float = 0.15
    region: float = 0.10
    trl: float = 0.30
    budget: float = 0.20

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"weight {f.name}={value}: expected a number from 0 to 1")


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    try:
        return not bool(value != value)
    except (TypeError, ValueError):
        return True


def _bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)} or {text}


def label_agreement(a: Any, b: Any) -> float | None:
    """How well two category labels agree: 1 same, 0.8 one inside the other, 0.5 similar."""
    if not _present(a) or not _present(b):
        return None
    ka, kb = header_key(clean_text(a)), header_key(clean_text(b))
    if not ka or not kb:
        return None
    if ka == kb:
        return 1.0
    if min(len(ka), len(kb)) >= 2 and (ka in kb or kb in ka):
        return 0.8
    ba, bb = _bigrams(ka), _bigrams(kb)
    return 0.5 if len(ba & bb) / len(ba | bb) >= 0.4 else 0.0


@dataclass
class SideArrays:
    """Per-record arrays of one library for vectorised factors (-1 / NaN: missing)."""

    ids: np.ndarray
    province: np.ndarray
    group: np.ndarray
    trl: np.ndarray
    money: np.ndarray  # price for achievements, budget for demands
    field_code: np.ndarray
    industry_code: np.ndarray


def agreement_matrix(d_vocab: dict[str, int], a_vocab: dict[str, int]) -> np.ndarray:
    """label_agreement for every pair of distinct labels; the extra last row/column is NaN."""
    matrix = np.full((len(d_vocab) + 1, len(a_vocab) + 1), np.nan)
    for dl, di in d_vocab.items():
        for al, ai in a_vocab.items():
            value = label_agreement(dl, al)
            matrix[di, ai] = np.nan if value is None else value
    return matrix


def factor_arrays(
    d: SideArrays,
    a: SideArrays,
    di: np.ndarray,
    ai: np.ndarray,
    agree_field: np.ndarray,
    agree_industry: np.ndarray,
) -> dict[str, np.ndarray]:
    """Factor values for the pairs (d[di[j]], a[ai[j]]); NaN where a side lacks the field.

    region: 1 same province, 0.6 same programme region group, 0 otherwise.
    trl: 1 when the achievement meets the demand's level; short of it, 1 − gap ÷ (need − 1).
    budget: 1 when the price fits the budget; above it, budget ÷ price.
    """
    dp, ap = d.province[di], a.province[ai]
    dg, ag = d.group[di], a.group[ai]
    known = ((dp >= 0) | (dg >= 0)) & ((ap >= 0) | (ag >= 0))
    region = np.where((dp >= 0) & (dp == ap), 1.0, np.where((dg >= 0) & (dg == ag), 0.6, 0.0))
    need, have = d.trl[di], a.trl[ai]
    budget, price = d.money[di], a.money[ai]
    with np.errstate(invalid="ignore", divide="ignore"):
        short = np.clip(1.0 - (need - have) / np.maximum(need - 1, 1), 0.0, 1.0)
        trl = np.where(have >= need, 1.0, short)
        fit = np.where((price <= budget) | (price <= 0), 1.0, np.clip(budget / price, 0.0, 1.0))
    return {
        "field": agree_field[d.field_code[di], a.field_code[ai]],
        "industry": agree_industry[d.industry_code[di], a.industry_code[ai]],
        "region": np.where(known, region, np.nan),
        "trl": np.where(np.isnan(need) | np.isnan(have), np.nan, trl),
        "budget": np.where(np.isnan(budget) | np.isnan(price), np.nan, fit),
    }


def discount(
    text_score: np.ndarray, factors: dict[str, np.ndarray], weights: FactorWeights
) -> np.ndarray:
    """score = text × Π (1 − w·(1 − f)) over the factors present (NaN factors count as 1)."""
    score = text_score.astype(np.float64, copy=True)
    for name in FACTORS:
        value = factors[name]
        score *= np.where(np.isnan(value), 1.0, 1.0 - getattr(weights, name) * (1.0 - value))
    return score
