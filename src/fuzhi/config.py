"""Workspace settings in ``fuzhi.toml``: matching weights, dictionaries and programme targets.

Every key is optional; a missing key takes the documented default. Unknown keys and values
of the wrong type are errors naming the file and key, so a typo never passes silently.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from fuzhi.errors import InputError
from fuzhi.match.factors import FactorWeights

CONFIG_NAME = "fuzhi.toml"


@dataclass(frozen=True)
class Targets:
    """The programme's targets (科技成果赋智中小企业专项行动, 2023—2025) and an agency's own."""

    events_per_locality_per_year: int = 10
    events_total: int = 30
    programme_start: dt.date = dt.date(2023, 1, 1)
    programme_end: dt.date = dt.date(2025, 12, 31)
    matches_contacted: int | None = None
    contracts_signed: int | None = None


@dataclass(frozen=True)
class MatchSettings:
    k: int = 10
    min_score: float = 0.0
    candidates: int = 50


@dataclass(frozen=True)
class TextSettings:
    """Extra dictionaries, relative to the workspace folder."""

    user_dicts: tuple[Path, ...] = ()
    synonyms: tuple[Path, ...] = ()
    stopwords: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Settings:
    match: MatchSettings = field(default_factory=MatchSettings)
    weights: FactorWeights = field(default_factory=FactorWeights)
    text: TextSettings = field(default_factory=TextSettings)
    targets: Targets = field(default_factory=Targets)


DEFAULT_TOML = """\
# fuzhi workspace settings. Every key is optional; the values shown are the defaults.

[match]
k = 10              # matches kept per demand / achievement
min_score = 0.0     # drop matches scoring below this (0–1)
candidates = 50     # text candidates re-ranked by the structured factors

[weights]           # largest discount each factor applies to the text score (0 = off)
field = 0.15
industry = 0.15
region = 0.10
trl = 0.30
budget = 0.20

[text]              # extra dictionaries, paths relative to this folder
user_dicts = []     # jieba format: one "word [freq] [tag]" per line
synonyms = []       # one group per line, comma-separated, first is canonical
stopwords = []      # one word per line

[targets]           # 科技成果赋智中小企业专项行动 (2023—2025)
events_per_locality_per_year = 10
events_total = 30
programme_start = 2023-01-01
programme_end = 2025-12-31
# matches_contacted = 200
# contracts_signed = 20
"""


def _section(cls: type[Any], data: dict[str, Any], where: str, base: Path) -> Any:
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise InputError(f"{where}: unknown key {key!r}; known: {', '.join(known)}")
        default = getattr(cls(), key)
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InputError(f"{where}.{key}: expected a list of file paths")
            value = tuple((base / v) for v in value)
        elif isinstance(default, dt.date) and not isinstance(value, dt.date):
            raise InputError(f"{where}.{key}: expected a date such as 2025-12-31")
        elif isinstance(default, bool) or (
            default is not None
            and not isinstance(value, type(default))
            and not (isinstance(default, float) and isinstance(value, int))
        ):
            raise InputError(f"{where}.{key}: expected {type(default).__name__}, got {value!r}")
        elif default is None and not isinstance(value, int):
            raise InputError(f"{where}.{key}: expected a whole number, got {value!r}")
        values[key] = float(value) if isinstance(default, float) else value
    try:
        return cls(**values)
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from exc


def load_settings(path: Path | None) -> Settings:
    """Settings from ``path`` (a ``fuzhi.toml``), or the defaults when None."""
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: settings file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from exc
    sections = {f.name: f.type for f in fields(Settings)}
    unknown = set(data) - set(sections)
    if unknown:
        raise InputError(
            f"{path}: unknown section(s) {', '.join(sorted(unknown))}; known: {', '.join(sections)}"
        )
    classes = {
        "match": MatchSettings,
        "weights": FactorWeights,
        "text": TextSettings,
        "targets": Targets,
    }
    parts = {}
    for name, cls in classes.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise InputError(f"{path}: [{name}] must be a table")
        parts[name] = _section(cls, table, f"{path} [{name}]", path.parent)
    return Settings(**parts)
