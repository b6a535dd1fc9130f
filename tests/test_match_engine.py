"""The matching engine: structured factors, filters, both directions, incremental subsets."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fuzhi.match.engine import Direction, Filters, MatchOptions, match_libraries
from fuzhi.match.factors import FactorWeights
from fuzhi.pipeline import load
from fuzhi.schema import Kind


@pytest.fixture
def libraries(small_libraries: tuple[Path, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    a, d = small_libraries
    return load(a, Kind.ACHIEVEMENTS).records, load(d, Kind.DEMANDS).records


def _pair(frame: pd.DataFrame, demand: str, achievement: str) -> pd.Series:
    rows = frame[(frame["demand_id"] == demand) & (frame["achievement_id"] == achievement)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_factors_discount_the_text_score(libraries) -> None:
    achievements, demands = libraries
    result = match_libraries(achievements, demands, MatchOptions(k=4))
    frame = result.by_demand
    # D001 (苏州, TRL6, budget 100) × A001 (无锡, TRL7, 80万): same province, TRL met,
    # price within budget, industries differ (钢铁 vs 通用设备): only industry discounts.
    row = _pair(frame, "D001", "A001")
    assert (row["f_region"], row["f_trl"], row["f_budget"], row["f_industry"]) == (
        1.0,
        1.0,
        1.0,
        0.0,
    )
    assert math.isnan(row["f_field"])  # demands carry no 技术领域 here
    assert row["score"] == pytest.approx(row["text_score"] * (1 - 0.15))
    # D003 (陕西西安, no TRL, budget 面议) × A003 (陕西杨凌): same province, nothing else known.
    row = _pair(frame, "D003", "A003")
    assert row["f_region"] == 1.0 and math.isnan(row["f_trl"]) and math.isnan(row["f_budget"])
    # D002 (绍兴) × A004 (南京): not the same province, both 长三角.
    assert _pair(frame, "D002", "A004")["f_region"] == pytest.approx(0.6)


def test_readiness_short_of_the_requirement(libraries) -> None:
    achievements, demands = libraries
    demands = demands.copy()
    demands.loc[demands["id"] == "D001", "trl"] = 9  # A001 is TRL7: 2 levels short of 9
    row = _pair(match_libraries(achievements, demands, MatchOptions(k=4)).by_demand, "D001", "A001")
    assert row["f_trl"] == pytest.approx(1 - 2 / 8)
    assert row["score"] == pytest.approx(row["text_score"] * (1 - 0.15) * (1 - 0.30 * 2 / 8))


def test_budget_above_the_price(libraries) -> None:
    achievements, demands = libraries
    demands = demands.copy()
    demands.loc[demands["id"] == "D002", "budget"] = 1000.0  # A004 costs 2000 (0.2亿)
    frame = match_libraries(achievements, demands, MatchOptions(k=4)).by_demand
    assert _pair(frame, "D002", "A004")["f_budget"] == pytest.approx(0.5)


def test_without_structured_fields_score_is_the_text_score(libraries) -> None:
    achievements, demands = libraries
    bare_a = achievements[["id", "title", "description", "keywords", "_row", "_extra"]]
    bare_d = demands[["id", "title", "description", "keywords", "_row", "_extra"]]
    for frame, template in ((bare_a, achievements), (bare_d, demands)):
        for column in template.columns.difference(frame.columns):
            frame[column] = template[column].iloc[:0].reindex(frame.index)
    result = match_libraries(bare_a, bare_d, MatchOptions(k=4)).by_demand
    assert np.allclose(result["score"], result["text_score"])
    zero = match_libraries(
        achievements, demands, MatchOptions(k=4, weights=FactorWeights(0, 0, 0, 0, 0))
    ).by_demand
    assert np.allclose(zero["score"], zero["text_score"])


@pytest.mark.parametrize(
    ("filters", "allowed"),
    [
        (Filters(region="长三角"), {"A001", "A004"}),  # 无锡, 南京
        (Filters(region="陕西"), {"A003"}),
        (Filters(industry="农业"), {"A003"}),
        (Filters(min_trl=7), {"A001", "A004"}),
        (Filters(region="江苏", min_trl=8), {"A004"}),
    ],
)
def test_filters_restrict_proposed_achievements(
    libraries, filters: Filters, allowed: set[str]
) -> None:
    achievements, demands = libraries
    frame = match_libraries(achievements, demands, MatchOptions(k=4, filters=filters)).by_demand
    assert set(frame["achievement_id"]) <= allowed
    assert len(frame) > 0


def test_reverse_direction_and_min_score(libraries) -> None:
    achievements, demands = libraries
    result = match_libraries(
        achievements, demands, MatchOptions(k=2, by=Direction.BOTH, min_score=0.05)
    )
    reverse = result.by_achievement
    assert reverse is not None and set(reverse["direction"]) == {"achievement"}
    assert reverse.groupby("achievement_id")["rank"].max().max() <= 2
    top = reverse[reverse["rank"] == 1].set_index("achievement_id")["demand_id"].to_dict()
    assert top["A001"] == "D001" and top["A004"] == "D002" and top["A003"] == "D003"
    assert (result.by_demand["score"] >= 0.05).all() and (reverse["score"] >= 0.05).all()


def test_incremental_subset_equals_full_run_rows(libraries) -> None:
    achievements, demands = libraries
    full = match_libraries(achievements, demands, MatchOptions(k=3))
    part = match_libraries(
        achievements, demands, MatchOptions(k=3), only_demands={"D002"}
    ).by_demand
    assert set(part["demand_id"]) == {"D002"}
    expected = full.by_demand[full.by_demand["demand_id"] == "D002"].reset_index(drop=True)
    pd.testing.assert_frame_equal(part.reset_index(drop=True), expected)
    new_only = match_libraries(
        achievements, demands, MatchOptions(k=3), only_achievements={"A003"}
    ).by_demand
    assert set(new_only["achievement_id"]) == {"A003"}
    assert _pair(new_only, "D003", "A003")["score"] == pytest.approx(
        _pair(full.by_demand, "D003", "A003")["score"]
    )
