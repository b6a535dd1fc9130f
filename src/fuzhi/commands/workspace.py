"""``fuzhi init``, ``fuzhi workspace status`` and ``fuzhi workspace backup``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer

from fuzhi.commands.common import Quiet, cache_dir, progress_bar, stderr, stdout
from fuzhi.errors import UsageError
from fuzhi.match.engine import Direction, MatchOptions
from fuzhi.workspace.locate import Workspace, create_layout, find_workspace
from fuzhi.workspace.matching import match_workspace
from fuzhi.workspace.status import backup_workspace, workspace_status
from fuzhi.workspace.store import session

WorkspaceDir = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: the nearest folder at or above this one with fuzhi.toml).",
        envvar="FUZHI_WORKSPACE",
        file_okay=False,
    ),
]

workspace_app = typer.Typer(
    name="workspace",
    help="Inspect and back up the workspace (the database of libraries, matches and tracking).",
    no_args_is_help=True,
)


def resolve(workspace: Path | None) -> Workspace:
    """The workspace named by ``--workspace``/``FUZHI_WORKSPACE`` or found by walking up."""
    return find_workspace(workspace)


def init(
    directory: Annotated[
        Path, typer.Argument(help="Folder of the new workspace (created if missing).")
    ] = Path("."),
    quiet: Quiet = False,
) -> None:
    """Create a workspace: DIR/fuzhi.toml (settings) and the database beside it.

    Running it again on an existing workspace changes nothing (it only applies pending
    schema migrations). Commands run anywhere inside DIR find the workspace.

    Example: fuzhi init ~/赋智/2025
    """
    workspace, wrote = create_layout(directory)
    with session(workspace, write=True, purpose="fuzhi init") as conn:
        status = workspace_status(conn, workspace)
    if not quiet:
        verb = "created" if wrote else "already a workspace:"
        stderr.print(f"{verb} {workspace.root} (schema version {status.schema_version})")


@workspace_app.command("status")
def status(
    workspace: WorkspaceDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Show record counts, matches by status, the last import and match, the schema version.

    Example: fuzhi workspace status
    """
    ws = resolve(workspace)
    with session(ws, write=False) as conn:
        st = workspace_status(conn, ws)
    if as_json:
        data = dataclasses.asdict(st) | {"root": str(st.root)}
        stdout.print_json(json.dumps(data, ensure_ascii=False))
        return
    lines = [
        f"workspace: {st.root}",
        f"schema version: {st.schema_version} (latest {st.latest_schema})",
        "records: "
        + ", ".join(f"{kind} {n:,}" for kind, n in st.records.items())
        + " (waiting for match: "
        + ", ".join(f"{kind} {n:,}" for kind, n in st.pending_match.items())
        + ")",
        f"matches: {st.matches:,} ("
        + ", ".join(f"{s} {n:,}" for s, n in st.by_status.items())
        + ")",
    ]
    if st.last_import:
        li = st.last_import
        lines.append(
            f"last import: {li['finished_at']} {li['kind']} {li['path']} "
            f"(new {li['new']}, updated {li['updated']}, unchanged {li['unchanged']}, "
            f"rejected {li['rejected']})"
        )
    else:
        lines.append("last import: never")
    if st.last_match:
        lm = st.last_match
        lines.append(
            f"last match: {lm['finished_at']} ({lm['mode']}, {lm['demands_matched']} demands, "
            f"{lm['pairs_new']} new pairs, model {lm['model_version']})"
        )
    else:
        lines.append("last match: never")
    for line in lines:
        stdout.print(line, markup=False)


@workspace_app.command("backup")
def backup(
    target: Annotated[Path, typer.Argument(help="File to write the copy to.", dir_okay=False)],
    workspace: WorkspaceDir = None,
    quiet: Quiet = False,
) -> None:
    """Write a consistent copy of the workspace database, safe while other runs write.

    Uses SQLite's online backup, so it does not wait for (or block) imports and matches.

    Example: fuzhi workspace backup backups/fuzhi-2025-07-01.db
    """
    ws = resolve(workspace)
    with session(ws, write=False) as conn:
        size = backup_workspace(conn, target)
    if not quiet:
        stderr.print(f"wrote {target} ({size:,} bytes)")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.add_typer(workspace_app)


def match_in_workspace(
    workspace: Path | None,
    options: MatchOptions,
    defaults: set[str],
    full: bool,
    include_rejected: bool,
    has_output: bool,
    quiet: bool,
) -> None:
    """``fuzhi match`` without files: settings from fuzhi.toml unless given on the line."""
    if has_output:
        raise UsageError(
            "fuzhi match in a workspace stores its results; write them with "
            "`fuzhi export tracking -o FILE.xlsx`"
        )
    if options.by is not Direction.DEMAND:
        raise UsageError("--by: a workspace proposes achievements per demand; use --by demand")
    ws = resolve(workspace)
    settings = ws.settings()
    options = dataclasses.replace(
        options,
        k=settings.match.k if "k" in defaults else options.k,
        min_score=settings.match.min_score if "min_score" in defaults else options.min_score,
        candidates=settings.match.candidates,
        weights=settings.weights,
        text=dataclasses.replace(
            options.text,
            user_dicts=settings.text.user_dicts,
            synonyms=settings.text.synonyms,
            stopwords=settings.text.stopwords,
        ),
    )
    with (
        session(ws, write=True, purpose="fuzhi match") as conn,
        progress_bar(quiet) as progress,
    ):
        report = match_workspace(
            conn,
            ws,
            options,
            full=full,
            include_rejected=include_rejected,
            cache_dir=cache_dir(),
            progress=progress,
        )
    if not quiet:
        stderr.print(
            f"{report.mode} match (run {report.run_id}): {report.demands_matched:,} demands and "
            f"{report.achievements_matched:,} achievements scored; {report.pairs_new:,} new "
            f"pairs, {report.pairs_updated:,} rescored; {report.proposed:,} proposals "
            f"(model {report.model_version})",
            markup=False,
        )
