"""Event-specific checks of a 深度行 activity log, on top of the generic validation.

The generic validation (:func:`fuzhi.io.records.validate_table`) already rejects rows with
no usable 活动日期 and leaves unparseable or negative counts and amounts empty with a
warning. :func:`validate_events` adds what only events need: a 活动形式 from the
programme's list (common variants such as "路演" are mapped onto it), a 地区 that names a
province or city, dates inside the programme window, and counts that agree with each other.
Every finding is a warning: the event still happened and still counts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd

from fuzhi.config import Targets
from fuzhi.io.records import ROW, Library, Problem, Severity
from fuzhi.regions import parse_place
from fuzhi.schema import EVENT_FORMS, Kind, field_by_name

# Substrings that identify a form, checked in order, for text that is not an exact form.
FORM_VARIANTS: tuple[tuple[str, str], ...] = (
    ("产融", "产融对接"),
    ("路演", "成果路演"),
    ("供需", "供需对接"),
    ("对接", "供需对接"),
    ("展览", "展览展示"),
    ("展示", "展览展示"),
    ("展会", "展览展示"),
    ("论坛", "大会论坛"),
    ("大会", "大会论坛"),
)

FORM_EXPECTED = f"expected one of {'、'.join(EVENT_FORMS)}; form left empty"
REGION_EXPECTED = (
    "expected a province or city (e.g. 江苏省, 苏州市); the event counts under 未识别地区"
)


def normalise_form(text: str) -> str | None:
    """The programme's name for an event form, or None when ``text`` names none of them."""
    value = text.replace(" ", "")
    if value in EVENT_FORMS:
        return value
    for needle, form in FORM_VARIANTS:
        if needle in value:
            return form
    return None


def _int(value: object) -> int | None:
    return None if value is None or pd.isna(value) else int(value)  # type: ignore[call-overload]


def validate_events(library: Library, targets: Targets | None = None) -> Library:
    """Check an events library; return a copy with forms normalised and problems added."""
    if library.kind is not Kind.EVENTS:
        raise ValueError(f"validate_events needs an events library, not {library.kind.value}")
    targets = targets or Targets()
    source = library.sources[0] if len(library.sources) == 1 else None
    headers = {name: header for header, name in (source.columns if source else {}).items()}
    problems: list[Problem] = []

    def report(row: object, name: str, value: object, expected: str) -> None:
        column = headers.get(name, field_by_name(Kind.EVENTS, name).zh)
        problems.append(
            Problem(
                source.path if source else "",
                source.sheet if source else None,
                _int(row),
                column,
                "" if value is None else str(value),
                expected,
                Severity.WARNING,
            )
        )

    records = library.records.copy()
    forms = []
    for rec in records.to_dict("records"):
        row = rec[ROW]
        form = str(rec["form"] or "")
        canonical = normalise_form(form) if form else None
        if form and canonical is None:
            report(row, "form", form, FORM_EXPECTED)
        forms.append(canonical or "")
        region = str(rec["region"] or "")
        if region and not parse_place(region).province:
            report(row, "region", region, REGION_EXPECTED)
        day = rec["date"]
        if isinstance(day, dt.date) and not (
            targets.programme_start <= day <= targets.programme_end
        ):
            report(
                row,
                "date",
                day.isoformat(),
                f"expected a date within the programme ({targets.programme_start} to "
                f"{targets.programme_end}); the event is kept",
            )
        intents, contracts = _int(rec["intents"]), _int(rec["contracts"])
        if intents is not None and contracts is not None and contracts > intents:
            report(
                row,
                "contracts",
                str(contracts),
                f"签约项目数 above 达成意向数 ({intents}); check both counts",
            )
        amount = rec["amount"]
        if contracts == 0 and amount is not None and not pd.isna(amount) and amount > 0:
            report(row, "amount", f"{amount:g}", "签约金额 given but 签约项目数 is 0; check both")
    records["form"] = pd.Series(forms, index=records.index, dtype=object)
    return dataclasses.replace(library, records=records, problems=[*library.problems, *problems])
