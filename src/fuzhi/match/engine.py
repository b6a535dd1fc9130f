"""Match two libraries: text candidates, structured factors, final ranking, both directions.

Flow: records → documents → :class:`TextModel` (fitted on both libraries) → top text
candidates per query → factor discounts (vectorised) → top-k by final score, ties broken by
ID → a tidy frame of matches with their evidence (shared terms and factor values).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd

from fuzhi.errors import UsageError
from fuzhi.match.factors import (
    FACTORS,
    FactorWeights,
    SideArrays,
    agreement_matrix,
    discount,
    factor_arrays,
)
from fuzhi.match.text import TextModel, TextOptions, TextVectors, text_top_k
from fuzhi.process import Background
from fuzhi.regions import matches_region, parse_places
from fuzhi.schema import TEXT_FIELDS, Kind

Progress = Callable[[str, int, int], None]


class Direction(StrEnum):
    DEMAND = "demand"  # best achievements for each demand
    ACHIEVEMENT = "achievement"  # best demands (enterprises) for each achievement
    BOTH = "both"


@dataclass(frozen=True)
class Filters:
    """Restrict candidates: ``region``/``industry`` apply to the side being proposed,
    ``min_trl`` to achievements."""

    region: str | None = None
    industry: str | None = None
    min_trl: int | None = None


@dataclass(frozen=True)
class MatchOptions:
    k: int = 10
    by: Direction = Direction.DEMAND
    min_score: float = 0.0
    weights: FactorWeights = field(default_factory=FactorWeights)
    filters: Filters = field(default_factory=Filters)
    text: TextOptions = field(default_factory=TextOptions)
    candidates: int = 50  # text candidates re-ranked by factors, per query (at least k)
    shared_terms: int = 5

    def __post_init__(self) -> None:
        if self.k < 1:
            raise UsageError(f"-k {self.k}: expected 1 or more")
        if not 0.0 <= self.min_score <= 1.0:
            raise UsageError(f"--min-score {self.min_score}: expected a number from 0 to 1")


MATCH_COLUMNS: tuple[str, ...] = (
    "direction",
    "demand_id",
    "achievement_id",
    "rank",
    "score",
    "text_score",
    *(f"f_{name}" for name in FACTORS),
    "shared_terms",
)


@dataclass
class MatchResult:
    """Matches per direction (columns :data:`MATCH_COLUMNS`), the model version, timings."""

    by_demand: pd.DataFrame | None
    by_achievement: pd.DataFrame | None
    model_version: str
    timings: dict[str, float] = field(default_factory=dict)

    def frames(self) -> list[pd.DataFrame]:
        return [f for f in (self.by_demand, self.by_achievement) if f is not None]


def documents(records: pd.DataFrame, kind: Kind) -> list[dict[str, str]]:
    """The text fields the matcher reads, per record."""
    cols = [c for c in TEXT_FIELDS[kind] if c in records.columns]
    return [
        {c: (v if isinstance(v, str) else "") for c, v in zip(cols, row, strict=True)}
        for row in records[cols].itertuples(index=False, name=None)
    ]


def _codes(values: pd.Series, vocab: dict[str, int]) -> np.ndarray:
    """Each value's code in ``vocab`` (new values are added); -1 for empty or missing."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object))
    lookup = np.array(
        [vocab.setdefault(u, len(vocab)) if isinstance(u, str) and u else -1 for u in uniques]
        + [-1],
        dtype=np.int32,
    )
    return lookup[codes]  # factorize gives -1 for missing: the appended -1


def _side(records: pd.DataFrame, money_col: str, vocabs: dict[str, dict[str, int]]) -> SideArrays:
    places = parse_places(records["region"])
    province = _codes(pd.Series([p.province for p in places], dtype=object), vocabs["province"])
    group = _codes(pd.Series([p.group for p in places], dtype=object), vocabs["group"])
    return SideArrays(
        ids=records["id"].to_numpy(dtype=object),
        province=province,
        group=group,
        trl=records["trl"].astype("Float64").to_numpy(dtype=float, na_value=np.nan),
        money=records[money_col].astype("Float64").to_numpy(dtype=float, na_value=np.nan),
        field_code=_codes(
            records["field"], vocabs["field_d" if money_col == "budget" else "field_a"]
        ),
        industry_code=_codes(
            records["industry"], vocabs["industry_d" if money_col == "budget" else "industry_a"]
        ),
    )


def _sides(
    demands: pd.DataFrame, achievements: pd.DataFrame
) -> tuple[SideArrays, SideArrays, np.ndarray, np.ndarray]:
    """Both libraries' factor arrays, and the field and industry agreement matrices."""
    vocabs: dict[str, dict[str, int]] = {
        k: {} for k in ("province", "group", "field_d", "field_a", "industry_d", "industry_a")
    }
    d_side = _side(demands, "budget", vocabs)
    a_side = _side(achievements, "price", vocabs)
    agree_field = agreement_matrix(vocabs["field_d"], vocabs["field_a"])
    agree_industry = agreement_matrix(vocabs["industry_d"], vocabs["industry_a"])
    return d_side, a_side, agree_field, agree_industry


def _id_mask(records: pd.DataFrame, ids: Collection[str] | None) -> np.ndarray | None:
    if ids is None:
        return None
    return records["id"].isin(set(ids)).to_numpy()


def _both(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None or b is None:
        return a if b is None else b
    return a & b


def _top_k_rows(
    model: TextModel,
    queries: TextVectors,
    candidates: TextVectors,
    k: int,
    asked: np.ndarray | None,
    allowed: np.ndarray | None,
    min_score: float,
    progress: Progress | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k text candidates for the ``asked`` query rows among the ``allowed`` candidates.

    Only the asked rows are multiplied, so an incremental run with three new demands costs
    three queries, not the whole library; results come back in full coordinates (rows not
    asked hold -1). Candidates are masked inside :func:`text_top_k`, which keeps the whole
    library for query feedback so that scores do not depend on the mask.
    """
    q_rows = None if asked is None else np.flatnonzero(asked)
    indices = np.full((len(queries), k), -1, dtype=np.int64)
    scores = np.zeros((len(queries), k), dtype=np.float32)
    if (q_rows is not None and not len(q_rows)) or (allowed is not None and not allowed.any()):
        return indices, scores
    sub_q = queries if q_rows is None else replace(queries, matrix=queries.matrix[q_rows])
    top = text_top_k(
        model, sub_q, candidates, k, min_score=min_score, allowed=allowed, progress=progress
    )
    width = top.indices.shape[1]
    rows = slice(None) if q_rows is None else q_rows
    indices[rows, :width] = top.indices
    scores[rows, :width] = top.scores
    return indices, scores


def _candidate_mask(
    records: pd.DataFrame, filters: Filters, is_achievement: bool
) -> np.ndarray | None:
    mask = np.ones(len(records), dtype=bool)
    if filters.region:
        mask &= np.array(
            [matches_region(place, filters.region) for place in parse_places(records["region"])],
            dtype=bool,
        )
    if filters.industry:
        wanted = filters.industry
        text = (records["industry"].astype(str) + " " + records["field"].astype(str)).tolist()
        mask &= np.array([wanted in t for t in text], dtype=bool)
    if filters.min_trl is not None and is_achievement:
        trl = records["trl"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        mask &= np.nan_to_num(trl, nan=0) >= filters.min_trl
    return None if mask.all() else mask


def match_libraries(
    achievements: pd.DataFrame,
    demands: pd.DataFrame,
    options: MatchOptions | None = None,
    *,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    model: TextModel | None = None,
    only_demands: Collection[str] | None = None,
    only_achievements: Collection[str] | None = None,
) -> MatchResult:
    """Rank achievements for each demand (and/or demands for each achievement).

    ``model``: a stored, already fitted text model (incremental runs keep scores
    comparable); fitted on both libraries when None. ``only_demands`` /
    ``only_achievements`` keep only pairs whose demand / achievement is among the given IDs
    (in both directions), for incremental re-matching: call once with the new demands and
    once with the new achievements, and merge with the stored matches.
    """
    options = options or MatchOptions()
    timings: dict[str, float] = {}
    start = time.perf_counter()
    achievements = achievements.sort_values("id", kind="stable").reset_index(drop=True)
    demands = demands.sort_values("id", kind="stable").reset_index(drop=True)
    a_docs, d_docs = documents(achievements, Kind.ACHIEVEMENTS), documents(demands, Kind.DEMANDS)
    # The structured factors (places parsed, codes made) meanwhile, on a thread: a cold run
    # whose workers were started early (``fuzhi.pipeline.match_files``) spends the counting
    # waiting for them, so the factors cost it nothing there. (Workers started only when
    # counting begins are forked after this thread ends: the factors then cost what they
    # did before.)
    sides = Background("fuzhi-factors", _sides, demands, achievements)
    if model is None:
        model, a_vec, d_vec = TextModel.fit_transform(
            a_docs, d_docs, options.text, cache_dir=cache_dir, progress=progress
        )
    else:
        a_vec, d_vec = model.transform_achievements(a_docs), model.transform_demands(d_docs)
    d_only = _id_mask(demands, only_demands)
    a_only = _id_mask(achievements, only_achievements)
    timings["vectorise"] = time.perf_counter() - start
    d_side, a_side, agree_field, agree_industry = sides.result()

    def run(direction: Direction) -> pd.DataFrame:
        t0 = time.perf_counter()
        by_demand = direction is Direction.DEMAND
        pool = max(options.candidates, options.k)
        if by_demand:
            allowed = _both(_candidate_mask(achievements, options.filters, True), a_only)
            queries, candidates, asked = d_vec, a_vec, d_only
        else:
            allowed = _both(_candidate_mask(demands, options.filters, False), d_only)
            queries, candidates = a_vec, d_vec
            trl_only = _candidate_mask(achievements, Filters(min_trl=options.filters.min_trl), True)
            asked = _both(trl_only, a_only)
        indices, scores = _top_k_rows(
            model, queries, candidates, pool, asked, allowed, options.min_score, progress
        )
        timings[f"top-k ({direction.value})"] = time.perf_counter() - t0
        frame = _rank(
            indices, scores, by_demand, d_side, a_side, agree_field, agree_industry, options
        )
        t1 = time.perf_counter()
        frame["shared_terms"] = model.shared_terms_many(
            d_vec,
            frame.pop("_d").to_numpy(),
            a_vec,
            frame.pop("_a").to_numpy(),
            options.shared_terms,
        )
        timings[f"explain ({direction.value})"] = time.perf_counter() - t1
        frame.insert(0, "direction", direction.value)
        return frame[list(MATCH_COLUMNS)]

    by = options.by
    result = MatchResult(
        by_demand=run(Direction.DEMAND) if by in (Direction.DEMAND, Direction.BOTH) else None,
        by_achievement=(
            run(Direction.ACHIEVEMENT) if by in (Direction.ACHIEVEMENT, Direction.BOTH) else None
        ),
        model_version=model.version,
        timings=timings,
    )
    return result


def _rank(
    indices: np.ndarray,
    scores: np.ndarray,
    by_demand: bool,
    d: SideArrays,
    a: SideArrays,
    agree_field: np.ndarray,
    agree_industry: np.ndarray,
    options: MatchOptions,
) -> pd.DataFrame:
    """Apply factor discounts to the text candidates and keep the top k per query."""
    n_queries, pool = indices.shape
    query = np.repeat(np.arange(n_queries), pool)
    cand = indices.ravel()
    text = scores.ravel().astype(np.float64)
    keep = cand >= 0
    query, cand, text = query[keep], cand[keep], text[keep]
    di, ai = (query, cand) if by_demand else (cand, query)
    factors = factor_arrays(d, a, di, ai, agree_field, agree_industry)
    score = discount(text, factors, options.weights)
    cand_ids = (a.ids if by_demand else d.ids)[cand]
    frame = pd.DataFrame(
        {"_q": query, "_cand_id": cand_ids, "score": score, "text_score": text, "_d": di, "_a": ai}
    )
    for name in FACTORS:
        frame[f"f_{name}"] = factors[name]
    frame = frame[frame["score"] >= options.min_score] if options.min_score > 0 else frame
    frame = frame.sort_values(
        ["_q", "score", "_cand_id"], ascending=[True, False, True], kind="stable"
    )
    frame["rank"] = frame.groupby("_q").cumcount() + 1
    frame = frame[frame["rank"] <= options.k].reset_index(drop=True)
    frame["demand_id"] = d.ids[frame["_d"].to_numpy()]
    frame["achievement_id"] = a.ids[frame["_a"].to_numpy()]
    return frame.drop(columns=["_q", "_cand_id"])
