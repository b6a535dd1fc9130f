"""Where each match stood on a date: status, the furthest funnel stage and when it got there.

Inputs are plain frames. ``matches`` has ``match_id`` and ``status`` and optionally
``created_at``, ``updated_at`` (dates, datetimes or ISO text) and ``signed_amount`` (万元).
``history`` (optional) has ``match_id``, ``status`` (the new status) and ``changed_at``.

With a history, a match's status on the as-of date is its last change on or before that day
(待对接 if none yet), and each stage's date is the first change reaching it. A match with no
history rows keeps its current status, dated by ``updated_at`` when known; earlier stages
then have no date. Matches created after the as-of date are left out.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pandas as pd

from fuzhi.schema import FUNNEL, Status

STAGE = {status: i for i, status in enumerate(FUNNEL)}


def as_date(value: object) -> dt.date | None:
    """A date from a date, datetime, pandas timestamp or ISO text; None when absent."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text).date()
    except ValueError:
        return dt.date.fromisoformat(text[:10])


def parse_status(value: object) -> Status:
    """A stored status; anything unreadable counts as 待对接."""
    try:
        return Status.parse(str(value))
    except ValueError:
        return Status.PENDING


def _column(frame: pd.DataFrame, name: str) -> list[object]:
    return list(frame[name]) if name in frame.columns else [None] * len(frame)


def match_states(
    matches: pd.DataFrame, history: pd.DataFrame | None, as_of: dt.date
) -> pd.DataFrame:
    """One row per match: the input columns plus ``status`` (as of),
    ``stage`` (furthest funnel index reached, 0–4), ``entered_<n>`` (date of reaching stage n,
    for n = 1–4, or None) and ``signed_on`` (the date it reached 已签约, or None)."""
    changes: dict[str, list[tuple[dt.datetime | dt.date, Status]]] = defaultdict(list)
    if history is not None and not history.empty:
        for match_id, status, at in zip(
            history["match_id"], history["status"], history["changed_at"], strict=True
        ):
            day = as_date(at)
            if day is not None and day <= as_of:
                when = at if isinstance(at, dt.datetime) else pd.Timestamp(str(at)).to_pydatetime()
                changes[str(match_id)].append((when.replace(tzinfo=None), parse_status(status)))
        had_history = {str(m) for m in history["match_id"]}
    else:
        had_history = set()
    rows = []
    updated = _column(matches, "updated_at")
    for i, rec in enumerate(matches.to_dict("records")):
        match_id = str(rec["match_id"])
        entered: dict[int, dt.date | None] = dict.fromkeys(range(1, len(FUNNEL)))
        if match_id in had_history:
            steps = sorted(changes.get(match_id, []), key=lambda s: s[0])
            status = steps[-1][1] if steps else Status.PENDING
            stage = 0
            for when, step in steps:
                reached = STAGE.get(step, 0)
                for n in range(stage + 1, reached + 1):
                    entered[n] = when.date() if isinstance(when, dt.datetime) else when
                stage = max(stage, reached)
        else:
            status = parse_status(rec["status"])
            stage = STAGE.get(status, 0)
            if stage:
                entered[stage] = as_date(updated[i])
        rows.append(
            {
                **rec,
                "status": status.value,
                "stage": stage,
                **{f"entered_{n}": entered[n] for n in entered},
                "signed_on": entered[STAGE[Status.SIGNED]],
            }
        )
    columns = [
        *matches.columns,
        "status",
        "stage",
        *(f"entered_{n}" for n in range(1, len(FUNNEL))),
        "signed_on",
    ]
    return pd.DataFrame(rows, columns=list(dict.fromkeys(columns)))


def dates_known(states: pd.DataFrame) -> bool:
    """Whether any stage of any match has a date (period flows can then be counted)."""
    cols = [f"entered_{n}" for n in range(1, len(FUNNEL))]
    return bool(len(states)) and bool(states[cols].notna().to_numpy().any())
