"""``fuzhi export tracking``, ``fuzhi sync`` and ``fuzhi history``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fuzhi.commands.common import Language, Quiet, stderr, stdout
from fuzhi.commands.workspace import WorkspaceDir, resolve
from fuzhi.errors import ExitCode, UsageError
from fuzhi.io.parse import parse_date
from fuzhi.schema import Lang, Status
from fuzhi.workspace.columns import BY_KEY
from fuzhi.workspace.history import match_history
from fuzhi.workspace.store import session
from fuzhi.workspace.sync import sync_workbook

export_app = typer.Typer(
    name="export", help="Write workbooks from the workspace.", no_args_is_help=True
)


def _statuses(values: list[str] | None) -> tuple[Status, ...]:
    out = []
    for value in values or []:
        for part in value.replace("，", ",").split(","):
            if not part.strip():
                continue
            try:
                out.append(Status.parse(part))
            except ValueError:
                raise UsageError(
                    f"--status {part}: expected one of {'、'.join(s.value for s in Status)}"
                ) from None
    return tuple(out)


@export_app.command("tracking")
def tracking(
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Workbook to write (.xlsx).", dir_okay=False),
    ],
    status: Annotated[
        list[str] | None,
        typer.Option("--status", help="Only matches with this status (repeatable, e.g. 洽谈中)."),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option("--region", help="Only demands in this province, city or region group."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only matches proposed or changed on or after this date."),
    ] = None,
    lang: Language = Lang.ZH,
    workspace: WorkspaceDir = None,
    quiet: Quiet = False,
) -> None:
    """Write the tracking workbook: one row per match, with 状态, 负责人, 下次跟进日期,
    签约金额（万元） and 备注 to fill in; read it back with [bold]fuzhi sync[/bold].

    Example: fuzhi export tracking -o 跟踪表.xlsx --status 待对接 --status 已联系
    """
    if output.suffix.lower() != ".xlsx":
        raise UsageError(f"-o {output}: the tracking workbook is an .xlsx file")
    try:
        since_date = parse_date(since) if since else None
    except ValueError:
        raise UsageError(f"--since {since}: expected a date such as 2025-07-01") from None
    from fuzhi.workspace.tracking import TrackingFilters, export_tracking  # openpyxl: ~80 ms

    filters = TrackingFilters(_statuses(status), region, since_date)
    ws = resolve(workspace)
    with session(ws, write=False) as conn:
        done = export_tracking(conn, output, filters, lang)
    if not quiet:
        stderr.print(
            f"wrote {output}: {done.rows:,} matches (export {done.export_id})", markup=False
        )


def sync(
    file: Annotated[Path, typer.Argument(help="Tracking workbook exported by fuzhi, edited.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and show the changes; apply nothing.")
    ] = False,
    prefer: Annotated[
        str | None,
        typer.Option(
            "--prefer",
            help="On conflict keep the workbook's value (--prefer workbook).",
            metavar="workbook",
        ),
    ] = None,
    workspace: WorkspaceDir = None,
    quiet: Quiet = False,
) -> None:
    """Apply the edits of a tracking workbook to the workspace (the file is only read).

    Every edited value is validated first; any invalid status, date or amount stops the
    sync with exit 3 and nothing applied. Edits are recorded in the history. A value
    changed both in the workspace since the export and in the workbook is a conflict:
    reported and left alone (exit 3) unless --prefer workbook. Syncing the same file
    twice changes nothing.

    Example: fuzhi sync 跟踪表.xlsx --dry-run
    """
    if prefer not in (None, "workbook"):
        raise UsageError(f"--prefer {prefer}: the only choice is --prefer workbook")
    ws = resolve(workspace)
    with session(ws, write=not dry_run, purpose="fuzhi sync") as conn:
        report = sync_workbook(conn, file, dry_run=dry_run, prefer_workbook=prefer is not None)
    if not quiet:
        for c in report.changes:
            header = BY_KEY[c.field].zh
            stdout.print(
                f"row {c.row} {c.match_id} {header}: {c.old or '（空）'} → {c.new or '（空）'}",
                markup=False,
            )
        for note in report.skipped:
            stderr.print(f"skipped: {note}", markup=False)
        verb = "would apply" if dry_run else "applied"
        stderr.print(
            f"{file}: {report.rows:,} rows, {len(report.changes):,} change(s) {verb}, "
            f"{report.unchanged_rows:,} rows unchanged, {len(report.conflicts):,} conflict(s)",
            markup=False,
        )
    for conflict in report.conflicts:
        stderr.print(f"conflict: {conflict}", markup=False)
    if report.conflicts:
        stderr.print(
            "conflicting values were not applied; export a fresh workbook, or rerun with "
            "--prefer workbook to keep the workbook's values",
            markup=False,
        )
        raise typer.Exit(int(ExitCode.INPUT))


def history(
    match_id: Annotated[str, typer.Argument(help="Match ID (匹配编号), e.g. M-1A2B3C4D5E6F.")],
    lang: Language = Lang.ZH,
    workspace: WorkspaceDir = None,
) -> None:
    """Show a match's trail: when it was proposed and every change synced since.

    Example: fuzhi history M-1A2B3C4D5E6F
    """
    ws = resolve(workspace)
    with session(ws, write=False) as conn:
        trail = match_history(conn, match_id)
    score = "" if trail.score is None else f", score {trail.score:.1%}"
    stdout.print(
        f"{trail.match_id}: demand {trail.demand_id} ↔ achievement {trail.achievement_id}, "
        f"status {trail.status}{score}",
        markup=False,
    )
    stdout.print(f"{trail.created_at}  proposed", markup=False)
    for e in trail.entries:
        stdout.print(
            f"{e.at}  {e.label(lang.value)}: {e.old or '（空）'} → {e.new or '（空）'}  ({e.source})",
            markup=False,
        )


def register(app: typer.Typer) -> None:
    app.add_typer(export_app)
    app.command("sync")(sync)
    app.command("history")(history)
