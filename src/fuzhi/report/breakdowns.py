"""Libraries, matches and outcomes by region and industry, and by month and quarter.

Matches are placed by their demand (the SME's region and industry); achievements and
demands by their own 所在地区 and 所属行业; events by the province their 地区 names.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pandas as pd

from fuzhi.regions import GROUPS, parse_place
from fuzhi.report.events import UNKNOWN_LOCALITY, between, outcomes
from fuzhi.report.periods import Month, months_between
from fuzhi.report.tracking import as_date

UNKNOWN_INDUSTRY = "未注明"
_GBT_PREFIX = re.compile(r"^(?:[A-T]\d{0,4}\s*(?=[^\dA-Za-z])|[^-—－]{1,8}业\s*[-—－]\s*)")


@dataclass(frozen=True)
class BreakdownRow:
    """One region or industry: library sizes, matches by outcome, and the period's events."""

    name: str
    group: str
    achievements: int
    demands: int
    matches: int
    contacted: int
    signed: int
    landed: int
    signed_amount: float
    events: int
    event_contracts: int
    event_amount: float


@dataclass(frozen=True)
class TrendRow:
    """One month (2025-07) or quarter (2025Q3)."""

    label: str
    events: int
    enterprises: int
    intents: int
    contracts: int
    event_amount: float
    matches_new: int
    contacted: int
    signed: int
    landed: int
    signed_amount: float


def industry_name(text: object) -> str:
    """An industry label without its GB/T 4754 code prefix ("C35专用设备制造业" → 专用设备制造业)."""
    value = "" if text is None or (not isinstance(text, str) and pd.isna(text)) else str(text)
    value = _GBT_PREFIX.sub("", value.strip()).strip()
    return value or UNKNOWN_INDUSTRY


def province_of(text: object) -> tuple[str, str]:
    """(province or 未识别地区, region group) of a free-text place."""
    place = parse_place(text)
    return (place.province or UNKNOWN_LOCALITY, place.group)


def _amount(frame: pd.DataFrame) -> float:
    if "signed_amount" not in frame.columns or frame.empty:
        return 0.0
    return round(float(pd.to_numeric(frame["signed_amount"], errors="coerce").fillna(0).sum()), 2)


def _signed_mask(states: pd.DataFrame) -> pd.Series:
    return states["stage"] >= 3


def breakdown(
    achievement_keys: pd.Series,
    demand_keys: pd.Series,
    states: pd.DataFrame,
    match_keys: pd.Series,
    events: pd.DataFrame | None = None,
    groups: dict[str, str] | None = None,
) -> list[BreakdownRow]:
    """Rows per key (a province or an industry); ``*_keys`` align with their frames' rows.

    Events count by their locality when given; ``groups`` maps a province to its region
    group and orders the rows by group.
    """
    a_keys, d_keys = achievement_keys.reset_index(drop=True), demand_keys.reset_index(drop=True)
    states = states.reset_index(drop=True)
    m_keys = match_keys.reset_index(drop=True)
    e_keys = events["locality"] if events is not None and len(events) else pd.Series(dtype=object)
    names = set(a_keys) | set(d_keys) | set(m_keys) | set(e_keys)
    rows = []
    for name in names:
        mine = states[m_keys == name] if len(states) else states
        signed = mine[_signed_mask(mine)] if len(mine) else mine
        ev = events[e_keys == name] if events is not None and len(e_keys) else None
        ev_out = outcomes(ev) if ev is not None and len(ev) else None
        rows.append(
            BreakdownRow(
                name=name,
                group=(groups or {}).get(name, ""),
                achievements=int((a_keys == name).sum()),
                demands=int((d_keys == name).sum()),
                matches=len(mine),
                contacted=int((mine["stage"] >= 1).sum()) if len(mine) else 0,
                signed=len(signed),
                landed=int((mine["stage"] >= 4).sum()) if len(mine) else 0,
                signed_amount=_amount(signed),
                events=ev_out.events if ev_out else 0,
                event_contracts=ev_out.contracts if ev_out else 0,
                event_amount=ev_out.amount if ev_out else 0.0,
            )
        )
    unknown = (UNKNOWN_LOCALITY, UNKNOWN_INDUSTRY)

    def order(r: BreakdownRow) -> tuple[int, int, float, str]:
        rank = GROUPS.index(r.group) if r.group in GROUPS else len(GROUPS)
        if groups is None:
            rank = 0
        weight = -(r.matches + r.demands + r.achievements + r.events)
        return (int(r.name in unknown), rank, weight, r.name)

    return sorted(rows, key=order)


def _month_of(value: object) -> str | None:
    day = as_date(value)
    return Month.of(day).key() if day else None


def trend(
    events: pd.DataFrame,
    states: pd.DataFrame,
    first: Month,
    cutoff: dt.date,
) -> tuple[list[TrendRow], list[TrendRow]]:
    """Rows by month from ``first`` to the cut-off's month, and the same by quarter."""
    months = months_between(first, Month.of(cutoff))
    events = between(events, first.first_day(), cutoff)

    def dated(column: str) -> pd.Series:
        if column not in states.columns or states.empty:
            return pd.Series(dtype=object)
        days = states[column].map(as_date)
        return days.map(lambda d: Month.of(d).key() if d and d <= cutoff else None)

    new, contacted = dated("created_at"), dated("entered_1")
    signed_month, landed = dated("signed_on"), dated("entered_4")
    rows = []
    for month in months:
        key = month.key()
        ev = outcomes(events[events["month"] == key]) if len(events) else outcomes(events)
        signed = states[signed_month == key] if len(signed_month) else states.iloc[0:0]
        rows.append(
            TrendRow(
                label=key,
                events=ev.events,
                enterprises=ev.enterprises,
                intents=ev.intents,
                contracts=ev.contracts,
                event_amount=ev.amount,
                matches_new=int((new == key).sum()),
                contacted=int((contacted == key).sum()),
                signed=len(signed),
                landed=int((landed == key).sum()),
                signed_amount=_amount(signed),
            )
        )
    quarters: dict[str, list[TrendRow]] = {}
    for month, row in zip(months, rows, strict=True):
        quarters.setdefault(f"{month.year}Q{month.quarter}", []).append(row)
    by_quarter = [
        TrendRow(
            label=label,
            events=sum(r.events for r in group),
            enterprises=sum(r.enterprises for r in group),
            intents=sum(r.intents for r in group),
            contracts=sum(r.contracts for r in group),
            event_amount=round(sum(r.event_amount for r in group), 2),
            matches_new=sum(r.matches_new for r in group),
            contacted=sum(r.contacted for r in group),
            signed=sum(r.signed for r in group),
            landed=sum(r.landed for r in group),
            signed_amount=round(sum(r.signed_amount for r in group), 2),
        )
        for label, group in quarters.items()
    ]
    return rows, by_quarter
