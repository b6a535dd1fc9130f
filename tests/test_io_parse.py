"""Cell value parsers: example tables and hypothesis properties."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzhi.io.parse import (
    EXCEL_CELL_LIMIT,
    clean_column,
    clean_text,
    parse_count,
    parse_date,
    parse_money,
    parse_trl,
    split_keywords,
)

PARSERS: list[Callable[[object], object]] = [
    clean_text,
    parse_trl,
    parse_money,
    parse_date,
    parse_count,
    split_keywords,
]
CHINESE_NUMERALS = "一二三四五六七八九"
EXCEL_EPOCH = dt.date(1899, 12, 30)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        (float("nan"), ""),
        (np.float32("nan"), ""),
        (pd.NaT, ""),
        (pd.NA, ""),
        (1001.0, "1001"),
        (np.float64(1001.0), "1001"),
        (np.int64(7), "7"),
        (12.5, "12.5"),
        ("ＴＲＬ６", "TRL6"),
        ("智能制造，工业互联网；（试点）", "智能制造,工业互联网;(试点)"),
        ("保留。、《》“”【】", "保留。、《》“”【】"),
        ("面积 10m²，CO₂ 排放 ①", "面积 10m²,CO₂ 排放 ①"),
        ("  a\u3000\u3000b\xa0c\n\td\r\n ", "a b c d"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("bell\x07 and\x00 nul", "bell and nul"),
        (dt.datetime(2025, 7, 1), "2025-07-01"),
        (pd.Timestamp("2025-07-01 08:30"), "2025-07-01 08:30:00"),
        (dt.date(2025, 7, 1), "2025-07-01"),
    ],
)
def test_clean_text(value: object, expected: str) -> None:
    assert clean_text(value) == expected


def test_clean_text_truncates_to_excel_cell_limit() -> None:
    assert len(clean_text("字" * 40_000)) == EXCEL_CELL_LIMIT


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", None),
        (None, None),
        (float("nan"), None),
        (6, 6),
        (6.0, 6),
        (np.int64(6), 6),
        ("6", 6),
        ("6.0", 6),
        ("TRL6", 6),
        ("TRL 6", 6),
        ("trl-6", 6),
        ("ＴＲＬ６", 6),
        ("TRL：6", 6),
        ("6级", 6),
        ("六级", 6),
        ("第6级", 6),
        ("第六级", 6),
        ("TRL六级", 6),
        ("成熟度6级", 6),
        ("技术成熟度 3 级", 3),
        ("L6", 6),
        ("1", 1),
        ("9", 9),
    ],
)
def test_parse_trl(value: object, expected: int | None) -> None:
    assert parse_trl(value) == expected


@pytest.mark.parametrize(
    "value", [0, 10, 6.5, True, "0", "10", "很高", "6.5", "十级", "TRL", "6-7", "٣"]
)
def test_parse_trl_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="technology readiness level 1–9"):
        parse_trl(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", None),
        (None, None),
        ("面议", None),
        ("待定", None),
        ("协商", None),
        ("议价", None),
        ("-", None),
        (50, 50.0),
        (0, 0.0),
        (12.5, 12.5),
        ("50万元", 50.0),
        ("50万", 50.0),
        ("0.5亿", 5000.0),
        ("0.5亿元", 5000.0),
        ("1,200万元", 1200.0),
        ("300元", 0.03),
        ("12.5", 12.5),
        ("￥80万", 80.0),
        ("¥80万", 80.0),
        ("80 万元", 80.0),
        ("５０万元", 50.0),
        ("3千万", 3000.0),
        ("人民币20万元", 20.0),
    ],
)
def test_parse_money(value: object, expected: float | None) -> None:
    result = parse_money(value)
    if expected is None:
        assert result is None
    else:
        assert result is not None and math.isclose(result, expected)


@pytest.mark.parametrize("value", [-1, -0.5, "-50万", "¥-5万"])
def test_parse_money_rejects_negative(value: object) -> None:
    with pytest.raises(ValueError, match="0 or more"):
        parse_money(value)


@pytest.mark.parametrize("value", ["约几十万", "50-100万", "1e5", "50美元", float("inf"), 10**400])
def test_parse_money_rejects_garbage(value: object) -> None:
    with pytest.raises(ValueError, match="expected an amount in 万元"):
        parse_money(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", None),
        (None, None),
        (pd.NaT, None),
        (dt.datetime(2025, 7, 1, 15, 30), dt.date(2025, 7, 1)),
        (dt.date(2025, 7, 1), dt.date(2025, 7, 1)),
        (pd.Timestamp("2025-07-01"), dt.date(2025, 7, 1)),
        ("2025-07-01", dt.date(2025, 7, 1)),
        ("2025/7/1", dt.date(2025, 7, 1)),
        ("2025.7.1", dt.date(2025, 7, 1)),
        ("2025年7月1日", dt.date(2025, 7, 1)),
        ("2025 年 7 月 1 号", dt.date(2025, 7, 1)),
        ("2025年7月", dt.date(2025, 7, 1)),
        ("2025-07", dt.date(2025, 7, 1)),
        ("20250701", dt.date(2025, 7, 1)),
        (20250701, dt.date(2025, 7, 1)),
        ("2025-07-01 00:00:00", dt.date(2025, 7, 1)),
        ("2025-07-01T08:30:00", dt.date(2025, 7, 1)),
        (45839, dt.date(2025, 7, 1)),
        (45839.0, dt.date(2025, 7, 1)),
        (45839.75, dt.date(2025, 7, 1)),
        ("45839", dt.date(2025, 7, 1)),
        (18264, dt.date(1950, 1, 1)),
    ],
)
def test_parse_date(value: object, expected: dt.date | None) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize(
    "value",
    ["2025-02-30", "2025-13-01", "明年", "2025", 2025, 60, 18263, 73416, "2025-7/1", dt.time(8, 0)],
)
def test_parse_date_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="expected a date"):
        parse_date(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", None), (None, None), (0, 0), ("12", 12), (12.0, 12), ("12个", 12), ("12家", 12)],
)
def test_parse_count(value: object, expected: int | None) -> None:
    assert parse_count(value) == expected


@pytest.mark.parametrize(
    "value", [-1, "-1", 1.5, "1.5", "很多", float("inf"), True, 10**20, "100000000000000000000"]
)
def test_parse_count_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="whole number"):
        parse_count(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", []),
        (None, []),
        (
            "人工智能；机器学习,AI、视觉 | 检测/人工智能  ;；",
            ["人工智能", "机器学习", "AI", "视觉", "检测"],
        ),
        ("新材料，，石墨烯\n储能", ["新材料", "石墨烯", "储能"]),
    ],
)
def test_split_keywords(value: object, expected: list[str]) -> None:
    assert split_keywords(value) == expected


def _trl_forms(level: int) -> list[object]:
    numeral = CHINESE_NUMERALS[level - 1]
    return [
        level,
        float(level),
        str(level),
        f"TRL{level}",
        f"TRL {level}",
        f"trl-{level}",
        f"{level}级",
        f"{numeral}级",
        f"第{level}级",
        f"第{numeral}级",
        f"TRL{numeral}级",
        f"L{level}",
    ]


@given(st.integers(min_value=1, max_value=9))
def test_parse_trl_round_trips_every_form(level: int) -> None:
    assert {parse_trl(form) for form in _trl_forms(level)} == {level}


UNITS_IN_WAN: dict[str, Decimal | int] = {
    "": 1,
    "万": 1,
    "万元": 1,
    "元": Decimal("0.0001"),
    "亿": 10_000,
    "亿元": 10_000,
}


@given(
    st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False),
    st.sampled_from(sorted(UNITS_IN_WAN)),
    st.booleans(),
)
def test_parse_money_amount_with_unit(amount: Decimal, unit: str, thousands: bool) -> None:
    written = f"{amount:,}" if thousands else str(amount)
    result = parse_money(written + unit)
    assert result is not None
    assert math.isclose(result, float(amount * UNITS_IN_WAN[unit]), rel_tol=1e-12)


@given(st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_parse_date_round_trips(day: dt.date) -> None:
    serial = (day - EXCEL_EPOCH).days
    forms: list[object] = [
        day.isoformat(),
        f"{day.year}/{day.month}/{day.day}",
        f"{day.year}.{day.month}.{day.day}",
        f"{day.year}年{day.month}月{day.day}日",
        day.strftime("%Y%m%d"),
        serial,
        float(serial),
        str(serial),
        dt.datetime.combine(day, dt.time(12)),
    ]
    assert {parse_date(form) for form in forms} == {day}


@pytest.mark.parametrize("parser", PARSERS)
@given(value=st.one_of(st.text(), st.integers(), st.floats(), st.none()))
def test_parsers_raise_only_value_error(parser: Callable[[object], object], value: object) -> None:
    with contextlib.suppress(ValueError):
        parser(value)


@given(st.text())
def test_clean_text_is_idempotent_and_has_no_control_characters(text: str) -> None:
    cleaned = clean_text(text)
    assert clean_text(cleaned) == cleaned
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned
    assert not any(
        unicodedata.category(ch) in ("Cc", "Cf") or (ch.isspace() and ch != " ") for ch in cleaned
    )


@given(st.lists(st.text(alphabet="人工智能材料ABC12", min_size=1), max_size=8))
def test_split_keywords_keeps_order_without_repeats(words: list[str]) -> None:
    result = split_keywords("；".join(words))
    assert result == list(dict.fromkeys(words))


def reference_clean_text(text: str) -> str:
    """clean_text of a string as specified: per-character control removal, full NFKC
    outside superscripts/subscripts/enclosed numbers, whitespace folded, Excel's limit."""
    text = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    parts = re.split(r"([\u00b2\u00b3\u00b9\u2070-\u209f\u2460-\u24ff]+)", text)
    text = "".join(p if i % 2 else unicodedata.normalize("NFKC", p) for i, p in enumerate(parts))
    return " ".join(text.split())[:EXCEL_CELL_LIMIT].rstrip()


# Characters that take clean_text's shortcuts or meet them: full-width forms and spaces,
# letterlike symbols and Roman numerals, superscripts, circled digits, combining marks
# (acute, cedilla, kana voicing, overline), half-width kana and jamo, CJK, controls, formats.
TRICKY_CHARS = (
    "，：；（）！？％＋－．／０９ＡＺａｚ［］｛｝～＂＇￥￠￡￢￣￤￦\u3000"
    "℃℉№™ℓΩKÅⅠⅡⅢⅣⅫⅰⅱ…‥″‴"
    "²³¹⁰⁴⁵₀₂₉ⁱⁿ①②⑳⑴⒈ⓐ⓪⓫"
    "\u0301\u0327\u0308\u0305\u3099\u309a\u0b3e\u0b47"
    "ｶﾞﾟﾊｧ\uffa1\uffa4\uffc2\u1100\u1161"
    "人工智能材料检测。、《》“”【】eEaA1 0."
    "\t\n\r\x0b\x0c\x1c\x85\xa0\u2028\u2029\u200b\u200d\ufeff\x00\x07\x7f\ue000\U000e0041"
)
tricky_text = st.text(
    alphabet=st.one_of(st.sampled_from(TRICKY_CHARS), st.characters()), max_size=60
)


@given(tricky_text)
def test_clean_text_agrees_with_plain_nfkc(text: str) -> None:
    assert clean_text(text) == reference_clean_text(text)


@pytest.mark.parametrize(
    "context",
    ["{}", "e{}", "{}\u0301", "{}\u0327\u0301", "ｶ{}", "{}ﾞ", "{}²", "①{}", " {} ", "\n{}\u3000"],
)
def test_clean_text_agrees_with_plain_nfkc_on_every_shortcut_character(context: str) -> None:
    """Full-width forms, letterlike symbols, Roman numerals and the like, each in contexts
    where NFKC composes or keeps neighbours."""
    ranges = [(0x2024, 0x2037), (0x2100, 0x218F), (0x3000, 0x3000), (0xFF01, 0xFFEF)]
    for first, last in ranges:
        for code in range(first, last + 1):
            text = context.format(chr(code))
            assert clean_text(text) == reference_clean_text(text), hex(code)


def test_clean_text_of_long_text_with_full_width_punctuation() -> None:
    text = "基于深度学习的钢板表面缺陷检测（试点），精度≥９９％；温度℃，Ⅱ期①\n" * 2_000
    assert clean_text(text) == reference_clean_text(text)
    assert clean_text(text).startswith("基于深度学习的钢板表面缺陷检测(试点),精度≥99%;温度°C,II期①")


@given(
    st.lists(
        st.one_of(
            st.sampled_from([1, 1.0, True, False, 0, -0.0, float("nan"), None, "1", " 1 ", "１"]),
            st.text(alphabet=TRICKY_CHARS, max_size=8),
            st.integers(),
            st.floats(),
            st.dates(),
        ),
        max_size=30,
    )
)
def test_clean_column_is_clean_text_of_each_cell(values: list[object]) -> None:
    assert clean_column(values) == [clean_text(v) for v in values]
