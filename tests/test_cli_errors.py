"""Exit codes at the CLI boundary, and inputs built to exhaust the machine."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import DEMAND_ROWS, write_xlsx
from fuzhi.cli import app
from fuzhi.commands import match as match_command
from fuzhi.errors import ExitCode
from fuzhi.io import readers

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})


@pytest.mark.parametrize(
    ("raised", "code", "text"),
    [
        (RuntimeError("boom"), ExitCode.UNEXPECTED, "unexpected error: RuntimeError: boom"),
        (KeyboardInterrupt(), ExitCode.INTERRUPTED, "interrupted"),
    ],
)
def test_unexpected_and_interrupted(
    small_libraries: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    raised: BaseException,
    code: int,
    text: str,
) -> None:
    def fail(*_a: object, **_k: object) -> None:
        raise raised

    monkeypatch.setattr(match_command, "match_files", fail)
    a, d = small_libraries
    result = invoke("match", "-a", str(a), "-d", str(d))
    assert result.exit_code == code
    assert text in result.stderr and "Traceback" not in result.stderr


def test_sheet_with_too_many_rows_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "MAX_DATA_ROWS", 100)
    rows = [DEMAND_ROWS[0]] + [[f"D{i}", f"需求{i}", "描述"] for i in range(300)]
    big = write_xlsx(tmp_path / "big.xlsx", rows)
    result = invoke("check", str(big))
    assert result.exit_code == ExitCode.INPUT
    assert "big.xlsx" in result.stderr and "more than fuzhi reads" in result.stderr


def test_zip_bomb_refused_before_reading(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            chunk = b"\0" * (1 << 24)
            for _ in range(8):  # 128 MiB of zeros in ~130 kB: a ratio no real sheet has
                member.write(chunk)
    assert bomb.stat().st_size < 1_000_000
    result = invoke("check", str(bomb), "--kind", "demands")
    assert result.exit_code == ExitCode.INPUT
    assert "bomb.xlsx" in result.stderr and "zip bomb" in result.stderr
