"""Golden output: what an analyst sees from ``fuzhi match`` on the small fixture libraries.

Any change to ranking, scores, factors or reasons shows up here as a diff. When a change is
intended, regenerate with ``FUZHI_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py``
and review the diff of tests/data/small_matches.jsonl in the commit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from fuzhi.cli import app

GOLDEN = Path(__file__).parent / "data" / "small_matches.jsonl"


def _rounded(record: dict) -> dict:
    out = dict(record)
    for key in ("score", "text_score"):
        out[key] = round(out[key], 4)
    out["factors"] = {k: None if v is None else round(v, 4) for k, v in out["factors"].items()}
    return out


def test_small_match_matches_golden_file(small_libraries: tuple[Path, Path]) -> None:
    a, d = small_libraries
    result = CliRunner().invoke(
        app, ["match", "-a", str(a), "-d", str(d), "-k", "3", "--by", "both"]
    )
    assert result.exit_code == 0, result.stderr
    produced = [_rounded(json.loads(line)) for line in result.stdout.splitlines()]
    if os.environ.get("FUZHI_UPDATE_GOLDEN"):
        GOLDEN.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in produced), encoding="utf-8"
        )
    expected = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines()]
    assert produced == expected
