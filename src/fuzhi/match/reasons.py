"""Explain a match in one sentence an analyst trusts, in Chinese (default) or English.

e.g. “共同关键词：机器视觉、缺陷检测；成熟度 TRL7 满足要求 TRL6；同属长三角”.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from fuzhi.regions import parse_place
from fuzhi.schema import Lang


def _num(value: Any) -> float | None:
    if type(value) is float:  # what the frames hold: a float or NaN
        return None if value != value else value
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _money(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def explain(
    shared_terms: Sequence[str],
    factors: Mapping[str, Any],
    demand: Mapping[str, Any],
    achievement: Mapping[str, Any],
    lang: Lang | str = Lang.ZH,
) -> str:
    """The reasons sentence for one pair; ``factors`` maps factor name → value or NaN."""
    zh = lang is Lang.ZH or Lang(lang) is Lang.ZH
    parts: list[str] = []
    if shared_terms:
        joined = ("、" if zh else ", ").join(shared_terms)
        parts.append(f"共同关键词：{joined}" if zh else f"shared terms: {joined}")
    f_field, f_industry = _num(factors.get("field")), _num(factors.get("industry"))
    if f_field is not None and f_field >= 0.8:
        parts.append(
            f"同属{achievement.get('field')}领域"
            if zh
            else f"same field ({achievement.get('field')})"
        )
    if f_industry is not None and f_industry >= 0.8:
        parts.append(
            f"行业一致（{achievement.get('industry')}）"
            if zh
            else f"same industry ({achievement.get('industry')})"
        )
    elif f_industry == 0.0:
        parts.append("行业不同" if zh else "different industry")
    have, need = _num(achievement.get("trl")), _num(demand.get("trl"))
    if have is not None and need is not None:
        ok = have >= need
        if zh:
            parts.append(f"成熟度 TRL{have:.0f} {'满足' if ok else '低于'}要求 TRL{need:.0f}")
        else:
            parts.append(f"TRL{have:.0f} {'meets' if ok else 'below'} required TRL{need:.0f}")
    region = _num(factors.get("region"))
    if region is not None and region > 0:
        dp = parse_place(str(demand.get("region") or ""))
        ap = parse_place(str(achievement.get("region") or ""))
        if region >= 1.0:
            where = ap.short_province or ap.province
            parts.append(f"同在{where}" if zh else f"both in {where}")
        else:
            parts.append(f"同属{ap.group or dp.group}" if zh else f"both in {ap.group or dp.group}")
    price, budget = _num(achievement.get("price")), _num(demand.get("budget"))
    if price is not None and budget is not None:
        if price <= budget:
            parts.append(
                f"价格 {_money(price)} 万元在预算 {_money(budget)} 万元内"
                if zh
                else f"price {_money(price)} within budget {_money(budget)} (10k CNY)"
            )
        else:
            parts.append(
                f"价格 {_money(price)} 万元超出预算 {_money(budget)} 万元"
                if zh
                else f"price {_money(price)} above budget {_money(budget)} (10k CNY)"
            )
    return ("；" if zh else "; ").join(parts)
