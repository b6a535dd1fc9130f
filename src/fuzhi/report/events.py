"""深度行 figures: events by locality and month, yearly and programme targets, quiet months.

A locality is the province an event's 地区 names ("江苏省苏州市" → 江苏省); events whose
地区 names no province count under :data:`UNKNOWN_LOCALITY`. Only events on or before the
cut-off (the earlier of the as-of date and the period's end) count. The yearly target
applies to the calendar year of the period, counted to the cut-off; the programme target
(``events_total``) applies to each locality's events from the programme's start.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import pandas as pd

from fuzhi.config import Targets
from fuzhi.regions import GROUPS, parse_places
from fuzhi.report.periods import Month, Period

UNKNOWN_LOCALITY = "未识别地区"
UNKNOWN_FORM = "未注明"
COUNT_COLUMNS = ("enterprises", "achievements", "intents", "contracts")


@dataclass(frozen=True)
class Outcomes:
    """What a set of events produced."""

    events: int = 0
    enterprises: int = 0
    achievements: int = 0
    intents: int = 0
    contracts: int = 0
    amount: float = 0.0


@dataclass(frozen=True)
class LocalityEvents:
    """One locality's events in the period and its attainment of the targets."""

    locality: str
    group: str
    by_month: dict[str, int]
    in_period: Outcomes
    year_to_date: int
    yearly_target: int
    yearly_attainment: float
    on_pace: bool
    programme_to_date: int
    programme_target: int
    programme_attainment: float
    months_without_events: list[str]


@dataclass(frozen=True)
class EventFigures:
    """The 深度行 sheet: localities × months of the period, with totals."""

    months: list[str]
    elapsed_months: list[str]
    localities: list[LocalityEvents]
    by_month: dict[str, int]
    by_form: dict[str, int]
    in_period: Outcomes
    year_to_date: int
    programme_to_date: int
    months_without_any_event: list[str]
    localities_meeting_yearly_target: int
    localities_meeting_programme_target: int
    yearly_pace: int = 0
    notes: list[str] = field(default_factory=list)


def with_localities(events: pd.DataFrame) -> pd.DataFrame:
    """Events with a date, plus ``locality``, ``group`` and ``month`` (YYYY-MM) columns."""
    frame = events[events["date"].map(lambda d: isinstance(d, dt.date))].copy()
    places = parse_places(frame["region"].fillna("").astype(str))
    frame["locality"] = [p.province or UNKNOWN_LOCALITY for p in places]
    frame["group"] = [p.group for p in places]
    frame["month"] = frame["date"].map(lambda d: Month.of(d).key())
    return frame.sort_values(["date", "id"], kind="stable").reset_index(drop=True)


def outcomes(frame: pd.DataFrame) -> Outcomes:
    """Sum the counts and amounts of ``frame``'s events (empty values count as 0)."""
    sums = {c: int(pd.to_numeric(frame[c], errors="coerce").fillna(0).sum()) for c in COUNT_COLUMNS}
    amount = float(pd.to_numeric(frame["amount"], errors="coerce").fillna(0).sum())
    return Outcomes(len(frame), amount=round(amount, 2), **sums)


def between(frame: pd.DataFrame, first: dt.date, last: dt.date) -> pd.DataFrame:
    """Rows of a located events frame dated from ``first`` to ``last`` inclusive."""
    if frame.empty:
        return frame
    mask = frame["date"].map(lambda d: first <= d <= last)
    return frame[mask.astype(bool)]


def _locality_order(item: tuple[str, str]) -> tuple[int, int, str]:
    locality, group = item
    unknown = locality == UNKNOWN_LOCALITY
    rank = GROUPS.index(group) if group in GROUPS else len(GROUPS)
    return (int(unknown), rank, locality)


def event_figures(
    events: pd.DataFrame, period: Period, as_of: dt.date, targets: Targets
) -> EventFigures:
    """Count a located events frame (see :func:`with_localities`) for the 深度行 sheet."""
    cutoff = min(as_of, period.end)
    months = [m.key() for m in period.months()]
    elapsed = [m.key() for m in period.months() if m.first_day() <= cutoff]
    year_start = dt.date(period.year, 1, 1)
    programme_last = min(cutoff, targets.programme_end)
    known = between(events, dt.date.min, cutoff)
    in_period = between(known, period.start, cutoff)
    year = between(known, year_start, cutoff)
    programme = between(known, targets.programme_start, programme_last)
    months_in_year = sum(1 for m in range(1, 13) if dt.date(period.year, m, 1) <= cutoff)
    pace = math.ceil(targets.events_per_locality_per_year * months_in_year / 12)

    localities = sorted(
        {(loc, grp) for loc, grp in zip(programme["locality"], programme["group"], strict=True)}
        | {(loc, grp) for loc, grp in zip(year["locality"], year["group"], strict=True)},
        key=_locality_order,
    )
    rows = []
    for locality, group in localities:
        mine = in_period[in_period["locality"] == locality]
        counts = mine["month"].value_counts().to_dict()
        ytd = int((year["locality"] == locality).sum())
        to_date = int((programme["locality"] == locality).sum())
        rows.append(
            LocalityEvents(
                locality=locality,
                group=group,
                by_month={m: int(counts.get(m, 0)) for m in months},
                in_period=outcomes(mine),
                year_to_date=ytd,
                yearly_target=targets.events_per_locality_per_year,
                yearly_attainment=_ratio(ytd, targets.events_per_locality_per_year),
                on_pace=ytd >= pace,
                programme_to_date=to_date,
                programme_target=targets.events_total,
                programme_attainment=_ratio(to_date, targets.events_total),
                months_without_events=[m for m in elapsed if not counts.get(m)],
            )
        )
    real = [r for r in rows if r.locality != UNKNOWN_LOCALITY]
    by_month = in_period["month"].value_counts().to_dict()
    notes = []
    if in_period.empty:
        notes.append("no_events_in_period")
    if any(r.locality == UNKNOWN_LOCALITY for r in rows):
        notes.append("events_without_locality")
    return EventFigures(
        months=months,
        elapsed_months=elapsed,
        localities=rows,
        by_month={m: int(by_month.get(m, 0)) for m in months},
        by_form=_by_form(in_period),
        in_period=outcomes(in_period),
        year_to_date=len(year),
        programme_to_date=len(programme),
        months_without_any_event=[m for m in elapsed if not by_month.get(m)],
        localities_meeting_yearly_target=sum(r.year_to_date >= r.yearly_target for r in real),
        localities_meeting_programme_target=sum(
            r.programme_to_date >= r.programme_target for r in real
        ),
        yearly_pace=pace,
        notes=notes,
    )


def _ratio(value: int, target: int) -> float:
    return round(value / target, 4) if target else 0.0


def _by_form(frame: pd.DataFrame) -> dict[str, int]:
    forms = frame["form"].fillna("").astype(str).replace("", UNKNOWN_FORM)
    return {str(k): int(v) for k, v in forms.value_counts().sort_index().items()}
