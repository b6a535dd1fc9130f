"""Worker processes that segment and count texts for one tokenizer, shared by one run.

Segmenting is most of a cold run, so it runs in ``n_jobs`` processes, and each one also
folds its texts, looks their tokens up in the token cache, and counts their terms
(``fuzhi.match.terms``): the main process only numbers the terms and merges. A worker's first job is building its
segmenter (jieba's 349k-word dictionary, ~0.3 s); a caller that knows segmenting is coming
(``fuzhi.pipeline.match_files`` when a library has to be read afresh) starts the workers
early with ``prestarted``, and they build it while the main process reads the workbooks.
``pool`` hands out those workers, or starts new ones for the length of its block. Work
nothing waits for (storing the caches) goes to a started worker with ``in_background``, at
a lower priority; within a ``session`` (``fuzhi match`` holds one around matching and
writing) the workers finish it while the output is written.

On Linux workers are forked, so they start with the loaded modules and the tokenizer as they
are; elsewhere the platform's default start method is used (the tokenizer is pickled
without its segmenter, and each worker builds its own).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from fuzhi.match.tokenize import Tokenizer

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

N_JOBS = 2  # worker processes a run starts (the machines fuzhi targets have two cores)
_ACTIVE: dict[tuple[str, str, str], Workers] = {}
_SESSIONS: list[list[Workers]] = []
_TOKENIZER: Tokenizer | None = None  # in a worker: the tokenizer it works for


class Workers:
    """``n_jobs`` processes working for one tokenizer (started at once)."""

    def __init__(self, tokenizer: Tokenizer, n_jobs: int) -> None:
        context = multiprocessing.get_context("fork") if sys.platform == "linux" else None
        self.n_jobs = n_jobs
        self._pool = ProcessPoolExecutor(
            n_jobs, mp_context=context, initializer=_start, initargs=(tokenizer,)
        )
        for _ in range(n_jobs):  # start every process now (fork: all on the first submit)
            self._pool.submit(_nothing)
        self._background: list[Future[None]] = []

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``fn`` of each item in the workers, results in order as they come."""
        return self._pool.map(fn, items)

    def submit_background(self, fn: Callable[..., None], *args: object) -> bool:
        """Queue ``fn(*args)`` (niced) to finish before ``close`` returns; False if the
        workers can take no more work (one died)."""
        try:
            self._background.append(self._pool.submit(_niced, fn, *args))
        except (BrokenExecutor, RuntimeError):
            return False
        return True

    def settle(self) -> None:
        """Wait for the background jobs queued so far (a failed one is logged)."""
        while self._background:
            job = self._background.pop(0)
            try:
                job.result()
            except Exception as exc:  # a background job only ever stores caches
                log.warning("background job in a worker failed: %s", exc)

    def close(self) -> None:
        """Wait for background jobs, then stop the workers; if the wait is interrupted
        (Ctrl-C), stop them at once, so none outlives the run."""
        try:
            self.settle()
        except BaseException:
            self.terminate()
            raise
        self._pool.shutdown(wait=True, cancel_futures=True)

    def terminate(self) -> None:
        """Stop the workers now, whatever they are doing (their background jobs with them:
        nothing is left to wait for)."""
        self._background.clear()
        for process in list(getattr(self._pool, "_processes", {}).values()):
            with contextlib.suppress(Exception):
                process.terminate()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _key(tokenizer: Tokenizer) -> tuple[str, str, str]:
    return tokenizer.version, str(tokenizer.cache_dir), tokenizer.engine


@contextmanager
def prestarted(tokenizer: Tokenizer, n_jobs: int = N_JOBS) -> Iterator[None]:
    """Start workers for ``tokenizer`` now; ``pool`` hands them out until the block ends."""
    key = _key(tokenizer)
    if n_jobs < 2 or key in _ACTIVE:
        yield
        return
    workers = _start_workers(tokenizer, n_jobs)
    if workers is None:
        yield
        return
    _ACTIVE[key] = workers
    try:
        yield
    except KeyboardInterrupt:
        del _ACTIVE[key]
        workers.terminate()
        raise
    except BaseException:
        del _ACTIVE[key]
        workers.close()
        raise
    del _ACTIVE[key]
    if _SESSIONS:  # their background jobs go on until the session ends
        _SESSIONS[-1].append(workers)
    else:
        workers.close()


@contextmanager
def session() -> Iterator[None]:
    """Workers started within this block (``prestarted``) stop at its end rather than at
    their own block's, so their background jobs (storing caches) overlap with what follows,
    such as writing the run's output."""
    held: list[Workers] = []
    _SESSIONS.append(held)
    try:
        yield
    except KeyboardInterrupt:
        for workers in held:
            workers.terminate()
        raise
    finally:
        _SESSIONS.remove(held)
        with ExitStack() as stack:  # every pool is closed, even if closing one fails
            for workers in held:
                stack.callback(workers.close)


@contextmanager
def pool(tokenizer: Tokenizer, n_jobs: int) -> Iterator[Workers | None]:
    """The started workers for ``tokenizer``, or ``n_jobs`` new ones for this block; None
    when no process can be started (the caller then works in this process)."""
    started = _ACTIVE.get(_key(tokenizer))
    if started is not None:
        yield started
        return
    workers = _start_workers(tokenizer, n_jobs)
    if workers is None:
        yield None
        return
    try:
        yield workers
    except KeyboardInterrupt:
        workers.terminate()
        raise
    finally:
        workers.close()


def in_background(tokenizer: Tokenizer, fn: Callable[..., None], *args: object) -> None:
    """``fn(*args)`` in a started worker for ``tokenizer``, finished before its workers
    stop (``prestarted``'s block ends); here and now when none is started (or they died)."""
    started = _ACTIVE.get(_key(tokenizer))
    if started is None or not started.submit_background(fn, *args):
        fn(*args)


def settle(tokenizer: Tokenizer) -> None:
    """Wait for the background jobs of the started workers for ``tokenizer``: what they
    store, the caller is about to read (e.g. ``fuzhi match --dedupe`` counts the same
    achievements twice)."""
    started = _ACTIVE.get(_key(tokenizer))
    if started is not None:
        started.settle()


def _start_workers(tokenizer: Tokenizer, n_jobs: int) -> Workers | None:
    try:
        return Workers(tokenizer, n_jobs)
    except Exception as exc:  # e.g. no semaphores (a read-only /dev/shm): work here instead
        log.warning("worker processes not started (%s); working in one process", exc)
        return None


def _niced(fn: Callable[..., None], *args: object) -> None:
    """``fn(*args)`` at a lower CPU priority: background work yields to the run's own.

    The worker stays niced afterwards (a process cannot raise its priority again), so any
    later chunk it counts in the same run (``fuzhi match --dedupe`` counts twice) runs niced
    too; the main process mostly waits meanwhile, so that costs little. Running the job in
    a child of the worker instead kept the priority but, at 100k, its copies of the pages
    it touched cost ~0.23 GiB more (docs/benchmarks.md)."""
    if hasattr(os, "nice"):  # not on Windows
        with contextlib.suppress(OSError):
            os.nice(10)
    fn(*args)


def tokenizer() -> Tokenizer:
    """In a worker: the tokenizer it works for."""
    assert _TOKENIZER is not None, "not in a worker process"
    return _TOKENIZER


def _start(tok: Tokenizer) -> None:
    global _TOKENIZER
    _TOKENIZER = tok
    tok.segmenter()  # the slow part of starting: done before the first texts arrive


def _nothing() -> None:
    return None
