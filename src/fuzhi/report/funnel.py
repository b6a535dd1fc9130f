"""The matching funnel on a day, and attainment of the programme's and an agency's targets."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from fuzhi.config import Targets
from fuzhi.report.events import UNKNOWN_LOCALITY, EventFigures
from fuzhi.schema import FUNNEL, Status


@dataclass(frozen=True)
class FunnelStage:
    status: str
    count: int
    conversion: float | None  # share of the stage before; None for the first stage


@dataclass(frozen=True)
class Funnel:
    """Matches on the cut-off day by the furthest stage reached (each stage includes later ones)."""

    stages: list[FunnelStage]
    by_status: dict[str, int]
    total: int
    signed_amount: float


@dataclass(frozen=True)
class TargetRow:
    key: str
    target: int
    actual: int
    attainment: float


def funnel(states: pd.DataFrame) -> Funnel:
    counts = [int((states["stage"] >= i).sum()) if len(states) else 0 for i in range(len(FUNNEL))]
    stages = [
        FunnelStage(
            status.value,
            counts[i],
            None if i == 0 else (round(counts[i] / counts[i - 1], 4) if counts[i - 1] else None),
        )
        for i, status in enumerate(FUNNEL)
    ]
    current = states["status"].value_counts().to_dict() if len(states) else {}
    signed = states[states["stage"] >= 3] if len(states) else states
    amount = pd.to_numeric(signed.get("signed_amount", pd.Series(dtype=float)), errors="coerce")
    return Funnel(
        stages,
        {s.value: int(current.get(s.value, 0)) for s in Status},
        len(states),
        round(float(amount.fillna(0).sum()), 2),
    )


def target_rows(funnel: Funnel, events: EventFigures, targets: Targets) -> list[TargetRow]:
    real = [r for r in events.localities if r.locality != UNKNOWN_LOCALITY]
    rows = [
        TargetRow(
            "localities_meeting_yearly_events",
            len(real),
            events.localities_meeting_yearly_target,
            round(events.localities_meeting_yearly_target / len(real), 4) if real else 0.0,
        ),
        TargetRow(
            "localities_meeting_programme_events",
            len(real),
            events.localities_meeting_programme_target,
            round(events.localities_meeting_programme_target / len(real), 4) if real else 0.0,
        ),
    ]
    extra = (
        ("matches_contacted", targets.matches_contacted, funnel.stages[1].count),
        ("contracts_signed", targets.contracts_signed, funnel.stages[3].count),
    )
    for key, target, actual in extra:
        if target:
            rows.append(TargetRow(key, target, actual, round(actual / target, 4)))
    return rows
