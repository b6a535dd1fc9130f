"""The workspace commands' help, status as JSON, and backup guards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fuzhi.errors import ExitCode
from workspace_fixtures import cli, libraries, ok, workspace

__all__ = ["libraries", "workspace"]

COMMANDS = [
    ["init"],
    ["workspace", "status"],
    ["workspace", "backup"],
    ["import", "achievements"],
    ["import", "demands"],
    ["import", "events"],
    ["export", "tracking"],
    ["sync"],
    ["history"],
    ["match"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    result = ok(*command, "--help")
    assert "Example" in result.stdout


def test_status_json(workspace: Path, libraries: tuple[Path, Path]) -> None:
    ok("import", "achievements", libraries[0], "-q")
    data = json.loads(ok("workspace", "status", "--json").stdout)
    assert data["records"]["achievements"] == 4
    assert data["pending_match"]["achievements"] == 4
    assert data["last_match"] is None and data["schema_version"] == data["latest_schema"]


def test_backup_refuses_the_database_itself(workspace: Path) -> None:
    result = cli("workspace", "backup", workspace / "fuzhi.db")
    assert result.exit_code == ExitCode.USAGE


def test_quiet_prints_nothing(
    workspace: Path, libraries: tuple[Path, Path], tmp_path: Path
) -> None:
    for args in (
        ["import", "achievements", libraries[0]],
        ["import", "demands", libraries[1]],
        ["match"],
        ["export", "tracking", "-o", tmp_path / "t.xlsx"],
        ["sync", tmp_path / "t.xlsx"],
        ["workspace", "backup", tmp_path / "b.db"],
    ):
        result = ok(*args, "--quiet")
        assert result.stdout == "" and result.stderr == "", args


def test_unknown_match_id(workspace: Path) -> None:
    result = cli("history", "M-NOPE")
    assert result.exit_code == ExitCode.INPUT and "no match" in result.stderr
