"""One lock per workspace: a second writer fails at once (exit 4) instead of waiting.

Overlapping cron runs are normal; the second run should say who holds the workspace and
stop, leaving the first to finish. The lock is an OS file lock (``filelock``: ``flock`` on
POSIX, ``msvcrt`` on Windows), released by the OS when the holder dies, so a killed run
never leaves a stale lock behind. A small ``lock.info`` file says who holds it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from collections.abc import Iterator

from filelock import FileLock, Timeout

from fuzhi.errors import WorkspaceLockedError
from fuzhi.workspace.locate import Workspace


def _holder(workspace: Workspace) -> str:
    info = workspace.lock_path.with_suffix(".info")
    try:
        text = info.read_text(encoding="utf-8").strip()
    except OSError:
        return ""
    return f" ({text})" if text else ""


@contextlib.contextmanager
def workspace_lock(workspace: Workspace, purpose: str = "") -> Iterator[None]:
    """Hold the workspace lock for the block; raise WorkspaceLockedError if it is taken."""
    workspace.state_dir.mkdir(exist_ok=True)
    lock = FileLock(str(workspace.lock_path), timeout=0, is_singleton=False)
    try:
        lock.acquire()
    except Timeout:
        raise WorkspaceLockedError(
            f"{workspace.root}: the workspace is in use by another fuzhi run"
            f"{_holder(workspace)}; try again when it has finished"
        ) from None
    info = workspace.lock_path.with_suffix(".info")
    try:
        started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        command = purpose or " ".join(os.path.basename(a) for a in sys.argv[:3])
        with contextlib.suppress(OSError):
            info.write_text(f"pid {os.getpid()}, {command}, since {started}", encoding="utf-8")
        yield
    finally:
        with contextlib.suppress(OSError):
            info.write_text("", encoding="utf-8")
        lock.release()
