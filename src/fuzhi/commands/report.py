"""``fuzhi report progress``: the programme's progress report as xlsx, JSON and Markdown."""

from __future__ import annotations

import datetime as dt
import json
import shlex
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from fuzhi.commands.common import Language, Output, Quiet, stderr
from fuzhi.commands.workspace import WorkspaceDir, resolve
from fuzhi.errors import FuzhiError, UsageError
from fuzhi.io.atomic import atomic_path
from fuzhi.report.periods import parse_as_of, parse_period, year_of
from fuzhi.report.progress import ProgressReport, build_progress
from fuzhi.report.progress_labels import label
from fuzhi.report.progress_md import write_progress_md
from fuzhi.report.sources import inputs_from_workspace
from fuzhi.schema import Lang
from fuzhi.workspace.store import session

report_app = typer.Typer(
    name="report",
    help="Reports on the workspace: programme progress, 深度行 events, targets.",
    no_args_is_help=True,
)


class ReportFormat(StrEnum):
    XLSX = "xlsx"
    JSON = "json"


def _log(path: Path | None, message: str) -> None:
    """Append one timestamped line to the --log-file (never fails the run for it)."""
    if path is None:
        return
    stamp = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    try:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {message}\n")
    except OSError as exc:
        print(f"fuzhi: warning: cannot write the log file {path}: {exc}", file=sys.stderr)


def _format(output: Path | None, given: ReportFormat | None) -> ReportFormat | None:
    if given is not None:
        return given
    if output is None:
        return None
    suffix = output.suffix.lower()
    if suffix in (".xlsx", ".json"):
        return ReportFormat(suffix[1:])
    raise UsageError(f"{output}: cannot tell the format from the suffix; use .xlsx or .json")


def _write_outputs(
    report: ProgressReport,
    output: Path | None,
    fmt: ReportFormat | None,
    md: Path | None,
    lang: Lang,
) -> list[str]:
    written = []
    if fmt is ReportFormat.XLSX:
        if output is None:
            raise UsageError("--format xlsx needs -o FILE.xlsx")
        from fuzhi.report.progress_xlsx import write_progress_xlsx  # openpyxl: ~80 ms to import

        write_progress_xlsx(report, output, lang)
        written.append(str(output))
    elif fmt is ReportFormat.JSON:
        text = json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n"
        if output is None:
            sys.stdout.write(text)
        else:
            with atomic_path(output) as tmp:
                tmp.write_text(text, encoding="utf-8")
            written.append(str(output))
    if md is not None:
        write_progress_md(report, md, lang)
        written.append(str(md))
    return written


def progress(
    output: Output = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            "-p",
            help="A year (2025), quarter (2025Q3) or month (2025-07); default: the year of --as-of.",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Count only what happened up to this date (YYYY-MM-DD; default today), "
            "so the report can be reproduced.",
        ),
    ] = None,
    fmt: Annotated[
        ReportFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="xlsx (needs -o) or json (stdout, or -o FILE.json); default from -o's suffix.",
        ),
    ] = None,
    md: Annotated[
        Path | None,
        typer.Option(
            "--md", help="Also write a short Markdown summary (for an email).", dir_okay=False
        ),
    ] = None,
    log_file: Annotated[
        Path | None,
        typer.Option(
            "--log-file",
            help="Append a line per run (what ran, what it wrote, errors) to this file.",
            dir_okay=False,
            envvar="FUZHI_LOG_FILE",
        ),
    ] = None,
    workspace: WorkspaceDir = None,
    lang: Language = Lang.ZH,
    quiet: Quiet = False,
) -> None:
    """Progress report: key figures against the period before, the matching funnel, 深度行
    events by locality and month with target attainment, regions, industries and trend.

    Sheets: 总览, 深度行, 地区, 行业, 趋势, 明细, 匹配明细 (with charts). --as-of leaves out
    events, matches and status changes after that date: the same workspace and date give the
    same report. Reads the workspace without locking it (a running import does not block it).

    Example: fuzhi report progress --period 2025Q3 --as-of 2025-09-30 -o 2025Q3.xlsx --md 2025Q3.md
    """
    command = "fuzhi report progress " + shlex.join(sys.argv[3:] if len(sys.argv) > 3 else [])
    try:
        day = parse_as_of(as_of) if as_of else dt.date.today()
        chosen = parse_period(period) if period else year_of(day)
        kind = _format(output, fmt)
        if kind is None and md is None:
            raise UsageError("nothing to write: give -o FILE.xlsx, --format json or --md FILE")
        ws = resolve(workspace)
        with session(ws, write=False) as conn:
            inputs = inputs_from_workspace(conn)
        report = build_progress(inputs, chosen, day, ws.settings().targets)
        written = _write_outputs(report, output, kind, md, lang)
    except FuzhiError as exc:
        _log(log_file, f"{command}: error (exit {int(exc.exit_code)}): {exc.message}")
        raise
    except KeyboardInterrupt:
        _log(log_file, f"{command}: interrupted")
        raise
    except Exception as exc:
        _log(log_file, f"{command}: unexpected error: {type(exc).__name__}: {exc}")
        raise
    summary = f"{chosen.key()} as of {day.isoformat()}" + (" (no data)" if report.empty else "")
    _log(log_file, f"{command}: ok, {summary}, wrote {', '.join(written) or 'stdout'}")
    if not quiet:
        if report.empty:
            stderr.print(label("note.no_data_in_period", lang), markup=False)
        for path in written:
            stderr.print(f"wrote {path} ({summary})", markup=False)


report_app.command("progress")(progress)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app)
