"""Cell value parsers: turn what analysts type into text, TRL levels, 万元 amounts, dates, counts.

Every parser is total: on any cell value it returns a value, ``None`` for an empty cell, or
raises ``ValueError`` whose message says what was expected. Callers add the location
(file, sheet, row, column) and the offending text; see ``fuzhi.errors.location``.

Decisions:

* Text is NFKC-normalised, so full-width letters, digits and ASCII punctuation become
  half-width ("ＴＲＬ６" → "TRL6", "，" → ",", "（" → "("); punctuation with no half-width
  twin (。、《》“”【】) is left as it is. Superscripts/subscripts and enclosed numbers
  (m², CO₂, ①) are kept, because NFKC would merge them into neighbouring digits
  ("10²" → "102"). All whitespace (newlines, tabs, U+3000, U+00A0) collapses to one space;
  control and invisible format characters (U+200B, BOM) are dropped; text is cut at
  32,767 characters, Excel's cell limit.
* A month without a day ("2025年7月", "2025-07") means the 1st of that month.
* Excel serial numbers are accepted for dates from 1950 to 2100 only; in that range the
  1900 leap-year bug (serial 60 = the non-existent 1900-02-29) plays no part.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
import unicodedata
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

import pandas as pd

EXCEL_CELL_LIMIT = 32_767

TRL_EXPECTED = "expected a technology readiness level 1–9 (e.g. TRL6, 6级, 六级)"
MONEY_EXPECTED = "expected an amount in 万元 (e.g. 50, 50万元, 0.5亿, 面议)"
MONEY_NEGATIVE = "expected an amount of 0 or more in 万元"
DATE_EXPECTED = "expected a date (e.g. 2025-07-01, 2025/7/1, 2025年7月1日)"
COUNT_EXPECTED = "expected a whole number of 0 or more (e.g. 12, 12个, 12家)"

# Kept out of NFKC: superscripts, subscripts and enclosed alphanumerics (see module doc).
_NFKC_KEEP = re.compile(r"([\u00b2\u00b3\u00b9\u2070-\u209f\u2460-\u24ff]+)")
# Characters whose NFKC form can be put in directly, before the (slow) full NFKC: the
# full-width forms and a few letterlike symbols common in Chinese text ("，" → ",", "℃" → "°C",
# "Ⅱ" → "II"). Only those whose compatibility decomposition is all starters (no combining
# marks), so replacing them leaves the text's NFKC unchanged; a text still not NFKC after the
# replacement gets the full normalisation.
_QUICK_NFKC_RANGES = (
    (0x2024, 0x2026),
    (0x2033, 0x2037),
    (0x2100, 0x214F),
    (0x2160, 0x2188),
    (0x3000, 0x3000),
    (0xFF01, 0xFF5E),
    (0xFFE0, 0xFFEE),
)


def _quick_nfkc_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for first, last in _QUICK_NFKC_RANGES:
        for code in range(first, last + 1):
            char = chr(code)
            folded = unicodedata.normalize("NFKC", char)
            decomposed = unicodedata.normalize("NFKD", char)
            if folded == char or any(map(unicodedata.combining, decomposed)):
                continue
            if all(c == " " or c.isprintable() for c in folded):
                table[char] = folded
    return table


_QUICK_NFKC = _quick_nfkc_table()
_QUICK_NFKC_CHARS = re.compile("[" + "".join(map(re.escape, sorted(_QUICK_NFKC))) + "]")
_OTHER_WHITESPACE = re.compile(r"[^\S ]")  # \s is str.isspace(); all of it but " "
_CHINESE_DIGITS = {c: i for i, c in enumerate("一二三四五六七八九", start=1)}

_TRL = re.compile(
    r"(?:技术成熟度|成熟度|TRL|L)?[-_:]?第?(?P<level>[1-9]|[一二三四五六七八九])(?:\.0+)?级?",
    re.ASCII,
)

_NO_AMOUNT = frozenset(
    {"", "面议", "待定", "协商", "议价", "面谈", "-", "--", "—", "/", "无", "暂无"}
)
_MONEY = re.compile(
    r"(?:¥|RMB|人民币)?(?P<sign>-)?(?:¥|RMB)?"
    r"(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?P<unit>元|千元|万元|万|百万元|百万|千万元|千万|亿元|亿)?(?:人民币|RMB)?",
    re.ASCII,
)
_UNIT_IN_WAN = {
    None: Decimal(1),
    "元": Decimal("0.0001"),
    "千元": Decimal("0.1"),
    "万元": Decimal(1),
    "万": Decimal(1),
    "百万元": Decimal(100),
    "百万": Decimal(100),
    "千万元": Decimal(1000),
    "千万": Decimal(1000),
    "亿元": Decimal(10000),
    "亿": Decimal(10000),
}

_TIME_SUFFIX = r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
_DATE_PATTERNS = (
    re.compile(
        r"(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})" + _TIME_SUFFIX, re.ASCII
    ),
    re.compile(
        r"(?P<y>\d{4}) ?年 ?(?P<m>\d{1,2}) ?月 ?(?P<d>\d{1,2}) ?[日号]?" + _TIME_SUFFIX, re.ASCII
    ),
    re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})", re.ASCII),
    re.compile(r"(?P<y>\d{4}) ?年 ?(?P<m>\d{1,2}) ?月(?P<d>)", re.ASCII),
    re.compile(r"(?P<y>\d{4})[-/.](?P<m>\d{1,2})(?P<d>)", re.ASCII),
)
_SERIAL = re.compile(r"\d{5}(?:\.\d+)?", re.ASCII)
_EXCEL_EPOCH = dt.date(1899, 12, 30)
SERIAL_FIRST = (dt.date(1950, 1, 1) - _EXCEL_EPOCH).days
SERIAL_LAST = (dt.date(2100, 12, 31) - _EXCEL_EPOCH).days

_COUNT = re.compile(
    r"(?P<number>\d{1,3}(?:,\d{3})+|\d+)(?:\.0+)?[个家项人次场件位名所户份条]?", re.ASCII
)
_MAX_COUNT = 2**63 - 1
_KEYWORD_SEPARATORS = re.compile(r"[;,、|/\s]+")


def _is_missing(value: object) -> bool:
    """True for None, NaN, NaT and pd.NA, the ways pandas and readers spell an empty cell."""
    if type(value) is float:  # fast path: what readers return for numbers
        return value != value
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    number = _as_number(value)
    return isinstance(number, float) and math.isnan(number)


def _as_number(value: object) -> int | float | None:
    """A Python int or float for numeric cells (numpy scalars included, bool excluded)."""
    if type(value) is float or type(value) is int:  # fast path: what readers return
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    try:
        return float(value)
    except OverflowError:  # a Fraction too large for a float
        return math.inf


def _number_text(number: int | float) -> str:
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def _nfkc(text: str) -> str:
    parts = _NFKC_KEEP.split(text)
    return "".join(p if i % 2 else unicodedata.normalize("NFKC", p) for i, p in enumerate(parts))


def _quick_nfkc_char(match: re.Match[str]) -> str:
    return _QUICK_NFKC[match[0]]


def _drop_controls(text: str) -> str:
    """Whitespace of any kind becomes a space; other control and format characters go."""
    text = _OTHER_WHITESPACE.sub(" ", text)  # newlines, tabs, U+3000: the usual reason
    if text.isprintable():  # no Cc/Cf characters left
        return text
    return "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf")
    )


def clean_text(value: object) -> str:
    """Normalise a cell to display text: "" for empty, 1001.0 → "1001", NFKC, one-space runs."""
    if type(value) is str:  # the common case, kept off the numeric checks below
        text = value
    elif _is_missing(value):
        return ""
    elif (number := _as_number(value)) is not None:
        return _number_text(number)[:EXCEL_CELL_LIMIT]  # ASCII, no spaces: nothing to clean
    elif isinstance(value, dt.datetime):
        text = value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    else:
        text = str(value)
    if not text.isprintable():  # C check: whitespace other than " ", Cc/Cf characters
        text = _drop_controls(text)
    if not unicodedata.is_normalized("NFKC", text):  # C check; most cells are already NFKC
        text = _QUICK_NFKC_CHARS.sub(_quick_nfkc_char, text)
        if not unicodedata.is_normalized("NFKC", text):
            text = " ".join(_nfkc(text).split())  # NFKC may bring in other whitespace
    if "  " in text or text.strip(" ") != text:  # the only whitespace left is " "
        text = " ".join(text.split())
    return text[:EXCEL_CELL_LIMIT].rstrip()


def clean_column(values: Iterable[object]) -> list[str]:
    """:func:`clean_text` of each value; a value repeated down a column is cleaned once."""
    texts: list[str] = []
    append = texts.append
    cache: dict[object, str] = {}
    for value in values:
        kind = type(value)
        if kind is str or kind is float or kind is int:  # equal values clean alike (not bool)
            text = cache.get(value)
            if text is None:
                text = cache[value] = clean_text(value)
        else:
            text = clean_text(value)
        append(text)
    return texts


def _compact(value: object) -> str:
    """Cleaned text without any spaces, upper-cased: the form the pattern parsers match."""
    return clean_text(value).replace(" ", "").upper()


def parse_trl(value: object) -> int | None:
    """Technology readiness level 1–9 from 6, "TRL6", "trl-6", "6级", "六级", "第六级", "L6"."""
    if _is_missing(value):
        return None
    number = _as_number(value)
    if number is not None:
        if number not in range(1, 10):
            raise ValueError(TRL_EXPECTED)
        return int(number)
    text = _compact(value)
    if not text:
        return None
    match = _TRL.fullmatch(text)
    if not match:
        raise ValueError(TRL_EXPECTED)
    level = match["level"]
    return _CHINESE_DIGITS.get(level) or int(level)


def _finite(number: float, expected: str) -> float:
    if not math.isfinite(number):
        raise ValueError(expected)
    return number


def parse_money(value: object) -> float | None:
    """Amount in 万元 (10k CNY): 50, "50万元", "0.5亿" → 5000, "300元" → 0.03; "面议" → None."""
    if _is_missing(value):
        return None
    number = _as_number(value)
    if number is not None:
        if number < 0:
            raise ValueError(MONEY_NEGATIVE)
        try:
            return _finite(float(number), MONEY_EXPECTED)
        except OverflowError:  # an int beyond float range
            raise ValueError(MONEY_EXPECTED) from None
    text = _compact(value)
    if text in _NO_AMOUNT:
        return None
    match = _MONEY.fullmatch(text)
    if not match:
        raise ValueError(MONEY_EXPECTED)
    if match["sign"]:
        raise ValueError(MONEY_NEGATIVE)
    try:
        wan = Decimal(match["number"].replace(",", "")) * _UNIT_IN_WAN[match["unit"]]
    except InvalidOperation:
        raise ValueError(MONEY_EXPECTED) from None
    return _finite(float(wan), MONEY_EXPECTED)


def _from_serial(serial: float) -> dt.date:
    if not (math.isfinite(serial) and SERIAL_FIRST <= serial < SERIAL_LAST + 1):
        raise ValueError(DATE_EXPECTED)
    return _EXCEL_EPOCH + dt.timedelta(days=int(serial))


def parse_date(value: object) -> dt.date | None:
    """A date from a datetime, an Excel serial (1950–2100) or text such as 2025年7月1日."""
    if _is_missing(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    number = _as_number(value)
    if number is not None:
        if 19000101 <= number <= 99991231 and number == int(number):
            return parse_date(str(int(number)))  # 20250701 read as a number
        try:
            return _from_serial(float(number))
        except OverflowError:
            raise ValueError(DATE_EXPECTED) from None
    text = clean_text(value)
    if not text:
        return None
    if _SERIAL.fullmatch(text):
        return _from_serial(float(text))
    for pattern in _DATE_PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            try:
                return dt.date(int(match["y"]), int(match["m"]), int(match["d"] or 1))
            except ValueError:
                raise ValueError(DATE_EXPECTED) from None
    raise ValueError(DATE_EXPECTED)


def parse_count(value: object) -> int | None:
    """A non-negative whole number: 12, 12.0, "12", "12个", "12家", "1,200"."""
    if _is_missing(value):
        return None
    number = _as_number(value)
    if number is not None:
        if isinstance(number, float) and not (math.isfinite(number) and number.is_integer()):
            raise ValueError(COUNT_EXPECTED)
        if number < 0:
            raise ValueError(COUNT_EXPECTED)
        return _bounded_count(int(number))
    text = _compact(value)
    if not text:
        return None
    match = _COUNT.fullmatch(text)
    if not match:
        raise ValueError(COUNT_EXPECTED)
    return _bounded_count(int(match["number"].replace(",", "")))


def _bounded_count(count: int) -> int:
    """Counts are stored as 64-bit integers; a larger one is a typo, not a count."""
    if count > _MAX_COUNT:
        raise ValueError(COUNT_EXPECTED)
    return count


def split_keywords(value: object) -> list[str]:
    """Keywords split on ; ； , ， 、 | / and spaces, in order, without empties or repeats."""
    words = _KEYWORD_SEPARATORS.split(clean_text(value))
    return list(dict.fromkeys(filter(None, words)))
