"""The progress report: key figures, the matching funnel, 深度行 events, breakdowns, trend.

:func:`build_progress` is pure: it takes plain frames (:class:`ProgressInputs`), a period,
an as-of date and the targets, and returns a :class:`ProgressReport` of figures; the same
inputs and date always give the same report. Writers (xlsx, Markdown, JSON) only format it.

Nothing dated after the cut-off (the earlier of the as-of date and the period's end) counts:
events after it, status changes after it (when the history has times). Libraries and the
set of matches are taken as they are (import times are not event dates).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from fuzhi.config import Targets
from fuzhi.report.breakdowns import (
    BreakdownRow,
    TrendRow,
    breakdown,
    industry_name,
    province_of,
    trend,
)
from fuzhi.report.events import (
    EventFigures,
    Outcomes,
    between,
    event_figures,
    outcomes,
    with_localities,
)
from fuzhi.report.funnel import Funnel, TargetRow, target_rows
from fuzhi.report.funnel import funnel as funnel_of
from fuzhi.report.periods import Month, Period
from fuzhi.report.tracking import as_date, dates_known, match_states
from fuzhi.schema import Status

SCHEMA = "fuzhi.progress/1"

# Key figures in the order the 总览 sheet shows them.
EVENT_KEYS = (
    "events",
    "event_enterprises",
    "event_achievements",
    "event_intents",
    "event_contracts",
    "event_amount",
)
FLOW_KEYS = (
    "matches_new",
    "matches_contacted",
    "matches_negotiating",
    "matches_signed",
    "matches_landed",
    "signed_amount",
)
STOCK_KEYS = ("achievements_total", "demands_total", "matches_total")
KEY_FIGURES = (*EVENT_KEYS, *FLOW_KEYS, *STOCK_KEYS)


@dataclass(frozen=True)
class ProgressInputs:
    """Plain frames the report is built from (see the module docs for their columns)."""

    achievements: pd.DataFrame
    demands: pd.DataFrame
    matches: pd.DataFrame
    events: pd.DataFrame
    history: pd.DataFrame | None = None


@dataclass(frozen=True)
class KeyFigure:
    key: str
    current: float | None
    previous: float | None

    @property
    def change(self) -> float | None:
        if self.current is None or self.previous is None:
            return None
        return round(self.current - self.previous, 2)

    @property
    def change_pct(self) -> float | None:
        if self.change is None or not self.previous:
            return None
        return round(self.change / self.previous, 4)


@dataclass(frozen=True)
class ProgressReport:
    period: Period
    previous: Period
    as_of: dt.date
    cutoff: dt.date
    key_figures: list[KeyFigure]
    funnel: Funnel
    targets: list[TargetRow]
    configured: Targets
    events: EventFigures
    regions: list[BreakdownRow]
    industries: list[BreakdownRow]
    trend_months: list[TrendRow]
    trend_quarters: list[TrendRow]
    event_rows: pd.DataFrame = field(repr=False)
    match_rows: pd.DataFrame = field(repr=False)
    empty: bool = False
    notes: list[str] = field(default_factory=list)

    def figure(self, key: str) -> KeyFigure:
        return next(f for f in self.key_figures if f.key == key)

    def to_json(self) -> dict[str, Any]:
        """The figures under stable keys (documented in docs/report.md); no detail rows."""
        return {
            "schema": SCHEMA,
            "period": _period_json(self.period),
            "previous_period": _period_json(self.previous),
            "as_of": self.as_of.isoformat(),
            "cutoff": self.cutoff.isoformat(),
            "empty": self.empty,
            "notes": list(self.notes),
            "key_figures": {
                f.key: {
                    "current": f.current,
                    "previous": f.previous,
                    "change": f.change,
                    "change_pct": f.change_pct,
                }
                for f in self.key_figures
            },
            "funnel": {
                "stages": [
                    {
                        "status": s.status,
                        "status_en": Status(s.status).en,
                        "count": s.count,
                        "conversion": s.conversion,
                    }
                    for s in self.funnel.stages
                ],
                "by_status": dict(self.funnel.by_status),
                "total": self.funnel.total,
                "signed_amount": self.funnel.signed_amount,
            },
            "targets": {
                "configured": {
                    k: v.isoformat() if isinstance(v, dt.date) else v
                    for k, v in dataclasses.asdict(self.configured).items()
                },
                "attainment": {
                    t.key: {"target": t.target, "actual": t.actual, "attainment": t.attainment}
                    for t in self.targets
                },
            },
            "events": _events_json(self.events),
            "regions": [dataclasses.asdict(r) for r in self.regions],
            "industries": [
                {k: v for k, v in dataclasses.asdict(r).items() if k != "group"}
                for r in self.industries
            ],
            "trend": {
                "months": [dataclasses.asdict(r) for r in self.trend_months],
                "quarters": [dataclasses.asdict(r) for r in self.trend_quarters],
            },
        }


def _period_json(period: Period) -> dict[str, str]:
    return {
        "key": period.key(),
        "grain": period.grain.value,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "label": period.label(),
    }


def _events_json(ev: EventFigures) -> dict[str, Any]:
    return {
        "months": ev.months,
        "elapsed_months": ev.elapsed_months,
        "by_month": ev.by_month,
        "by_form": ev.by_form,
        "in_period": dataclasses.asdict(ev.in_period),
        "year_to_date": ev.year_to_date,
        "programme_to_date": ev.programme_to_date,
        "yearly_pace": ev.yearly_pace,
        "months_without_any_event": ev.months_without_any_event,
        "localities_meeting_yearly_target": ev.localities_meeting_yearly_target,
        "localities_meeting_programme_target": ev.localities_meeting_programme_target,
        "localities": [dataclasses.asdict(r) for r in ev.localities],
    }


def _flows(
    states: pd.DataFrame, period: Period, cutoff: dt.date, known: bool, created: bool
) -> dict[str, float | None]:
    """Matches that entered each stage within the period (None when no dates are known)."""
    last = min(cutoff, period.end)

    def within(column: str) -> pd.Series:
        if column not in states.columns or states.empty:
            return pd.Series(False, index=states.index, dtype=bool)
        days = states[column].map(as_date)
        return days.map(lambda d: d is not None and period.start <= d <= last).astype(bool)

    signed = states[within("signed_on")] if len(states) else states
    amount = pd.to_numeric(signed.get("signed_amount", pd.Series(dtype=float)), errors="coerce")
    return {
        "matches_new": int(within("created_at").sum()) if created else None,
        "matches_contacted": int(within("entered_1").sum()) if known else None,
        "matches_negotiating": int(within("entered_2").sum()) if known else None,
        "matches_signed": len(signed) if known else None,
        "matches_landed": int(within("entered_4").sum()) if known else None,
        "signed_amount": round(float(amount.fillna(0).sum()), 2) if known else None,
    }


def _period_figures(
    inputs: ProgressInputs,
    located: pd.DataFrame,
    period: Period,
    as_of: dt.date,
    known: bool,
) -> dict[str, float | None]:
    cutoff = min(as_of, period.end)
    matches = inputs.matches
    created = "created_at" in matches.columns and bool(matches["created_at"].notna().any())
    ev: Outcomes = outcomes(between(located, period.start, cutoff))
    states = match_states(inputs.matches, inputs.history, cutoff)
    return {
        "events": ev.events,
        "event_enterprises": ev.enterprises,
        "event_achievements": ev.achievements,
        "event_intents": ev.intents,
        "event_contracts": ev.contracts,
        "event_amount": ev.amount,
        **_flows(states, period, cutoff, known, created),
        "achievements_total": len(inputs.achievements),
        "demands_total": len(inputs.demands),
        "matches_total": len(states),
    }


def _with_demand(states: pd.DataFrame, demands: pd.DataFrame) -> pd.DataFrame:
    """Matches with their demand's region and industry (``demand_region``, ``demand_industry``)."""
    lookup = demands.drop_duplicates("id").set_index("id") if len(demands) else None
    out = states.copy()
    for src, dst in (("region", "demand_region"), ("industry", "demand_industry")):
        if lookup is None or src not in lookup.columns:
            out[dst] = ""
        else:
            mapped = out["demand_id"].astype(str).map(lookup[src].astype(object))
            out[dst] = mapped.astype(object).fillna("")
    return out


def build_progress(
    inputs: ProgressInputs, period: Period, as_of: dt.date, targets: Targets
) -> ProgressReport:
    """Compute every figure of the progress report for ``period`` as of ``as_of``."""
    cutoff = min(as_of, period.end)
    previous = period.previous()
    located = with_localities(inputs.events)
    states = _with_demand(match_states(inputs.matches, inputs.history, cutoff), inputs.demands)
    known = dates_known(states)
    current = _period_figures(inputs, located, period, as_of, known)
    before = _period_figures(inputs, located, previous, as_of, known)
    key_figures = [KeyFigure(k, current[k], before[k]) for k in KEY_FIGURES]

    funnel = funnel_of(states)
    events = event_figures(located, period, as_of, targets)
    achievements, demands = inputs.achievements, inputs.demands
    period_events = between(located, period.start, cutoff)

    a_places = [province_of(r) for r in achievements.get("region", pd.Series(dtype=object))]
    d_places = [province_of(r) for r in demands.get("region", pd.Series(dtype=object))]
    m_places = [province_of(r) for r in states.get("demand_region", pd.Series(dtype=object))]
    groups = {p: g for p, g in [*a_places, *d_places, *m_places] if g}
    groups |= dict(zip(period_events["locality"], period_events["group"], strict=True))
    regions = breakdown(
        pd.Series([p for p, _ in a_places], dtype=object),
        pd.Series([p for p, _ in d_places], dtype=object),
        states,
        pd.Series([p for p, _ in m_places], dtype=object),
        period_events,
        groups,
    )
    industries = breakdown(
        achievements.get("industry", pd.Series(dtype=object)).map(industry_name),
        demands.get("industry", pd.Series(dtype=object)).map(industry_name),
        states,
        states.get("demand_industry", pd.Series(dtype=object)).map(industry_name),
    )
    first = _first_month(located, states, period, targets)
    months, quarters = trend(located, states, first, cutoff)

    goals = target_rows(funnel, events, targets)
    notes = list(events.notes)
    if not known and len(states):
        notes.append("match_dates_unknown")
    activity = any(current[k] for k in ("matches_new", *FLOW_KEYS[1:5]))
    if not activity:
        notes.append("no_match_activity_in_period")
    if as_of < period.start:
        notes.append("as_of_before_period")
    elif as_of < period.end:
        notes.append("period_in_progress")
    empty = period_events.empty and not activity
    if empty:
        notes.append("no_data_in_period")
    return ProgressReport(
        period=period,
        previous=previous,
        as_of=as_of,
        cutoff=cutoff,
        key_figures=key_figures,
        funnel=funnel,
        targets=goals,
        configured=targets,
        events=events,
        regions=regions,
        industries=industries,
        trend_months=months,
        trend_quarters=quarters,
        event_rows=period_events.reset_index(drop=True),
        match_rows=states,
        empty=empty,
        notes=notes,
    )


def _first_month(
    located: pd.DataFrame, states: pd.DataFrame, period: Period, targets: Targets
) -> Month:
    """The trend starts at the first month with any data, no earlier than the programme."""
    days = [d for d in located["date"] if isinstance(d, dt.date)] if len(located) else []
    for column in ("created_at", "entered_1"):
        if column in states.columns:
            days += [d for d in states[column].map(as_date) if d is not None]
    floor = Month.of(targets.programme_start)
    first = Month.of(min(days)) if days else period.first_month
    return min(max(first, floor), period.first_month)
