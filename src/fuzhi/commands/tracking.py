"""``fuzhi export tracking``, ``fuzhi sync`` and ``fuzhi history``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Added with the tracking workbook."""
