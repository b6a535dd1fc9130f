"""``fuzhi.process``: background threads that forks wait for."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from fuzhi.match import engine
from fuzhi.pipeline import load
from fuzhi.process import Background
from fuzhi.schema import Kind


def test_background_gives_its_value_or_raises_its_error() -> None:
    assert Background("t", lambda a, b: a + b, 2, 3).result() == 5

    def fail() -> None:
        raise ValueError("bad place")

    with pytest.raises(ValueError, match="bad place"):
        Background("t", fail).result()


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform != "linux", reason="needs fork")
def test_a_fork_waits_for_background_threads() -> None:
    """The thread holds a lock for a while; forked in the meantime, a child would inherit it
    held, with no thread left to release it, unless the fork waited for the thread."""
    held = threading.Lock()
    started = threading.Event()

    def work() -> str:
        with held:
            started.set()
            time.sleep(0.3)
        return "done"

    job = Background("t", work)
    started.wait()
    pid = os.fork()
    if pid == 0:  # the child: the lock must be free
        os._exit(0 if held.acquire(timeout=2) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert job.result() == "done"


def test_factor_errors_reach_the_caller(
    small_libraries: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Factors are computed on a thread while texts are counted; a failure there is the
    match's failure, not a lost thread."""
    a, d = small_libraries
    achievements, demands = load(a, Kind.ACHIEVEMENTS).records, load(d, Kind.DEMANDS).records
    calls: list[str] = []

    def broken(records: pd.DataFrame, money_col: str, vocabs: object) -> None:
        calls.append(threading.current_thread().name)
        raise RuntimeError("factor failure")

    monkeypatch.setattr(engine, "_side", broken)
    with pytest.raises(RuntimeError, match="factor failure"):
        engine.match_libraries(achievements, demands, cache_dir=tmp_path)
    assert calls == ["fuzhi-factors"]
