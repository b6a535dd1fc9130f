"""Matching in a workspace: stable IDs, tracking kept, 不合适 not proposed, incremental runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

import fuzhi.match.text
from conftest import DEMAND_ROWS, write_xlsx
from fuzhi.errors import ExitCode
from fuzhi.workspace.matching import match_id
from workspace_fixtures import cli, libraries, match_ids, ok, table, workspace

__all__ = ["libraries", "workspace"]


def _setup(workspace: Path, libraries: tuple[Path, Path]) -> None:
    ok("import", "achievements", libraries[0], "-q")
    ok("import", "demands", libraries[1], "-q")


def test_rerun_keeps_ids_and_tracking(workspace: Path, libraries: tuple[Path, Path]) -> None:
    _setup(workspace, libraries)
    result = ok("match", "-k", "2")
    assert "full match" in result.stderr
    ids = match_ids(workspace)
    assert len(ids) == len(set(ids)) == 6
    first = table(workspace, "matches", "match_id")[0]
    assert first["match_id"] == match_id(first["demand_id"], first["achievement_id"])
    assert first["status"] == "待对接" and first["reasons_zh"]
    with sqlite3.connect(workspace / "fuzhi.db") as conn:
        conn.execute(
            "UPDATE matches SET status = '洽谈中', note = '已约见' WHERE match_id = ?",
            (first["match_id"],),
        )
    ok("match", "-k", "2", "--full")
    again = {r["match_id"]: r for r in table(workspace, "matches")}
    assert sorted(again) == sorted(ids)
    assert again[first["match_id"]]["status"] == "洽谈中"
    assert again[first["match_id"]]["note"] == "已约见"
    runs = table(workspace, "match_runs", "id")
    assert [r["mode"] for r in runs] == ["full", "full"]
    assert runs[-1]["model_version"] and '"k": 2' in runs[-1]["parameters"]


def test_full_run_vectorises_each_library_once(
    workspace: Path, libraries: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _setup(workspace, libraries)
    calls: list[int] = []
    count_terms = fuzhi.match.text.count_terms

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(args[1]))  # libraries counted in one pass
        return count_terms(*args, **kwargs)

    monkeypatch.setattr(fuzhi.match.text, "count_terms", counting)
    ok("match", "-k", "2", "--full", "-q")
    assert calls == [2]  # fit_transform only: match_libraries finds the vectors cached
    assert len(match_ids(workspace)) == 6


def test_rejected_pairs_are_not_proposed_again(
    workspace: Path, libraries: tuple[Path, Path]
) -> None:
    _setup(workspace, libraries)
    ok("match", "-k", "1", "-q")
    top = {r["demand_id"]: r for r in table(workspace, "matches") if r["proposed"]}
    rejected = top["D001"]
    with sqlite3.connect(workspace / "fuzhi.db") as conn:
        conn.execute(
            "UPDATE matches SET status = '不合适' WHERE match_id = ?", (rejected["match_id"],)
        )
    ok("match", "-k", "1", "--full", "-q")
    proposed = [
        r for r in table(workspace, "matches") if r["proposed"] and r["demand_id"] == "D001"
    ]
    assert [r["achievement_id"] for r in proposed] != [rejected["achievement_id"]]
    ok("match", "-k", "1", "--full", "--include-rejected", "-q")
    proposed = [
        r for r in table(workspace, "matches") if r["proposed"] and r["demand_id"] == "D001"
    ]
    assert [r["match_id"] for r in proposed] == [rejected["match_id"]]
    assert proposed[0]["status"] == "不合适"


def test_incremental_run_scores_only_new_records(
    tmp_path: Path, workspace: Path, libraries: tuple[Path, Path]
) -> None:
    _setup(workspace, libraries)
    ok("match", "-k", "2", "-q")
    before = {r["match_id"]: r for r in table(workspace, "matches")}
    nothing = ok("match", "-k", "2")
    assert "incremental" in nothing.stderr and "0 demands" in nothing.stderr
    rows = [
        *DEMAND_ROWS,
        [
            "D004",
            "印染废水深度处理",
            "印染废水回用，陶瓷膜",
            "废水处理",
            "某公司",
            "",
            "浙江",
            "",
            "",
            "",
        ],
    ]
    ok("import", "demands", write_xlsx(tmp_path / "more.xlsx", rows), "-q")
    result = ok("match", "-k", "2")
    assert "incremental match" in result.stderr and "1 demands" in result.stderr
    after = {r["match_id"]: r for r in table(workspace, "matches")}
    new = {m: r for m, r in after.items() if m not in before}
    assert {r["demand_id"] for r in new.values()} == {"D004"}
    for m, r in before.items():  # stored scores untouched, same model version
        assert after[m]["score"] == r["score"] and after[m]["model_version"] == r["model_version"]
    assert {r["model_version"] for r in new.values()} == {
        next(iter(before.values()))["model_version"]
    }
    assert not [r for r in table(workspace, "demands") if r["needs_match"]]


def test_file_match_still_needs_both_files(libraries: tuple[Path, Path], tmp_path: Path) -> None:
    result = cli("match", "-a", libraries[0])
    assert result.exit_code == ExitCode.USAGE
    out = tmp_path / "m.jsonl"
    ok("match", "-a", libraries[0], "-d", libraries[1], "-o", out, "-q")
    assert out.read_text(encoding="utf-8").count("\n") > 0


def test_match_needs_libraries(workspace: Path) -> None:
    result = cli("match")
    assert result.exit_code == ExitCode.USAGE
    assert "import both first" in result.stderr
