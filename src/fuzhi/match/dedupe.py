"""Near-duplicate achievements: the same result submitted by several sources.

Achievements whose text similarity reaches a threshold are linked, and linked groups
(connected components) form clusters. Each cluster keeps one representative — the most
complete record — and names the fields on which its members disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fuzhi.errors import UsageError
from fuzhi.io.parse import clean_text
from fuzhi.match.engine import documents
from fuzhi.match.text import TextModel, TextOptions, text_top_k
from fuzhi.schema import ACHIEVEMENT_FIELDS, Kind

DEFAULT_THRESHOLD = 0.9
NEIGHBOURS = 10


@dataclass(frozen=True)
class Cluster:
    """A group of near-duplicates; ``members[0]`` is the representative."""

    cluster_id: str
    members: list[str]
    similarity: dict[str, float]  # each member's strongest link inside the cluster
    differing: list[str] = field(default_factory=list)  # canonical field names


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def _completeness(row: pd.Series) -> tuple[int, int]:
    filled = sum(1 for f in ACHIEVEMENT_FIELDS if clean_text(row.get(f.name)) != "")
    return filled, len(clean_text(row.get("description")))


def _differing(members: pd.DataFrame) -> list[str]:
    out = []
    for f in ACHIEVEMENT_FIELDS:
        if f.name == "id":
            continue
        values = {clean_text(v) for v in members[f.name]} - {""}
        if len(values) > 1:
            out.append(f.name)
    return out


def find_duplicates(
    records: pd.DataFrame,
    threshold: float = DEFAULT_THRESHOLD,
    *,
    options: TextOptions | None = None,
    cache_dir: Path | None = None,
) -> list[Cluster]:
    """Clusters of two or more achievements whose text similarity is ≥ ``threshold``."""
    if not 0.0 < threshold <= 1.0:
        raise UsageError(f"--threshold {threshold}: expected a number above 0 and at most 1")
    records = records.sort_values("id", kind="stable").reset_index(drop=True)
    if len(records) < 2:
        return []
    docs = documents(records, Kind.ACHIEVEMENTS)
    model, vectors, _ = TextModel.fit_transform(
        docs, [], options or TextOptions(), cache_dir=cache_dir
    )
    top = text_top_k(
        model,
        vectors,
        vectors,
        min(NEIGHBOURS + 1, len(records)),
        min_score=threshold,
        feedback=False,  # plain cosines: feedback would blur what "the same text" means
    )
    links = _UnionFind(len(records))
    strongest = np.zeros(len(records))
    for i in range(len(records)):
        for j, score in zip(top.indices[i], top.scores[i], strict=True):
            if j < 0 or j == i or score < threshold:
                continue
            links.union(i, int(j))
            strongest[i] = max(strongest[i], float(score))
            strongest[j] = max(strongest[j], float(score))
    groups: dict[int, list[int]] = {}
    for i in range(len(records)):
        groups.setdefault(links.find(i), []).append(i)
    clusters = []
    for members in groups.values():
        if len(members) < 2:
            continue
        rows = records.iloc[members]
        order = sorted(
            members,
            key=lambda i: (tuple(-x for x in _completeness(records.iloc[i])), records["id"][i]),
        )
        ids = [records["id"][i] for i in order]
        clusters.append(
            Cluster(
                cluster_id="",
                members=ids,
                similarity={records["id"][i]: round(float(strongest[i]), 6) for i in order},
                differing=_differing(rows),
            )
        )
    clusters.sort(key=lambda c: c.members[0])
    return [
        Cluster(f"C{n:04d}", c.members, c.similarity, c.differing)
        for n, c in enumerate(clusters, start=1)
    ]


def representatives(
    records: pd.DataFrame, clusters: list[Cluster]
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Records with each cluster reduced to its representative, and representative → others."""
    others = {c.members[0]: c.members[1:] for c in clusters}
    dropped = {m for c in clusters for m in c.members[1:]}
    return records[~records["id"].isin(dropped)].reset_index(drop=True), others
