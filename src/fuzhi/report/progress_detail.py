"""The 明细 and 匹配明细 sheets of the progress report: the rows behind the figures."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from fuzhi.report.progress_labels import label
from fuzhi.report.sheet_writer import DATE, INT, MONEY, SheetWriter
from fuzhi.schema import Kind, field_by_name, result_label


def write_detail(
    ws: Worksheet, frame: pd.DataFrame, columns: list[tuple[str, str, str | None]]
) -> None:
    """A flat table: (column in frame, header, number format) per column."""
    w = SheetWriter(ws)
    w.header(1, 1, [head for _, head, _ in columns])
    for r, rec in enumerate(frame.to_dict("records"), start=2):
        for c, (name, _, fmt) in enumerate(columns, start=1):
            value = rec.get(name)
            if value is not None and not isinstance(value, str) and pd.isna(value):
                value = None
            if fmt == DATE and value is not None and not isinstance(value, dt.date):
                value = dt.date.fromisoformat(str(value)[:10])
            w.put(r, c, value, fmt)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(len(frame), 1) + 1}"
    w.finish(maximum=40)


def event_columns(lang: str) -> list[tuple[str, str, str | None]]:
    def f(name: str, fmt: str | None = None) -> tuple[str, str, str | None]:
        return (name, field_by_name(Kind.EVENTS, name).header(lang), fmt)

    return [
        f("id"),
        f("name"),
        f("date", DATE),
        f("region"),
        ("locality", label("h.province", lang), None),
        ("group", label("h.group", lang), None),
        f("organiser"),
        f("form"),
        f("enterprises", INT),
        f("achievements", INT),
        f("intents", INT),
        f("contracts", INT),
        f("amount", MONEY),
    ]


def match_columns(frame: pd.DataFrame, lang: str) -> list[tuple[str, str, str | None]]:
    cols: list[tuple[str, str, str | None]] = [
        ("match_id", result_label("match_id", lang), None),
        ("demand_id", field_by_name(Kind.DEMANDS, "id").header(lang), None),
        ("achievement_id", field_by_name(Kind.ACHIEVEMENTS, "id").header(lang), None),
        ("score", result_label("score", lang), "0.000"),
        ("status", label("h.status_as_of", lang), None),
        ("stage_name", label("h.stage_reached", lang), None),
        *((f"entered_{n}", label(f"h.entered_{n}", lang), DATE) for n in range(1, 5)),
        ("signed_amount", label("h.signed_amount", lang), MONEY),
        ("demand_region", label("h.demand_region", lang), None),
        ("demand_industry", label("h.demand_industry", lang), None),
    ]
    return [c for c in cols if c[0] in frame.columns or c[0] == "stage_name"]
