"""Ranking quality against gold answers: R@1, R@10, MRR@10 and nDCG@10.

Definitions (as in the csl-dev benchmark's README), over the top 10 achievements ranked for
each demand that has gold labels:

* R@1, R@10: share of demands whose gold achievement (the demand's highest-graded
  label) is ranked first / within the top 10.
* MRR@10: mean of 1 / rank of the first gold achievement (0 when not in the top 10).
* nDCG@10 with graded gains ``2**grade - 1``, discount ``log2(rank + 1)``; the ideal list is
  the demand's labelled grades sorted best first. A demand with no matches scores 0.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fuzhi.errors import InputError
from fuzhi.io.parse import clean_text
from fuzhi.io.safety import check_input_file
from fuzhi.schema import header_key

CUTOFF = 10

_ALIASES = {
    "demand_id": ("demand_id", "需求编号", "Demand ID"),
    "achievement_id": ("achievement_id", "成果编号", "Achievement ID"),
    "rank": ("rank", "排名", "Rank"),
    "direction": ("direction", "方向", "Direction"),
    "grade": ("grade", "等级", "相关度"),
}


@dataclass(frozen=True)
class Metrics:
    r_at_1: float
    r_at_10: float
    mrr_at_10: float
    ndcg_at_10: float
    demands: int

    def as_dict(self) -> dict[str, float]:
        """JSON keys exactly as the benchmark names them."""
        return {
            "R@1": round(self.r_at_1, 6),
            "R@10": round(self.r_at_10, 6),
            "MRR@10": round(self.mrr_at_10, 6),
            "nDCG@10": round(self.ndcg_at_10, 6),
        }


def evaluate_rankings(
    rankings: dict[str, list[str]], gold: dict[str, dict[str, float]], cutoff: int = CUTOFF
) -> Metrics:
    """Score ``rankings`` (demand → achievement IDs, best first) against graded ``gold``."""
    if not gold:
        raise InputError("the gold file has no labelled demands")
    r1 = r10 = mrr = ndcg = 0.0
    for demand, grades in gold.items():
        ranked = rankings.get(demand, [])[:cutoff]
        best = max(grades.values())
        top = {a for a, g in grades.items() if g == best and g > 0}
        first = next((i for i, a in enumerate(ranked, start=1) if a in top), None)
        if first is not None:
            r1 += first == 1
            r10 += 1
            mrr += 1.0 / first
        dcg = sum(
            (2 ** grades.get(a, 0) - 1) / math.log2(i + 1) for i, a in enumerate(ranked, start=1)
        )
        ideal = sorted(grades.values(), reverse=True)[:cutoff]
        idcg = sum((2**g - 1) / math.log2(i + 1) for i, g in enumerate(ideal, start=1))
        ndcg += dcg / idcg if idcg > 0 else 0.0
    n = len(gold)
    return Metrics(r1 / n, r10 / n, mrr / n, ndcg / n, n)


def _rename(frame: pd.DataFrame, path: Path, needed: tuple[str, ...]) -> pd.DataFrame:
    keys = {header_key(c): c for c in frame.columns}
    mapping = {}
    for name in needed:
        found = next((keys[header_key(a)] for a in _ALIASES[name] if header_key(a) in keys), None)
        if found is None:
            raise InputError(
                f"{path}: no {name} column; expected one of {', '.join(_ALIASES[name])}"
            )
        mapping[found] = name
    if "direction" not in needed:
        direction = next(
            (keys[header_key(a)] for a in _ALIASES["direction"] if header_key(a) in keys), None
        )
        if direction is not None:
            mapping[direction] = "direction"
    return frame.rename(columns=mapping)


def _read_any(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".json", ".ndjson"):
            lines = path.read_text(encoding="utf-8-sig").splitlines()
            return pd.DataFrame([json.loads(line) for line in lines if line.strip()])
        if suffix == ".xlsx":
            check_input_file(path)
            return pd.read_excel(path, sheet_name=0, dtype=str, engine="calamine")
        return pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{path}: cannot read it as {suffix.lstrip('.') or 'csv'} ({exc})"
        ) from exc


def read_rankings(path: Path) -> dict[str, list[str]]:
    """Demand → achievement IDs by rank, from fuzhi's jsonl, csv or xlsx output."""
    frame = _rename(_read_any(path), path, ("demand_id", "achievement_id", "rank"))
    if "direction" in frame.columns:
        frame = frame[frame["direction"].fillna("demand") == "demand"]
    frame = frame.assign(rank=pd.to_numeric(frame["rank"], errors="coerce"))
    if frame["rank"].isna().any():
        raise InputError(f"{path}: some ranks are not numbers")
    out: dict[str, list[str]] = defaultdict(list)
    for d, a, _ in sorted(
        zip(
            frame["demand_id"].map(clean_text),
            frame["achievement_id"].map(clean_text),
            frame["rank"],
            strict=True,
        ),
        key=lambda t: (t[0], t[2]),
    ):
        out[d].append(a)
    return dict(out)


def read_gold(path: Path) -> dict[str, dict[str, float]]:
    """Demand → {achievement: grade} from a csv with demand_id, achievement_id, grade."""
    frame = _rename(_read_any(path), path, ("demand_id", "achievement_id", "grade"))
    grades = pd.to_numeric(frame["grade"], errors="coerce")
    if grades.isna().any():
        raise InputError(f"{path}: some grades are not numbers")
    gold: dict[str, dict[str, float]] = defaultdict(dict)
    for d, a, g in zip(
        frame["demand_id"].map(clean_text),
        frame["achievement_id"].map(clean_text),
        grades,
        strict=True,
    ):
        gold[d][a] = max(float(g), gold[d].get(a, 0.0))
    return dict(gold)


def evaluate_files(matches: Path, gold: Path, cutoff: int = CUTOFF) -> Metrics:
    """``fuzhi evaluate``: read both files and score the rankings."""
    return evaluate_rankings(read_rankings(matches), read_gold(gold), cutoff)
