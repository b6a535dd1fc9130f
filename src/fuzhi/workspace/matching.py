"""Match the stored libraries and keep one row per demand–achievement pair across runs.

A full run fits the text model on both libraries, stores it beside the database and scores
every demand. Later runs are incremental: only records imported or changed since the last
run (``needs_match``) are scored against the stored model, so their scores stay comparable
with the stored ones (every score keeps the model version it was made with), and the
results are merged into each demand's stored top k. Tracking fields (status, owner, note…)
are never touched here; pairs marked 不合适 are not proposed again unless asked.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from fuzhi import __version__
from fuzhi.errors import UsageError
from fuzhi.match.engine import MatchOptions, Progress, documents, match_libraries
from fuzhi.match.factors import FACTORS
from fuzhi.match.reasons import explain
from fuzhi.match.text import TextModel
from fuzhi.schema import Kind, Lang, Status
from fuzhi.workspace.locate import Workspace
from fuzhi.workspace.records import load_frame
from fuzhi.workspace.store import get_meta, now, set_meta, transaction
from fuzhi.workspace.vectors import CachedModel

MAX_REJECTED_EXTRA = 50


def match_id(demand_id: str, achievement_id: str) -> str:
    """The stable ID of a pair: the same two records always get the same match ID."""
    digest = hashlib.sha1(f"{demand_id}\x1f{achievement_id}".encode()).hexdigest()
    return f"M-{digest[:12].upper()}"


@dataclass
class WorkspaceMatch:
    """What one ``fuzhi match`` in a workspace did."""

    run_id: int
    mode: str  # "full" or "incremental"
    model_version: str | None
    demands_matched: int = 0
    achievements_matched: int = 0
    pairs_new: int = 0
    pairs_updated: int = 0
    proposed: int = 0


def parameters(options: MatchOptions) -> dict[str, Any]:
    """The options that decide scores; a change forces a full run."""
    return {
        "k": options.k,
        "min_score": options.min_score,
        "candidates": options.candidates,
        "weights": dataclasses.asdict(options.weights),
        "filters": dataclasses.asdict(options.filters),
        "text": options.text.to_json(),
        "by": "demand",
    }


def _model_path(workspace: Workspace, version: str) -> Path:
    return workspace.model_dir / f"model-{version}.npz"


def _stored_model(
    conn: sqlite3.Connection, workspace: Workspace, cache_dir: Path | None
) -> TextModel | None:
    version = get_meta(conn, "model_version")
    if version is None or not _model_path(workspace, version).is_file():
        return None
    model = TextModel.load(_model_path(workspace, version), cache_dir=cache_dir)
    return CachedModel.wrap(model, workspace.model_dir / f"vectors-{version}.npz")


def _ids_needing_match(conn: sqlite3.Connection, kind: Kind) -> list[str]:
    return [r[0] for r in conn.execute(f"SELECT id FROM {kind.value} WHERE needs_match")]


def _nan(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def match_workspace(
    conn: sqlite3.Connection,
    workspace: Workspace,
    options: MatchOptions,
    *,
    full: bool = False,
    include_rejected: bool = False,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> WorkspaceMatch:
    """Match stored demands to stored achievements (incrementally unless ``full``)."""
    params = parameters(options)
    params_json = json.dumps(params, ensure_ascii=False, sort_keys=True)
    achievements = load_frame(conn, Kind.ACHIEVEMENTS)
    demands = load_frame(conn, Kind.DEMANDS)
    if achievements.empty or demands.empty:
        raise UsageError(
            f"{workspace.root}: the workspace holds {len(achievements)} achievements and "
            f"{len(demands)} demands; import both first (fuzhi import achievements FILE, "
            "fuzhi import demands FILE)"
        )
    model = None if full else _stored_model(conn, workspace, cache_dir)
    if model is None or get_meta(conn, "match_parameters") != params_json:
        full, model = True, None
    rejected = _rejected_pairs(conn) if not include_rejected else set()
    extra = min(MAX_REJECTED_EXTRA, max((n for _, n in _per_demand(rejected)), default=0))
    run_options = dataclasses.replace(options, k=options.k + extra)

    fresh: list[pd.DataFrame] = []
    changed_d: set[str] = set()
    changed_a: set[str] = set()
    if full:
        a_docs, d_docs = (
            documents(achievements, Kind.ACHIEVEMENTS),
            documents(demands, Kind.DEMANDS),
        )
        fitted, a_vec, d_vec = TextModel.fit_transform(
            a_docs, d_docs, options.text, cache_dir=cache_dir, progress=progress
        )
        model = CachedModel.wrap(fitted, workspace.model_dir / f"vectors-{fitted.version}.npz")
        model.remember(a_docs, a_vec, d_docs, d_vec)  # match_libraries finds them cached
        result = match_libraries(achievements, demands, run_options, model=model, progress=progress)
        fresh.extend(result.frames())
        changed_d, changed_a = set(demands["id"]), set(achievements["id"])
    else:
        assert model is not None
        changed_d = set(_ids_needing_match(conn, Kind.DEMANDS))
        changed_a = set(_ids_needing_match(conn, Kind.ACHIEVEMENTS))
        for only_d, only_a in ((changed_d, None), (None, changed_a)):
            if only_d or only_a:
                result = match_libraries(
                    achievements,
                    demands,
                    run_options,
                    model=model,
                    progress=progress,
                    only_demands=only_d,
                    only_achievements=only_a,
                )
                fresh.extend(result.frames())
    frame = pd.concat(fresh, ignore_index=True) if fresh else pd.DataFrame()
    if not frame.empty and rejected:
        pairs = list(zip(frame["demand_id"], frame["achievement_id"], strict=True))
        frame = frame[[p not in rejected for p in pairs]]
    return _store(
        conn,
        workspace,
        model,
        frame,
        options.k,
        full=full,
        changed_d=changed_d,
        changed_a=changed_a,
        params_json=params_json,
        records=(demands, achievements),
    )


def _rejected_pairs(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    rows = conn.execute(
        "SELECT demand_id, achievement_id FROM matches WHERE status = ?", (Status.REJECTED.value,)
    )
    return {(r[0], r[1]) for r in rows}


def _per_demand(pairs: Collection[tuple[str, str]]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for d, _ in pairs:
        counts[d] = counts.get(d, 0) + 1
    return list(counts.items())


def _store(
    conn: sqlite3.Connection,
    workspace: Workspace,
    model: TextModel | None,
    fresh: pd.DataFrame,
    k: int,
    *,
    full: bool,
    changed_d: set[str],
    changed_a: set[str],
    params_json: str,
    records: tuple[pd.DataFrame, pd.DataFrame],
) -> WorkspaceMatch:
    """Merge fresh scores with the stored top k of the demands they touch, in one transaction."""
    version = model.version if model is not None else None
    started = now()
    demands_by_id = _by_id(records[0])
    achievements_by_id = _by_id(records[1])
    with transaction(conn):
        run_id = conn.execute(
            "INSERT INTO match_runs (started_at, mode, parameters, model_version, fuzhi_version) "
            "VALUES (?, ?, ?, ?, ?)",
            (started, "full" if full else "incremental", params_json, version, __version__),
        ).lastrowid
        assert run_id is not None
        report = WorkspaceMatch(run_id, "full" if full else "incremental", version)
        affected = set(changed_d) | (set(fresh["demand_id"]) if not fresh.empty else set())
        if not full:
            affected |= _demands_proposing(conn, changed_a)
        kept = _kept_pairs(conn, affected, changed_d, changed_a) if not full else pd.DataFrame()
        fresh = fresh.assign(_fresh=True)
        merged = pd.concat([fresh, kept.assign(_fresh=False)], ignore_index=True)
        if not merged.empty:
            merged = merged.sort_values(
                ["demand_id", "score", "achievement_id"], ascending=[True, False, True]
            ).drop_duplicates(["demand_id", "achievement_id"])
            merged["rank"] = merged.groupby("demand_id").cumcount() + 1
            merged = merged[merged["rank"] <= k]
        scope = sorted(affected) if not full else None
        conn.execute(
            "UPDATE matches SET proposed = 0 WHERE proposed AND "
            + ("1" if scope is None else "demand_id IN (SELECT value FROM json_each(?))"),
            () if scope is None else (json.dumps(scope),),
        )
        fresh_rows = merged[merged["_fresh"]] if not merged.empty else merged
        fresh_ids = [
            match_id(d, a)
            for d, a in zip(
                fresh_rows.get("demand_id", []), fresh_rows.get("achievement_id", []), strict=True
            )
        ]
        existing = {
            r[0]
            for r in conn.execute(
                "SELECT match_id FROM matches WHERE match_id IN (SELECT value FROM json_each(?))",
                (json.dumps(fresh_ids),),
            )
        }
        columns = ["demand_id", "achievement_id", "rank", "score", "text_score", "shared_terms"]
        columns += [f"f_{n}" for n in FACTORS] + ["_fresh"]
        rows = zip(*(merged[c].tolist() for c in columns), strict=True) if len(merged) else ()
        ranks: list[tuple[int, str]] = []
        upserts: list[tuple[Any, ...]] = []
        for d_id, a_id, rank, score, text_score, shared, *factor_values, is_fresh in rows:
            mid = match_id(d_id, a_id)
            if not is_fresh:
                ranks.append((int(rank), mid))
                continue
            factors = {n: _nan(v) for n, v in zip(FACTORS, factor_values, strict=True)}
            terms = list(shared)
            d, a = demands_by_id[d_id], achievements_by_id[a_id]
            if mid in existing:
                report.pairs_updated += 1
            else:
                report.pairs_new += 1
            upserts.append(
                (
                    mid,
                    d_id,
                    a_id,
                    int(rank),
                    float(score),
                    float(text_score),
                    *(factors[n] for n in FACTORS),
                    json.dumps(terms, ensure_ascii=False),
                    explain(terms, factors, d, a, Lang.ZH),
                    explain(terms, factors, d, a, Lang.EN),
                    version,
                    run_id,
                    started,
                    started,
                )
            )
        conn.executemany("UPDATE matches SET rank = ?, proposed = 1 WHERE match_id = ?", ranks)
        conn.executemany(
            "INSERT INTO matches (match_id, demand_id, achievement_id, rank, score, "
            "text_score, f_field, f_industry, f_region, f_trl, f_budget, shared_terms, "
            "reasons_zh, reasons_en, model_version, run_id, proposed, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?) "
            "ON CONFLICT(match_id) DO UPDATE SET rank = excluded.rank, score = excluded.score, "
            "text_score = excluded.text_score, f_field = excluded.f_field, "
            "f_industry = excluded.f_industry, f_region = excluded.f_region, "
            "f_trl = excluded.f_trl, f_budget = excluded.f_budget, "
            "shared_terms = excluded.shared_terms, reasons_zh = excluded.reasons_zh, "
            "reasons_en = excluded.reasons_en, model_version = excluded.model_version, "
            "run_id = excluded.run_id, proposed = 1, updated_at = excluded.updated_at",
            upserts,
        )
        report.proposed = len(merged)
        report.demands_matched = len(changed_d)
        report.achievements_matched = len(changed_a)
        for kind, ids in ((Kind.DEMANDS, changed_d), (Kind.ACHIEVEMENTS, changed_a)):
            conn.execute(
                f"UPDATE {kind.value} SET needs_match = 0 WHERE needs_match AND "
                "id IN (SELECT value FROM json_each(?))",
                (json.dumps(sorted(ids)),),
            )
        if full and model is not None:
            workspace.model_dir.mkdir(parents=True, exist_ok=True)
            model.save(_model_path(workspace, model.version))
            set_meta(conn, "model_version", model.version)
            set_meta(conn, "match_parameters", params_json)
        conn.execute(
            "UPDATE match_runs SET finished_at = ?, demands_matched = ?, "
            "achievements_matched = ?, pairs_new = ?, pairs_updated = ? WHERE id = ?",
            (
                now(),
                report.demands_matched,
                report.achievements_matched,
                report.pairs_new,
                report.pairs_updated,
                run_id,
            ),
        )
    if isinstance(model, CachedModel):
        model.save_vectors()
    if full and model is not None:
        for old in workspace.model_dir.glob("*.npz"):
            if model.version not in old.name:
                old.unlink(missing_ok=True)
    return report


def _by_id(records: pd.DataFrame) -> dict[str, dict[str, Any]]:
    clean = records.astype(object).where(records.notna(), None)
    return {r["id"]: r for r in clean.to_dict("records")}


def _demands_proposing(conn: sqlite3.Connection, achievement_ids: set[str]) -> set[str]:
    """Demands whose stored proposals include a changed achievement (its score is stale)."""
    if not achievement_ids:
        return set()
    rows = conn.execute(
        "SELECT DISTINCT demand_id FROM matches WHERE proposed AND achievement_id IN "
        "(SELECT value FROM json_each(?))",
        (json.dumps(sorted(achievement_ids)),),
    )
    return {r[0] for r in rows}


def _kept_pairs(
    conn: sqlite3.Connection, demands: set[str], changed_d: set[str], changed_a: set[str]
) -> pd.DataFrame:
    """Stored proposals of ``demands`` whose scores are still valid (neither side changed)."""
    rows = conn.execute(
        "SELECT demand_id, achievement_id, score FROM matches WHERE proposed AND "
        "demand_id IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(demands)),),
    ).fetchall()
    kept = [(r[0], r[1], r[2]) for r in rows if r[0] not in changed_d and r[1] not in changed_a]
    return pd.DataFrame(kept, columns=["demand_id", "achievement_id", "score"])
