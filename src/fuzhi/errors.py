"""The one exception family of fuzhi and the process exit codes it maps to."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in README and ``fuzhi --help``."""

    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    INPUT = 3
    LOCKED = 4
    INTERRUPTED = 130


class FuzhiError(Exception):
    """An error a user can act on; the CLI prints its message as one line."""

    exit_code: ExitCode = ExitCode.UNEXPECTED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(FuzhiError):
    """Options that do not fit together or a value that is not allowed."""

    exit_code = ExitCode.USAGE


class InputError(FuzhiError):
    """An input file that cannot be read or holds unusable rows."""

    exit_code = ExitCode.INPUT


class WorkspaceLockedError(FuzhiError):
    """Another fuzhi process holds the workspace lock."""

    exit_code = ExitCode.LOCKED


def location(
    path: object, sheet: str | None = None, row: int | None = None, column: str | None = None
) -> str:
    """Format 'file, sheet S, row R, column C' for messages; parts left out when unknown."""
    parts = [str(path)]
    if sheet:
        parts.append(f"sheet {sheet!r}")
    if row is not None:
        parts.append(f"row {row}")
    if column:
        parts.append(f"column {column!r}")
    return ", ".join(parts)
