"""Workspace layout, discovery, migrations, the lock, backups and crash safety."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fuzhi.config import DEFAULT_TOML
from fuzhi.errors import ExitCode
from fuzhi.schema import Kind
from fuzhi.workspace.locate import Workspace, find_workspace
from fuzhi.workspace.migrations import LATEST, MIGRATIONS, SchemaTooNewError, migrate
from fuzhi.workspace.records import check_columns
from fuzhi.workspace.store import connect, open_workspace
from workspace_fixtures import cli, libraries, ok, table, workspace

__all__ = ["libraries", "workspace"]


def test_init_creates_settings_and_database(tmp_path: Path) -> None:
    root = tmp_path / "新建" / "ws"
    result = ok("init", root)
    assert (root / "fuzhi.toml").read_text(encoding="utf-8") == DEFAULT_TOML
    assert (root / "fuzhi.db").is_file()
    assert "created" in result.stderr
    again = ok("init", root)
    assert "already a workspace" in again.stderr
    names = [r["name"] for r in table(root, "schema_migrations", "version")]
    assert names == [m.name for m in MIGRATIONS]


def test_found_by_walking_up_and_overridden(tmp_path: Path, workspace: Path) -> None:
    deep = workspace / "a" / "b"
    deep.mkdir(parents=True)
    assert find_workspace(None, start=deep).root == workspace
    os.environ.pop("FUZHI_WORKSPACE")
    with pytest.raises(Exception, match="no fuzhi workspace"):
        find_workspace(None, start=tmp_path)
    result = cli("workspace", "status", "--workspace", tmp_path)
    assert result.exit_code == ExitCode.USAGE
    assert "not a fuzhi workspace" in result.stderr
    assert "schema version: " in ok("workspace", "status", "-w", workspace).stdout


def test_status_counts(workspace: Path, libraries: tuple[Path, Path]) -> None:
    ok("import", "demands", libraries[1], "-q")
    out = ok("workspace", "status").stdout
    assert "demands 3" in out
    assert f"schema version: {LATEST}" in out
    assert "last import:" in out and "demands.xlsx" in out


def test_migrates_an_older_schema_and_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "fuzhi.db"
    conn = connect(path)
    applied = migrate(conn, target=1)
    assert [m.name for m in applied] == ["libraries"]
    conn.execute(
        "INSERT INTO demands (id, title, fingerprint, created_at, updated_at) "
        "VALUES ('D1', '老需求', 'x', 't', 't')"
    )
    conn.close()
    (tmp_path / "fuzhi.toml").write_text(DEFAULT_TOML, encoding="utf-8")
    conn = open_workspace(Workspace(tmp_path))
    versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [m.version for m in MIGRATIONS]
    assert conn.execute("SELECT title FROM demands").fetchone()[0] == "老需求"
    for kind in Kind:
        check_columns(conn, kind)  # every schema field has its column
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute("INSERT INTO schema_migrations VALUES (99, 'future', 't')")
    with pytest.raises(SchemaTooNewError):
        migrate(conn)


_HOLD_LOCK = """
import sys, time
from pathlib import Path
from fuzhi.workspace.locate import Workspace
from fuzhi.workspace.lock import workspace_lock
with workspace_lock(Workspace(Path(sys.argv[1])), "test holder"):
    Path(sys.argv[2]).touch()
    time.sleep(60)
"""


def _wait_for(path: Path, proc: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(proc.communicate())
        time.sleep(0.05)


def test_second_writer_exits_4(
    tmp_path: Path, workspace: Path, libraries: tuple[Path, Path]
) -> None:
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(workspace), str(ready)])
    try:
        _wait_for(ready, proc)
        result = cli("import", "demands", libraries[1])
        assert result.exit_code == ExitCode.LOCKED
        assert "in use by another fuzhi run" in result.stderr
        assert "test holder" in result.stderr
        entry = subprocess.run(
            [Path(sys.executable).parent / "fuzhi", "match", "-w", workspace],
            capture_output=True,
            text=True,
        )
        assert entry.returncode == ExitCode.LOCKED, entry.stderr
        ok("workspace", "status")  # readers are not blocked
    finally:
        proc.kill()
        proc.wait()
    ok("import", "demands", libraries[1], "-q")  # the OS released the lock


_WRITE_AND_HOLD = """
import sqlite3, sys, time
from pathlib import Path
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE demands SET title = 'half-written'")
Path(sys.argv[2]).touch()
time.sleep(60)
"""


def test_backup_while_a_write_is_in_progress(
    tmp_path: Path, workspace: Path, libraries: tuple[Path, Path]
) -> None:
    ok("import", "demands", libraries[1], "-q")
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITE_AND_HOLD, str(workspace / "fuzhi.db"), str(ready)]
    )
    try:
        _wait_for(ready, proc)
        target = tmp_path / "backup.db"
        ok("workspace", "backup", target, "-q")
    finally:
        proc.kill()
        proc.wait()
    copy = sqlite3.connect(target)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    titles = {r[0] for r in copy.execute("SELECT title FROM demands")}
    assert len(titles) == 3 and "half-written" not in titles


_SLOW_IMPORT = """
import sys, time
from pathlib import Path
import fuzhi.workspace.imports as imports
from fuzhi.cli import main
real, calls, ready = imports.stored_values, [], Path(sys.argv[1])
def slow(kind, record):
    calls.append(1)
    if len(calls) == 2:
        ready.touch()
        time.sleep(60)
    return real(kind, record)
imports.stored_values = slow
sys.argv = ["fuzhi", "import", "achievements", sys.argv[2], "-w", sys.argv[3]]
main()
"""


def test_killed_import_leaves_workspace_consistent(
    tmp_path: Path, workspace: Path, libraries: tuple[Path, Path]
) -> None:
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(_SLOW_IMPORT),
            str(ready),
            str(libraries[0]),
            str(workspace),
        ],
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(ready, proc)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert table(workspace, "achievements") == []
    assert table(workspace, "import_batches") == []
    with sqlite3.connect(workspace / "fuzhi.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    result = ok("import", "achievements", libraries[0])
    assert "4 new" in result.stderr
    assert len(table(workspace, "achievements")) == 4
