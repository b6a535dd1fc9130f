"""How a fuzhi process runs and ends: garbage collection tuned for a batch run, work on
background threads that forks wait for, and a fast exit."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Generic, NoReturn, TypeVar

T = TypeVar("T")

# A collection of the youngest generation after 10,000 new container objects instead of 700:
# reading, counting and writing a 10k library makes millions of short-lived lists, tuples
# and dicts, and with the default the collector ran ~450 times and took ~0.26 s of a ~3.7 s
# match, against ~0.12 s with this (docs/benchmarks.md). The older generations keep theirs.
BATCH_GC_THRESHOLD = 10_000


def batch_gc() -> None:
    """Collect garbage less often, as suits one short batch run (``fuzhi``'s entry point)."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(BATCH_GC_THRESHOLD, older, oldest)


_FORK_WAITS: set[threading.Thread] = set()  # threads a fork waits for
_FORK_LOCK = threading.Lock()
_FORK_HOOKED = False


class Background(Generic[T]):
    """``fn(*args)`` on a thread from now on; ``result()`` waits for it and returns its value
    or raises its exception. A fork waits for the thread first: it may hold locks (an
    import's, say) that the child would then wait for for ever."""

    def __init__(self, name: str, fn: Callable[..., T], *args: object) -> None:
        global _FORK_HOOKED
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, args), name=name, daemon=True)
        with _FORK_LOCK:
            if not _FORK_HOOKED and hasattr(os, "register_at_fork"):  # not on Windows
                os.register_at_fork(before=_wait_for_threads)
                _FORK_HOOKED = True
            _FORK_WAITS.add(self._thread)
        self._thread.start()

    def _run(self, fn: Callable[..., T], args: tuple[object, ...]) -> None:
        try:
            self._value = fn(*args)
        except BaseException as exc:  # handed to the caller of result()
            self._error = exc
        finally:
            with _FORK_LOCK:
                _FORK_WAITS.discard(self._thread)

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def _wait_for_threads() -> None:
    with _FORK_LOCK:
        waits = [t for t in _FORK_WAITS if t is not threading.current_thread()]
    for thread in waits:
        thread.join()


def exit_now(code: int | str | None) -> NoReturn:
    """Flush standard streams and logging, then end the process without the interpreter's
    teardown.

    After a large match the process holds Numba's compiler, the segmenter's 349k-word
    dictionary and millions of small objects; tearing them down takes ~0.4 s that serves
    no one. Nothing else is pending by then: commands write files under temporary names
    and rename them, close their SQLite caches and workspaces, and join their worker
    threads and processes before they return (any left by an interrupt are terminated).
    Output that cannot be flushed (a full disk) is reported and the exit code made 1."""
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    code = 0 if code is None else code
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (`fuzhi match | head`): not an error
        pass
    except (OSError, ValueError) as exc:  # e.g. a full disk: the output is incomplete
        with contextlib.suppress(OSError, ValueError):
            print(f"fuzhi: error: could not write the output: {exc}", file=sys.stderr)
        code = code or 1
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    logging.shutdown()
    children = sys.modules.get("multiprocessing")  # workers left by an interrupted run
    for child in children.active_children() if children else ():
        with contextlib.suppress(Exception):
            child.terminate()
    os._exit(code)
