"""House style as tests, so CI checks it: ruff's lint rules and format, and mypy on the
package, at the versions the ``test`` extra pins (newer ones may add rules)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODE = ["src", "tests", "benchmarks"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="ruff not installed")
def test_ruff_lint_and_format() -> None:
    lint = _run("ruff", "check", "--no-cache", *CODE)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    form = _run("ruff", "format", "--check", "--no-cache", *CODE)
    assert form.returncode == 0, form.stdout + form.stderr


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy not installed")
def test_mypy_on_the_package(tmp_path: Path) -> None:
    typed = _run("mypy", "--cache-dir", str(tmp_path / "mypy"))
    assert typed.returncode == 0, typed.stdout + typed.stderr
