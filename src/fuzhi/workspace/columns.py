"""The columns of the tracking workbook, the editable tracking fields and their canonical form.

Export and sync both use this table, so a header is spelled once; sync finds columns by
header text (Chinese or English, folded with :func:`fuzhi.schema.header_key`), never by
position. Values are compared in a canonical text form, so what was written and what is
read back compare equal whatever client saved the file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fuzhi.io.parse import parse_date, parse_money
from fuzhi.report.xlsx_stream import excel_text
from fuzhi.schema import Kind, Lang, Status, field_by_name, header_key

TRACKING_SHEET = ("跟踪", "Tracking")
OPTIONS_SHEET = ("选项", "Options")
META_SHEET = "_fuzhi"


@dataclass(frozen=True)
class TrackingColumn:
    """One column of the tracking sheet: where its value comes from and whether it is edited."""

    key: str
    zh: str
    en: str
    editable: bool = False
    aliases: tuple[str, ...] = ()

    def header(self, lang: Lang | str) -> str:
        return self.zh if Lang(lang) is Lang.ZH else self.en


def _field(kind: Kind, name: str, key: str) -> TrackingColumn:
    f = field_by_name(kind, name)
    return TrackingColumn(key, f.zh, f.en)


COLUMNS: tuple[TrackingColumn, ...] = (
    TrackingColumn("match_id", "匹配编号", "Match ID"),
    _field(Kind.DEMANDS, "id", "demand_id"),
    _field(Kind.DEMANDS, "title", "demand_title"),
    _field(Kind.DEMANDS, "enterprise", "enterprise"),
    _field(Kind.ACHIEVEMENTS, "id", "achievement_id"),
    _field(Kind.ACHIEVEMENTS, "title", "achievement_title"),
    _field(Kind.ACHIEVEMENTS, "holder", "holder"),
    TrackingColumn("score", "得分", "Score"),
    TrackingColumn("reasons", "匹配理由", "Reasons"),
    TrackingColumn("status", "状态", "Status", True, ("跟踪状态", "对接状态")),
    TrackingColumn("owner", "负责人", "Owner", True, ("跟进人",)),
    TrackingColumn("next_follow_up", "下次跟进日期", "Next follow-up", True, ("下次跟进",)),
    TrackingColumn(
        "contract_amount", "签约金额（万元）", "Contract amount (10k CNY)", True, ("签约金额",)
    ),
    TrackingColumn("note", "备注", "Note", True, ("说明",)),
)
BY_KEY = {c.key: c for c in COLUMNS}
EDITABLE: tuple[str, ...] = tuple(c.key for c in COLUMNS if c.editable)

# Tracking values in canonical text form: None for empty.
Values = dict[str, str | None]


def header_index() -> dict[str, str]:
    """Folded header (Chinese, English or alias) → column key."""
    index: dict[str, str] = {}
    for c in COLUMNS:
        for name in (c.zh, c.en, c.key, *c.aliases):
            index.setdefault(header_key(name), c.key)
    return index


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = excel_text(value).replace("\r\n", "\n").replace("\r", "\n").strip()
    return text or None


def _amount(value: float) -> str:
    return format(round(value, 4), "f").rstrip("0").rstrip(".")


def canonical(values: Mapping[str, Any]) -> Values:
    """Stored tracking values (status, owner, date ISO text, amount, note) as canonical text."""
    amount = values.get("contract_amount")
    follow = values.get("next_follow_up")
    if isinstance(follow, dt.date):
        follow = follow.isoformat()
    return {
        "status": Status.parse(str(values.get("status") or Status.PENDING.value)).value,
        "owner": _text(values.get("owner")),
        "next_follow_up": _text(follow),
        "contract_amount": None if amount is None else _amount(float(amount)),
        "note": _text(values.get("note")),
    }


def parse_cell(key: str, value: Any) -> str | None:
    """A workbook cell of an editable column in canonical form; ValueError says what is wrong."""
    if key == "status":
        text = _text(value)
        if text is None:
            raise ValueError("a status is required: one of " + "、".join(s.value for s in Status))
        try:
            return Status.parse(text).value
        except ValueError:
            raise ValueError("expected one of " + "、".join(s.value for s in Status)) from None
    if key == "next_follow_up":
        date = parse_date(value)
        return None if date is None else date.isoformat()
    if key == "contract_amount":
        amount = parse_money(value)
        return None if amount is None else _amount(amount)
    return _text(value)


def stored(key: str, value: str | None) -> Any:
    """A canonical value as the matches table stores it."""
    if key == "contract_amount" and value is not None:
        return float(value)
    if key == "status" and value is None:
        return Status.PENDING.value
    return value


def row_fingerprint(match_id: str, values: Values) -> str:
    """A short hash of a row's editable values as exported."""
    text = json.dumps([match_id, [values.get(k) for k in EDITABLE]], ensure_ascii=False)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
