"""Progress figures, recomputed independently from the example files with plain loops."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from fuzhi.config import Targets
from fuzhi.io.events import normalise_form, validate_events
from fuzhi.io.records import Severity, load_library
from fuzhi.report.periods import parse_period
from fuzhi.report.progress import KEY_FIGURES, ProgressInputs, build_progress
from fuzhi.schema import Kind

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
AS_OF = dt.date(2025, 9, 30)
PROVINCES = {
    "北京": "北京市",
    "上海": "上海市",
    "江苏": "江苏省",
    "浙江": "浙江省",
    "广东": "广东省",
    "四川": "四川省",
    "重庆": "重庆市",
    "辽宁": "辽宁省",
    "湖北": "湖北省",
    "陕西": "陕西省",
}


def _date(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    text = str(value)
    m = re.fullmatch(r"(\d{4})[-/年](\d{1,2})[-/月](\d{1,2})日?", text)
    if not m:
        return None
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def raw_events() -> list[dict[str, object]]:
    """The example log read cell by cell with openpyxl, without any fuzhi code."""
    ws = load_workbook(EXAMPLES / "events.xlsx", read_only=True).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    head = next(i for i, r in enumerate(rows) if "活动编号" in r)
    header = list(rows[head])
    out = []
    for r in rows[head + 1 :]:
        if not any(v not in (None, "") for v in r):
            continue
        rec = dict(zip(header, r, strict=False))
        day = _date(rec["活动日期"])
        if day is None:
            continue
        region = str(rec["地区"]).strip()
        rec["date"] = day
        rec["province"] = next(p for s, p in PROVINCES.items() if region.startswith(s))
        out.append(rec)
    return out


@pytest.fixture(scope="module")
def libraries() -> dict[str, pd.DataFrame]:
    events = validate_events(load_library(EXAMPLES / "events.xlsx", Kind.EVENTS))
    return {
        "events": events.records,
        "achievements": load_library(EXAMPLES / "achievements.xlsx", Kind.ACHIEVEMENTS).records,
        "demands": load_library(EXAMPLES / "demands.xlsx", Kind.DEMANDS).records,
    }


def no_matches() -> pd.DataFrame:
    return pd.DataFrame(columns=["match_id", "demand_id", "achievement_id", "score", "status"])


def inputs(libs: dict[str, pd.DataFrame], matches: pd.DataFrame | None = None, history=None):
    return ProgressInputs(
        libs["achievements"],
        libs["demands"],
        no_matches() if matches is None else matches,
        libs["events"],
        history,
    )


def test_bad_event_rows_are_reported(libraries: dict[str, pd.DataFrame]) -> None:
    lib = validate_events(load_library(EXAMPLES / "events.xlsx", Kind.EVENTS))
    rejected = [p for p in lib.problems if p.severity is Severity.REJECTED]
    assert len(rejected) == 1 and rejected[0].row is not None
    columns = {p.column for p in lib.problems if p.severity is Severity.WARNING}
    assert {"活动日期", "参与企业数", "活动形式"} <= columns
    bad_form = next(p for p in lib.problems if p.column == "活动形式")
    assert bad_form.value == "线上直播" and "大会论坛" in bad_form.expected
    assert set(lib.records["form"]) <= {
        "",
        "大会论坛",
        "成果路演",
        "供需对接",
        "展览展示",
        "产融对接",
    }


def test_form_variants() -> None:
    assert normalise_form("路演") == "成果路演"
    assert normalise_form("产融对接会") == "产融对接"
    assert normalise_form("线上直播") is None


def test_events_by_locality_and_month_match_a_plain_count(
    libraries: dict[str, pd.DataFrame],
) -> None:
    report = build_progress(inputs(libraries), parse_period("2025"), AS_OF, Targets())
    raw = raw_events()
    in_period = [e for e in raw if dt.date(2025, 1, 1) <= e["date"] <= AS_OF]
    expected = Counter((e["province"], e["date"].strftime("%Y-%m")) for e in in_period)
    got = {
        (loc.locality, month): n
        for loc in report.events.localities
        for month, n in loc.by_month.items()
        if n
    }
    assert got == dict(expected)
    assert report.events.in_period.events == len(in_period)
    assert report.figure("events").current == len(in_period)
    contracts = sum(e["签约项目数"] for e in in_period if isinstance(e["签约项目数"], int))
    assert report.figure("event_contracts").current == contracts
    previous = [e for e in raw if e["date"].year == 2024]
    assert report.figure("events").previous == len(previous)


def test_target_attainment_matches_a_plain_count(libraries: dict[str, pd.DataFrame]) -> None:
    targets = Targets()
    report = build_progress(inputs(libraries), parse_period("2025Q3"), AS_OF, targets)
    raw = raw_events()
    for loc in report.events.localities:
        mine = [e for e in raw if e["province"] == loc.locality]
        ytd = sum(dt.date(2025, 1, 1) <= e["date"] <= AS_OF for e in mine)
        total = sum(targets.programme_start <= e["date"] <= AS_OF for e in mine)
        assert loc.year_to_date == ytd
        assert loc.yearly_attainment == pytest.approx(ytd / 10, abs=1e-4)
        assert loc.programme_to_date == total
        assert loc.programme_attainment == pytest.approx(total / 30, abs=1e-4)
        months = {e["date"].strftime("%Y-%m") for e in mine}
        assert loc.months_without_events == [
            m for m in ("2025-07", "2025-08", "2025-09") if m not in months
        ]
    meeting = sum(loc.year_to_date >= 10 for loc in report.events.localities)
    assert report.events.localities_meeting_yearly_target == meeting
    assert report.events.months == ["2025-07", "2025-08", "2025-09"]


def test_quarter_after_as_of_counts_nothing_later(libraries: dict[str, pd.DataFrame]) -> None:
    report = build_progress(
        inputs(libraries), parse_period("2025Q4"), dt.date(2025, 10, 15), Targets()
    )
    assert report.events.elapsed_months == ["2025-10"]
    assert all(d <= dt.date(2025, 10, 15) for d in report.event_rows["date"])
    assert report.events.by_month["2025-11"] == 0


def test_empty_period_says_so(libraries: dict[str, pd.DataFrame]) -> None:
    report = build_progress(inputs(libraries), parse_period("2023Q2"), AS_OF, Targets())
    assert report.empty
    assert "no_data_in_period" in report.notes and "no_events_in_period" in report.notes
    data = report.to_json()
    assert data["empty"] is True and data["key_figures"]["events"]["current"] == 0
    json.dumps(data, ensure_ascii=False)


def _tracked_matches() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Six matches with a status history; one move happens after the as-of date."""
    matches = pd.DataFrame(
        {
            "match_id": [f"M{i}" for i in range(1, 7)],
            "demand_id": ["D1", "D1", "D2", "D3", "D3", "D4"],
            "achievement_id": ["A1", "A2", "A1", "A3", "A4", "A5"],
            "score": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
            "status": ["已落地", "洽谈中", "不合适", "已签约", "待对接", "待对接"],
            "signed_amount": [120.0, None, None, 80.0, None, None],
            "created_at": ["2025-03-01T10:00:00+08:00"] * 5 + ["2025-11-01T09:00:00+08:00"],
            "updated_at": ["2025-09-01T10:00:00+08:00"] * 6,
        }
    )
    steps = [
        ("M1", "已联系", "2025-04-02"),
        ("M1", "洽谈中", "2025-05-10"),
        ("M1", "已签约", "2025-07-01"),
        ("M1", "已落地", "2025-09-20"),
        ("M2", "已联系", "2025-06-01"),
        ("M2", "洽谈中", "2025-10-05"),  # after as-of
        ("M3", "已联系", "2025-04-01"),
        ("M3", "不合适", "2025-05-01"),
        ("M4", "已联系", "2025-08-01"),
        ("M4", "已签约", "2025-08-15"),  # skips 洽谈中
    ]
    history = pd.DataFrame(steps, columns=["match_id", "status", "changed_at"])
    return matches, history


def test_funnel_as_of_uses_the_history(libraries: dict[str, pd.DataFrame]) -> None:
    matches, history = _tracked_matches()
    report = build_progress(
        inputs(libraries, matches, history), parse_period("2025Q3"), AS_OF, Targets()
    )
    order = ["待对接", "已联系", "洽谈中", "已签约", "已落地"]
    reached: dict[str, int] = {}
    status: dict[str, str] = {}
    for m in ("M1", "M2", "M3", "M4", "M5", "M6"):
        best = 0
        status[m] = "待对接"
        for mid, s, at in history.itertuples(index=False):
            if mid == m and dt.date.fromisoformat(at) <= AS_OF:
                status[m] = s
                if s in order:
                    best = max(best, order.index(s))
        reached[m] = best
    counts = [sum(r >= i for r in reached.values()) for i in range(5)]
    assert [s.count for s in report.funnel.stages] == counts == [6, 4, 2, 2, 1]
    assert report.funnel.by_status == {
        s: sum(v == s for v in status.values()) for s in [*order, "不合适"]
    }
    assert report.funnel.stages[1].conversion == pytest.approx(4 / 6, abs=1e-4)
    assert report.funnel.signed_amount == 200.0
    # Q3 flows: M1 signed 07-01 and landed 09-20; M4 contacted and signed in August.
    assert report.figure("matches_signed").current == 2
    assert report.figure("matches_landed").current == 1
    assert report.figure("matches_contacted").current == 1
    assert report.figure("signed_amount").current == 200.0
    assert report.figure("matches_contacted").previous == 3  # M1, M2, M3 in Q2
    assert report.figure("matches_total").current == 6


def test_funnel_without_history_uses_current_status(libraries: dict[str, pd.DataFrame]) -> None:
    matches, _ = _tracked_matches()
    report = build_progress(
        inputs(libraries, matches), parse_period("2025"), dt.date(2025, 12, 31), Targets()
    )
    assert [s.count for s in report.funnel.stages] == [6, 3, 3, 2, 1]
    assert report.funnel.by_status["不合适"] == 1


def test_matches_by_region_follow_the_demand(libraries: dict[str, pd.DataFrame]) -> None:
    demands = libraries["demands"]
    ids = list(demands["id"][:4])
    matches, history = _tracked_matches()
    matches["demand_id"] = [ids[0], ids[0], ids[1], ids[2], ids[2], ids[3]]
    report = build_progress(
        inputs(libraries, matches, history), parse_period("2025"), AS_OF, Targets()
    )
    assert sum(r.matches for r in report.regions) == 6
    assert sum(r.demands for r in report.regions) == len(demands)
    assert sum(r.signed for r in report.industries) == 2
    assert sum(r.events for r in report.regions) == report.events.in_period.events


def test_report_is_reproducible_and_json_keys_are_stable(
    libraries: dict[str, pd.DataFrame],
) -> None:
    matches, history = _tracked_matches()
    args = (inputs(libraries, matches, history), parse_period("2025"), AS_OF, Targets())
    first, second = build_progress(*args).to_json(), build_progress(*args).to_json()
    assert first == second
    assert list(first) == [
        "schema",
        "period",
        "previous_period",
        "as_of",
        "cutoff",
        "empty",
        "notes",
        "key_figures",
        "funnel",
        "targets",
        "events",
        "regions",
        "industries",
        "trend",
    ]
    assert list(first["key_figures"]) == list(KEY_FIGURES)
    months = first["trend"]["months"]
    assert (
        sum(m["events"] for m in months if m["label"].startswith("2025"))
        == (first["events"]["in_period"]["events"])
    )
    assert sum(q["signed"] for q in first["trend"]["quarters"]) == 2


def test_agency_targets_are_reported_when_set(libraries: dict[str, pd.DataFrame]) -> None:
    matches, history = _tracked_matches()
    targets = Targets(matches_contacted=6, contracts_signed=4)
    report = build_progress(
        inputs(libraries, matches, history), parse_period("2025"), AS_OF, targets
    )
    rows = {t.key: t for t in report.targets}
    assert rows["matches_contacted"].actual == 4
    assert rows["contracts_signed"].attainment == 0.5
