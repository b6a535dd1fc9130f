"""Reporting periods: a year ("2025"), a quarter ("2025Q3") or a month ("2025-07").

A period knows its first and last day, its months, the period of the same length before it
and its Chinese and English labels. Text that is not one of the accepted forms is a
:class:`~fuzhi.errors.UsageError` naming them.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from fuzhi.errors import UsageError

ACCEPTED_FORMS = "2025 (a year), 2025Q3 (a quarter) or 2025-07 (a month)"

_YEAR = re.compile(r"(\d{4})年?")
_QUARTER = re.compile(r"(\d{4})(?:-?Q|年第?)([1-4])(?:季度?)?", re.IGNORECASE)
_MONTH = re.compile(r"(\d{4})(?:[-/.]|年)(\d{1,2})月?")


class Grain(StrEnum):
    YEAR = "year"
    QUARTER = "quarter"
    MONTH = "month"


_MONTHS_IN = {Grain.YEAR: 12, Grain.QUARTER: 3, Grain.MONTH: 1}


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month."""

    year: int
    month: int

    @classmethod
    def of(cls, day: dt.date) -> Month:
        return cls(day.year, day.month)

    def key(self) -> str:
        return f"{self.year}-{self.month:02d}"

    def first_day(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    def last_day(self) -> dt.date:
        return self.shift(1).first_day() - dt.timedelta(days=1)

    def shift(self, months: int) -> Month:
        index = self.year * 12 + (self.month - 1) + months
        return Month(index // 12, index % 12 + 1)

    @property
    def quarter(self) -> int:
        return (self.month - 1) // 3 + 1


@dataclass(frozen=True)
class Period:
    """A year, quarter or month; ``index`` is the quarter (1–4) or month (1–12), 1 for a year."""

    grain: Grain
    year: int
    index: int = 1

    def __post_init__(self) -> None:
        if not 1900 <= self.year <= 9998:
            raise UsageError(f"period year {self.year} is out of range")
        top = {Grain.YEAR: 1, Grain.QUARTER: 4, Grain.MONTH: 12}[self.grain]
        if not 1 <= self.index <= top:
            raise UsageError(f"period {self.year} {self.grain.value} {self.index} does not exist")

    @property
    def first_month(self) -> Month:
        if self.grain is Grain.YEAR:
            return Month(self.year, 1)
        if self.grain is Grain.QUARTER:
            return Month(self.year, 3 * self.index - 2)
        return Month(self.year, self.index)

    @property
    def start(self) -> dt.date:
        return self.first_month.first_day()

    @property
    def end(self) -> dt.date:
        return self.months()[-1].last_day()

    def months(self) -> list[Month]:
        first = self.first_month
        return [first.shift(i) for i in range(_MONTHS_IN[self.grain])]

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        if self.grain is Grain.YEAR:
            return Period(Grain.YEAR, self.year - 1)
        count = 4 if self.grain is Grain.QUARTER else 12
        index = self.year * count + self.index - 2
        return Period(self.grain, index // count, index % count + 1)

    def key(self) -> str:
        """The canonical text form, as accepted by :func:`parse_period`."""
        if self.grain is Grain.YEAR:
            return str(self.year)
        if self.grain is Grain.QUARTER:
            return f"{self.year}Q{self.index}"
        return f"{self.year}-{self.index:02d}"

    def label(self, lang: str = "zh") -> str:
        if lang == "en":
            return self.key()
        if self.grain is Grain.YEAR:
            return f"{self.year}年"
        if self.grain is Grain.QUARTER:
            return f"{self.year}年第{self.index}季度"
        return f"{self.year}年{self.index}月"

    def __str__(self) -> str:
        return self.key()


def parse_period(text: str) -> Period:
    """Parse "2025", "2025Q3" (also "2025-Q3", "2025年第3季度") or "2025-07" ("2025年7月")."""
    value = unicodedata.normalize("NFKC", str(text)).strip().replace(" ", "")
    if m := _YEAR.fullmatch(value):
        return Period(Grain.YEAR, int(m.group(1)))
    if m := _QUARTER.fullmatch(value):
        return Period(Grain.QUARTER, int(m.group(1)), int(m.group(2)))
    if (m := _MONTH.fullmatch(value)) and 1 <= int(m.group(2)) <= 12:
        return Period(Grain.MONTH, int(m.group(1)), int(m.group(2)))
    raise UsageError(f"--period {text!r}: expected {ACCEPTED_FORMS}")


def year_of(day: dt.date) -> Period:
    """The default period: the calendar year containing ``day``."""
    return Period(Grain.YEAR, day.year)


def parse_as_of(text: str) -> dt.date:
    """An ``--as-of`` date in ISO form (2025-06-30)."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--as-of {text!r}: expected a date such as 2025-06-30") from None


def months_between(first: Month, last: Month) -> list[Month]:
    """Every month from ``first`` to ``last`` inclusive (empty when last < first)."""
    out = []
    month = first
    while month <= last:
        out.append(month)
        month = month.shift(1)
    return out
