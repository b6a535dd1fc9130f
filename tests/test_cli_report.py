"""``fuzhi report progress`` on a workspace built from the examples, after a tracking sync."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from fuzhi.cli import app
from fuzhi.errors import ExitCode

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TODAY = dt.date.today()
# Status set in the tracking workbook for the first rows, with a contract amount.
EDITS = (
    [("已联系", None)] * 5
    + [("洽谈中", None)] * 3
    + [("已签约", 120.0), ("已签约", 80.0)]
    + [("已落地", 50.0)]
    + [("不合适", None)] * 2
)
FUNNEL = ("待对接", "已联系", "洽谈中", "已签约", "已落地")

runner = CliRunner()


def run(*args: str) -> object:
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """init → import the three examples → match → export tracking → edit → sync."""
    root = tmp_path_factory.mktemp("ws")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FUZHI_CACHE_DIR", str(root / "cache"))
        mp.setenv("XDG_CACHE_HOME", str(root / "xdg"))
        mp.delenv("FUZHI_WORKSPACE", raising=False)
        ws = root / "ws"
        assert run("init", str(ws), "-q").exit_code == 0
        for kind in ("events", "achievements", "demands"):
            run("import", kind, str(EXAMPLES / f"{kind}.xlsx"), "-w", str(ws), "-q")
        assert run("match", "-w", str(ws), "-q").exit_code == 0
        sheet = root / "tracking.xlsx"
        assert run("export", "tracking", "-o", str(sheet), "-w", str(ws), "-q").exit_code == 0
        wb = load_workbook(sheet)
        ws_ = wb.worksheets[0]
        header = [c.value for c in ws_[1]]
        status_col = header.index("状态") + 1
        amount_col = header.index("签约金额（万元）") + 1
        for row, (status, amount) in enumerate(EDITS, start=2):
            ws_.cell(row, status_col, status)
            if amount is not None:
                ws_.cell(row, amount_col, amount)
        wb.save(sheet)
        result = run("sync", str(sheet), "-w", str(ws), "-q")
        assert result.exit_code == 0, result.output
    return ws


def report_json(workspace: Path, *args: str) -> dict[str, object]:
    result = run("report", "progress", "-f", "json", "-w", str(workspace), "-q", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_funnel_after_a_sync_matches_the_edits(workspace: Path) -> None:
    data = report_json(workspace, "--as-of", TODAY.isoformat())
    funnel = data["funnel"]
    total = funnel["total"]
    reached = [FUNNEL.index(s) if s in FUNNEL else 0 for s, _ in EDITS]
    expected = [total] + [sum(r >= i for r in reached) for i in range(1, 5)]
    assert [s["count"] for s in funnel["stages"]] == expected
    assert funnel["by_status"]["不合适"] == 2
    assert funnel["signed_amount"] == 250.0
    assert data["key_figures"]["matches_signed"]["current"] == 3


def test_as_of_before_the_sync_rolls_the_statuses_back(workspace: Path) -> None:
    data = report_json(workspace, "--as-of", "2025-09-30")
    stages = data["funnel"]["stages"]
    assert [s["count"] for s in stages[1:]] == [0, 0, 0, 0]
    assert data["events"]["in_period"]["events"] > 0


def test_workbook_markdown_and_json_agree(workspace: Path, tmp_path: Path) -> None:
    xlsx, md = tmp_path / "p.xlsx", tmp_path / "p.md"
    result = run(
        "report",
        "progress",
        "--as-of",
        "2025-09-30",
        "-o",
        str(xlsx),
        "--md",
        str(md),
        "-w",
        str(workspace),
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "wrote" in result.stderr
    data = report_json(workspace, "--as-of", "2025-09-30")
    wb = load_workbook(xlsx)
    assert wb.sheetnames == ["总览", "深度行", "地区", "行业", "趋势", "明细", "匹配明细"]
    detail = wb["明细"]
    assert detail.max_row - 1 == data["events"]["in_period"]["events"]
    text = md.read_text(encoding="utf-8")
    assert f"本期活动 {data['events']['in_period']['events']} 场" in text


def test_empty_period_says_so(workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "empty.xlsx"
    result = run(
        "report",
        "progress",
        "--period",
        "2023Q2",
        "--as-of",
        "2025-09-30",
        "-o",
        str(out),
        "-w",
        str(workspace),
    )
    assert result.exit_code == 0
    assert "本期无数据" in result.stderr
    wb = load_workbook(out)
    texts = [c.value for row in wb["总览"].iter_rows(max_row=6) for c in row if c.value]
    assert any("本期无数据" in str(t) for t in texts)


def test_quiet_cron_run_prints_nothing(workspace: Path, tmp_path: Path) -> None:
    log = tmp_path / "cron.log"
    out = tmp_path / "monthly.xlsx"
    env = {**os.environ, "NO_COLOR": "1", "FUZHI_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fuzhi",
            "report",
            "progress",
            "--period",
            "2025-07",
            "--as-of",
            "2025-07-31",
            "-o",
            str(out),
            "--quiet",
            "--log-file",
            str(log),
            "-w",
            str(workspace),
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        check=False,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert out.is_file()
    assert ": ok, 2025-07 as of 2025-07-31, wrote" in log.read_text(encoding="utf-8")


def test_errors_exit_with_their_code_and_are_logged(workspace: Path, tmp_path: Path) -> None:
    log = tmp_path / "cron.log"
    result = run(
        "report",
        "progress",
        "--period",
        "2025Q5",
        "-o",
        str(tmp_path / "x.xlsx"),
        "--log-file",
        str(log),
        "-w",
        str(workspace),
        "-q",
    )
    assert result.exit_code == ExitCode.USAGE
    assert "2025Q3" in result.stderr
    assert "error (exit 2)" in log.read_text(encoding="utf-8")
    result = run("report", "progress", "-w", str(workspace))
    assert result.exit_code == ExitCode.USAGE  # nothing to write
    result = run("report", "progress", "-f", "json", "-w", str(tmp_path / "nowhere"))
    assert result.exit_code == ExitCode.USAGE


def test_same_date_same_workbook(workspace: Path, tmp_path: Path) -> None:
    paths = [tmp_path / "a.xlsx", tmp_path / "b.xlsx"]
    for p in paths:
        args = ["report", "progress", "--as-of", "2025-06-30", "-o", str(p), "-q"]
        assert run(*args, "-w", str(workspace)).exit_code == 0
    assert paths[0].read_bytes() == paths[1].read_bytes()
    props = load_workbook(paths[0]).properties
    assert props.created == props.modified == dt.datetime(2025, 6, 30)


def test_help_has_an_example() -> None:
    result = run("report", "progress", "--help")
    assert result.exit_code == 0 and "Example: fuzhi report progress" in result.stdout
