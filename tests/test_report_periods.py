"""Reporting periods: parsing, bounds, months and the period before."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzhi.errors import ExitCode, UsageError
from fuzhi.report.periods import (
    Grain,
    Month,
    Period,
    months_between,
    parse_as_of,
    parse_period,
    year_of,
)


@pytest.mark.parametrize(
    ("text", "grain", "year", "index"),
    [
        ("2025", Grain.YEAR, 2025, 1),
        ("2025年", Grain.YEAR, 2025, 1),
        ("2025Q3", Grain.QUARTER, 2025, 3),
        ("2025q1", Grain.QUARTER, 2025, 1),
        ("2025-Q4", Grain.QUARTER, 2025, 4),
        ("2025年第2季度", Grain.QUARTER, 2025, 2),
        ("2025-07", Grain.MONTH, 2025, 7),
        ("2025-7", Grain.MONTH, 2025, 7),
        ("2025年7月", Grain.MONTH, 2025, 7),
        (" ２０２５-０７ ", Grain.MONTH, 2025, 7),
    ],
)
def test_parse_period_forms(text: str, grain: Grain, year: int, index: int) -> None:
    assert parse_period(text) == Period(grain, year, index)


@pytest.mark.parametrize("text", ["", "25", "2025Q5", "2025-13", "2025-00", "Q3", "2025-07-01"])
def test_bad_period_is_a_usage_error_naming_the_forms(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_period(text)
    assert info.value.exit_code is ExitCode.USAGE
    assert "2025Q3" in str(info.value) and "2025-07" in str(info.value)


def test_bounds_and_months() -> None:
    q3 = parse_period("2025Q3")
    assert (q3.start, q3.end) == (dt.date(2025, 7, 1), dt.date(2025, 9, 30))
    assert [m.key() for m in q3.months()] == ["2025-07", "2025-08", "2025-09"]
    feb = parse_period("2024-02")
    assert feb.end == dt.date(2024, 2, 29)
    assert len(parse_period("2025").months()) == 12
    assert q3.contains(dt.date(2025, 9, 30)) and not q3.contains(dt.date(2025, 10, 1))


def test_previous_period_has_the_same_length() -> None:
    assert parse_period("2025").previous() == parse_period("2024")
    assert parse_period("2025Q1").previous() == parse_period("2024Q4")
    assert parse_period("2025Q3").previous() == parse_period("2025Q2")
    assert parse_period("2025-01").previous() == parse_period("2024-12")
    assert parse_period("2025-07").previous() == parse_period("2025-06")


def test_labels_and_keys() -> None:
    assert parse_period("2025Q3").label() == "2025年第3季度"
    assert parse_period("2025-07").label() == "2025年7月"
    assert parse_period("2025").label("en") == "2025"
    assert year_of(dt.date(2025, 3, 4)) == parse_period("2025")


def test_as_of_parsing() -> None:
    assert parse_as_of("2025-06-30") == dt.date(2025, 6, 30)
    with pytest.raises(UsageError):
        parse_as_of("30/06/2025")


def test_months_between() -> None:
    keys = [m.key() for m in months_between(Month(2024, 11), Month(2025, 2))]
    assert keys == ["2024-11", "2024-12", "2025-01", "2025-02"]
    assert months_between(Month(2025, 2), Month(2025, 1)) == []


@given(st.sampled_from(list(Grain)), st.integers(1901, 9998), st.integers(1, 12))
def test_key_round_trips_and_previous_ends_the_day_before(grain: Grain, year: int, n: int) -> None:
    index = {Grain.YEAR: 1, Grain.QUARTER: (n - 1) % 4 + 1, Grain.MONTH: n}[grain]
    period = Period(grain, year, index)
    assert parse_period(period.key()) == period
    assert period.previous().end == period.start - dt.timedelta(days=1)
    assert len(period.previous().months()) == len(period.months())


@given(st.text(max_size=12))
def test_any_text_parses_or_raises_usage_error(text: str) -> None:
    try:
        period = parse_period(text)
    except UsageError:
        return
    assert period.start <= period.end
