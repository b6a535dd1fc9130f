"""``fuzhi match`` and ``fuzhi check`` end to end through the CLI, on real files."""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from conftest import ACHIEVEMENT_ROWS, DEMAND_ROWS, write_xlsx
from fuzhi.cli import app
from fuzhi.errors import ExitCode

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})
    return result.exit_code, result.stdout, result.stderr


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_match_jsonl_to_stdout(small_libraries: tuple[Path, Path]) -> None:
    a, d = small_libraries
    code, out, _ = run("match", "-a", str(a), "-d", str(d), "-k", "2")
    assert code == 0
    rows = jsonl(out)
    top = {r["demand_id"]: r["achievement_id"] for r in rows if r["rank"] == 1}
    assert top == {"D001": "A001", "D002": "A004", "D003": "A003"}
    first = next(r for r in rows if r["demand_id"] == "D001" and r["rank"] == 1)
    assert {"demand_id", "achievement_id", "rank", "score", "reasons"} <= first.keys()
    assert 0 < first["score"] <= 1
    assert "缺陷检测" in first["reasons"] and "TRL7 满足要求 TRL6" in first["reasons"]
    assert "同属长三角" in first["reasons"] or "同在江苏" in first["reasons"]
    assert all(len([r for r in rows if r["demand_id"] == d]) <= 2 for d in top)


def test_match_is_deterministic(small_libraries: tuple[Path, Path]) -> None:
    a, d = small_libraries
    outputs = {run("match", "-a", str(a), "-d", str(d), "--by", "both")[1] for _ in range(2)}
    assert len(outputs) == 1
    directions = {r["direction"] for r in jsonl(outputs.pop())}
    assert directions == {"demand", "achievement"}


def test_match_workbook_read_back(small_libraries: tuple[Path, Path], tmp_path: Path) -> None:
    a, d = small_libraries
    out = tmp_path / "m.xlsx"
    code, _, err = run("match", "-a", str(a), "-d", str(d), "-o", str(out), "--by", "both")
    assert code == 0, err
    wb = load_workbook(out)
    assert wb.sheetnames == ["按需求匹配", "按成果匹配", "问题行", "运行信息"]
    ws = wb["按需求匹配"]
    headers = [c.value for c in ws[1]]
    assert headers[:3] == ["需求编号", "需求名称", "企业名称"]
    assert {"排名", "成果编号", "成果名称", "匹配度", "匹配理由"} <= set(headers)
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:{ws.cell(1, len(headers)).column_letter}{ws.max_row}"
    score_col = headers.index("匹配度") + 1
    assert ws.cell(2, score_col).number_format == "0.0%"
    assert 0 < ws.cell(2, score_col).value <= 1
    assert ws.column_dimensions["B"].width > 10
    run_sheet = {r[0]: r[1] for r in wb["运行信息"].iter_rows(values_only=True)}
    assert run_sheet["  SHA-256"]  # at least one input hash recorded
    assert any(str(v).endswith("achievements.xlsx") for v in run_sheet.values())
    assert not list(tmp_path.glob(".m.xlsx.*"))  # temporary file renamed away


def test_english_headers(small_libraries: tuple[Path, Path], tmp_path: Path) -> None:
    a, d = small_libraries
    out = tmp_path / "m.xlsx"
    assert run("match", "-a", str(a), "-d", str(d), "-o", str(out), "--lang", "en")[0] == 0
    wb = load_workbook(out)
    assert wb.sheetnames == ["By demand", "Problems", "Run"]
    assert [c.value for c in wb["By demand"][1]][:2] == ["Demand ID", "Demand title"]


def test_formula_looking_text_stays_text(tmp_path: Path) -> None:
    rows = [row[:] for row in ACHIEVEMENT_ROWS]
    rows[1][1] = '=HYPERLINK("http://x","点击")机器视觉缺陷检测'
    a = write_xlsx(tmp_path / "a.xlsx", rows)
    demands = [row[:] for row in DEMAND_ROWS]
    demands[1][4] = "+cmd|' /C calc'!A0 钢铁有限公司"
    d = write_xlsx(tmp_path / "d.xlsx", demands)
    out = tmp_path / "m.xlsx"
    assert run("match", "-a", str(a), "-d", str(d), "-o", str(out))[0] == 0
    with zipfile.ZipFile(out) as zf:
        sheet_xml = zf.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml
    values = {c.value for row in load_workbook(out)["按需求匹配"].iter_rows() for c in row}
    assert rows[1][1] in values and demands[1][4] in values
    csv_out = tmp_path / "m.csv"
    assert run("match", "-a", str(a), "-d", str(d), "-o", str(csv_out))[0] == 0
    raw = csv_out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'+cmd" in text


def test_skipped_rows_reported(tmp_path: Path) -> None:
    rows = [*ACHIEVEMENT_ROWS, ["A009", "", "", "", "", "", "", "", "很高", ""]]
    a = write_xlsx(tmp_path / "a.xlsx", rows)
    d = write_xlsx(tmp_path / "d.xlsx", DEMAND_ROWS)
    code, _, err = run("match", "-a", str(a), "-d", str(d))
    assert code == 0
    assert "1 row(s) skipped" in err and "a.xlsx" in err
    code, out, err = run("check", str(a))
    assert code == ExitCode.INPUT
    row_line = next(line for line in out.splitlines() if "很高" in line)
    assert re.search(r"│\s*6\s*│", row_line)  # Excel row number of the bad row
    assert any("row skipped" in line for line in out.splitlines())
    assert "1 unusable" in err


def test_check_clean_file_exits_zero(small_libraries: tuple[Path, Path]) -> None:
    code, _, err = run("check", str(small_libraries[1]))
    assert code == 0 and "demands" in err and "3 usable rows" in err


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.xlsx", "does not exist"),
        (
            lambda p: (p / "notes.xlsx").write_text("hello") and p / "notes.xlsx",
            "not an Excel workbook",
        ),
        (lambda p: write_xlsx(p / "empty.xlsx", []), "empty"),
        (lambda p: write_xlsx(p / "cols.xlsx", [["甲", "乙"], ["1", "2"]]), "no header row found"),
    ],
)
def test_bad_inputs_exit_3_with_one_line(tmp_path: Path, make, message: str) -> None:
    bad = make(tmp_path)
    good = write_xlsx(tmp_path / "d.xlsx", DEMAND_ROWS)
    code, out, err = run("match", "-a", str(bad), "-d", str(good))
    assert code == ExitCode.INPUT
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and bad.name in lines[0]
    assert "Traceback" not in err


def test_debug_shows_traceback(tmp_path: Path) -> None:
    good = write_xlsx(tmp_path / "d.xlsx", DEMAND_ROWS)
    code, _, err = run("--debug", "match", "-a", str(tmp_path / "nope.xlsx"), "-d", str(good))
    assert code == ExitCode.INPUT and "Traceback" in err


def test_usage_errors_exit_2(small_libraries: tuple[Path, Path]) -> None:
    a, d = small_libraries
    assert run("match", "-a", str(a), "-d", str(d), "-k", "0")[0] == ExitCode.USAGE
    assert run("match", "-a", str(a), "-d", str(d), "--format", "xlsx")[0] == ExitCode.USAGE
    assert run("match", "-a", str(a), "-d", str(d), "-c", "nonsense")[0] == ExitCode.USAGE
    assert run("nonexistent-command")[0] == ExitCode.USAGE


def test_every_command_has_help_with_example() -> None:
    code, out, _ = run("--help")
    assert code == 0 and "Exit codes" in out
    from typer.main import get_group

    group = get_group(app)

    def walk(cmd, path):
        sub = getattr(cmd, "commands", None)
        if sub:
            for name, child in sub.items():
                yield from walk(child, [*path, name])
        else:
            yield path

    paths = list(walk(group, []))
    assert ["match"] in paths and ["check"] in paths
    for path in paths:
        code, out, _ = run(*path, "--help")
        assert code == 0, path
        assert "Example" in out, path


def test_installed_entry_point_runs(small_libraries: tuple[Path, Path]) -> None:
    exe = shutil.which("fuzhi") or str(Path(sys.executable).parent / "fuzhi")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("fuzhi ")
    a, d = small_libraries
    done = subprocess.run(
        [sys.executable, "-m", "fuzhi", "match", "-a", str(a), "-d", str(d), "-k", "1", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # quiet: jieba's start-up chatter suppressed too
    assert len(jsonl(done.stdout)) == 3


def test_process_exit_keeps_output_and_exit_codes(
    tmp_path: Path, small_libraries: tuple[Path, Path]
) -> None:
    """The command leaves without interpreter teardown (``exit_now``): everything written to
    stdout, stderr and files must still be there, with the right exit code."""
    a, d = small_libraries
    base = [sys.executable, "-m", "fuzhi", "match", "-a", str(a), "-d", str(d)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout buffered
    piped = subprocess.run([*base, "-k", "3"], capture_output=True, text=True, timeout=120, env=env)
    assert piped.returncode == 0, piped.stderr
    in_process = run("match", "-a", str(a), "-d", str(d), "-k", "3")
    assert jsonl(piped.stdout) == jsonl(in_process[1])
    assert "matches for" in piped.stderr  # the summary on stderr is flushed too
    out = tmp_path / "m.xlsx"
    written = subprocess.run([*base, "-o", str(out), "-q"], capture_output=True, timeout=120)
    assert written.returncode == 0 and load_workbook(out).sheetnames
    missing = subprocess.run(
        [*base[:4], "-a", str(tmp_path / "nope.xlsx"), "-d", str(d)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == ExitCode.INPUT
    assert "nope.xlsx" in missing.stderr and "Traceback" not in missing.stderr
    usage = subprocess.run([*base[:4], "-k", "0"], capture_output=True, timeout=120)
    assert usage.returncode == ExitCode.USAGE


def test_entry_point_collects_garbage_less_often(monkeypatch: pytest.MonkeyPatch) -> None:
    """``fuzhi`` raises the youngest generation's threshold before running the command."""
    import fuzhi.cli
    from fuzhi.process import BATCH_GC_THRESHOLD

    seen: list[tuple[tuple[int, int, int], object]] = []

    class Left(Exception):
        pass

    def leave(code: object) -> None:
        seen.append((gc.get_threshold(), code))
        raise Left

    before = gc.get_threshold()
    monkeypatch.setattr(fuzhi.cli, "exit_now", leave)
    monkeypatch.setattr(sys, "argv", ["fuzhi", "--version"])
    try:
        with pytest.raises(Left):
            fuzhi.cli.main()
    finally:
        gc.set_threshold(*before)
    assert seen == [((BATCH_GC_THRESHOLD, *before[1:]), 0)]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_that_cannot_be_written_is_an_error(small_libraries: tuple[Path, Path]) -> None:
    """A full disk under stdout: the matches are lost, so the run must not report success."""
    a, d = small_libraries
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "fuzhi", "match", "-a", str(a), "-d", str(d), "-q"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env=env,
        )
    assert done.returncode != 0
    assert "No space left" in done.stderr and "Traceback" not in done.stderr
