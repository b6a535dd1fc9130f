"""Where a workspace lives: create one with ``fuzhi init``, find one from any folder inside it.

Layout of a workspace folder ``DIR``::

    DIR/fuzhi.toml          settings (config.DEFAULT_TOML on init)
    DIR/fuzhi.db            the SQLite database (WAL files beside it while in use)
    DIR/.fuzhi/lock         the one lock file of the workspace
    DIR/.fuzhi/model/       the stored text model of the last full match

``--workspace DIR`` wins, then ``FUZHI_WORKSPACE``, then the nearest folder at or above the
current one that holds ``fuzhi.toml`` and ``fuzhi.db``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fuzhi.config import CONFIG_NAME, DEFAULT_TOML, Settings, load_settings
from fuzhi.errors import FuzhiError, UsageError

DB_NAME = "fuzhi.db"
STATE_DIR = ".fuzhi"
ENV_VAR = "FUZHI_WORKSPACE"


class WorkspaceNotFoundError(FuzhiError):
    """No workspace at or above the folder, or the named folder is not one."""

    exit_code = UsageError.exit_code


@dataclass(frozen=True)
class Workspace:
    """Paths of one workspace folder."""

    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def lock_path(self) -> Path:
        return self.state_dir / "lock"

    @property
    def model_dir(self) -> Path:
        return self.state_dir / "model"

    def settings(self) -> Settings:
        """The workspace's ``fuzhi.toml`` (defaults for keys it leaves out)."""
        return load_settings(self.config_path)


def is_workspace(folder: Path) -> bool:
    return (folder / CONFIG_NAME).is_file() and (folder / DB_NAME).is_file()


def find_workspace(explicit: Path | str | None = None, start: Path | None = None) -> Workspace:
    """The workspace named by ``explicit`` or ``FUZHI_WORKSPACE``, else found by walking up."""
    named = explicit if explicit not in (None, "") else os.environ.get(ENV_VAR) or None
    if named is not None:
        folder = Path(named).expanduser().resolve()
        if not is_workspace(folder):
            raise WorkspaceNotFoundError(
                f"{folder}: not a fuzhi workspace (no {CONFIG_NAME} and {DB_NAME}); "
                f"create one with: fuzhi init {folder}"
            )
        return Workspace(folder)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_workspace(folder):
            return Workspace(folder)
    raise WorkspaceNotFoundError(
        f"{here}: no fuzhi workspace here or in any parent folder; create one with "
        "`fuzhi init DIR`, or name one with --workspace DIR or FUZHI_WORKSPACE"
    )


def create_layout(folder: Path) -> tuple[Workspace, bool]:
    """Create ``folder``, its ``fuzhi.toml`` (kept if present) and state folder.

    Returns the workspace and whether the settings file was written now. The database
    itself is created by :func:`fuzhi.workspace.store.open_workspace`.
    """
    folder = folder.expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    workspace = Workspace(folder)
    workspace.state_dir.mkdir(exist_ok=True)
    wrote = False
    if not workspace.config_path.exists():
        workspace.config_path.write_text(DEFAULT_TOML, encoding="utf-8")
        wrote = True
    else:
        load_settings(workspace.config_path)  # an existing file must be valid
    return workspace, wrote
