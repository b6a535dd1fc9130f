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

On Linux the first worker is forked from this process, builds the segmenter, and forks the
others (``_Forked``): they start with the loaded modules, the tokenizer and its segmenter
as they are, built once (its ~100 MB shared, not copied). Elsewhere a
``ProcessPoolExecutor`` with the platform's default start method is used (the tokenizer is
pickled without its segmenter, and each worker builds its own).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

if TYPE_CHECKING:
    from fuzhi.match.tokenize import Tokenizer

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

N_JOBS = 2  # worker processes a run starts (the machines fuzhi targets have two cores)
_FORK = sys.platform == "linux"  # workers forked from a first one (``_Forked``)
_AHEAD = 2  # jobs handed to a worker at a time: one running, one waiting in its pipe
_ACTIVE: dict[tuple[str, str, str], Workers] = {}
_SESSIONS: list[list[Workers]] = []
_TOKENIZER: Tokenizer | None = None  # in a worker: the tokenizer it works for


class Workers:
    """``n_jobs`` processes working for one tokenizer (started at once)."""

    def __init__(self, tokenizer: Tokenizer, n_jobs: int) -> None:
        self.n_jobs = n_jobs
        self._pool: _Forked | _Executor = (
            _Forked(tokenizer, n_jobs) if _FORK else _Executor(tokenizer, n_jobs)
        )

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``fn`` of each item in the workers, results in order as they come; a worker
        that dies makes it raise ``BrokenExecutor``."""
        return self._pool.map(fn, items)

    def submit_background(self, fn: Callable[..., None], *args: object) -> bool:
        """Queue ``fn(*args)`` (niced) to finish before ``close`` returns; False if the
        workers can take no more work (one died)."""
        return self._pool.submit_background(fn, *args)

    @property
    def each_possible(self) -> bool:
        """Whether ``submit_each`` can reach every worker (forked workers, none lost)."""
        return isinstance(self._pool, _Forked) and self._pool.intact()

    def submit_each(self, fn: Callable[..., None], *args: object) -> None:
        """Queue ``fn(*args)`` (niced) in every worker still running, as background jobs
        (e.g. storing what each worker kept); only where ``each_possible`` was true."""
        assert isinstance(self._pool, _Forked), "only forked workers take a job each"
        self._pool.submit_each(fn, *args)

    def settle(self) -> None:
        """Wait for the background jobs queued so far: a failed one is logged, one lost
        with its worker is run here."""
        self._pool.settle()

    def close(self) -> None:
        """Wait for background jobs, then stop the workers; if the wait is interrupted
        (Ctrl-C), stop them at once, so none outlives the run."""
        try:
            self.settle()
        except BaseException:
            self.terminate()
            raise
        self._pool.shutdown()

    def terminate(self) -> None:
        """Stop the workers now, whatever they are doing (their background jobs with them:
        nothing is left to wait for)."""
        self._pool.terminate()

    def pids(self) -> list[int]:
        """The process IDs of the workers known so far."""
        return self._pool.pids()


class _Executor:
    """Workers as a ``ProcessPoolExecutor`` (where ``_Forked`` cannot run)."""

    def __init__(self, tokenizer: Tokenizer, n_jobs: int) -> None:
        context = multiprocessing.get_context("fork") if sys.platform == "linux" else None
        self._executor = ProcessPoolExecutor(
            n_jobs, mp_context=context, initializer=_start, initargs=(tokenizer,)
        )
        for _ in range(n_jobs):  # start every process now (fork: all on the first submit)
            self._executor.submit(_nothing)
        self._background: list[tuple[Future[None], Callable[..., None], tuple[Any, ...]]] = []

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        return self._executor.map(fn, items)

    def submit_background(self, fn: Callable[..., None], *args: object) -> bool:
        try:
            self._background.append((self._executor.submit(_niced, fn, *args), fn, args))
        except (BrokenExecutor, RuntimeError):
            return False
        return True

    def settle(self) -> None:
        while self._background:
            job, fn, args = self._background.pop(0)
            try:
                job.result()
            except Exception as exc:
                _failed(fn, args, exc)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def terminate(self) -> None:
        self._background.clear()
        for process in self._processes():
            with contextlib.suppress(Exception):
                process.terminate()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def pids(self) -> list[int]:
        return [p.pid for p in self._processes() if p.pid is not None]

    def _processes(self) -> list[Any]:
        return list(getattr(self._executor, "_processes", {}).values())


class _Forked:
    """Linux: the first worker is forked from this process and builds the segmenter; then
    it forks the others, which so share its pages instead of each building its own
    (~0.3 s of CPU and ~100 MB of memory apiece, spent while this process reads the
    libraries, on the same two cores).

    Each worker has a pipe to this process. Jobs are pickled here and handed to the
    least busy worker, ``_AHEAD`` per worker at a time for a ``map`` (a thread per worker
    writes them, since a busy worker's pipe fills up); results are read here. A worker
    that dies closes its pipe: its jobs fail with ``BrokenExecutor``, no more are taken,
    and its background jobs are run here instead. Workers ignore Ctrl-C (this process
    stops them), forked ones die with the first, and all of them end when their pipe
    closes (this process gone)."""

    def __init__(self, tokenizer: Tokenizer, n_jobs: int) -> None:
        pipes = [multiprocessing.Pipe() for _ in range(n_jobs)]
        others = [c.fileno() for c in _MAIN_ENDS]  # other pools' ends: not the worker's
        blocked = _block_interrupts()  # a Ctrl-C now must not reach the child as the caller
        try:
            first = os.fork()
        except BaseException:
            _unblock_interrupts(blocked)
            for here, there in pipes:
                here.close()
                there.close()
            raise
        if first == 0:
            _first_worker(tokenizer, pipes, others, blocked)
        self._first = first
        self._conns: list[Connection] = [here for here, _ in pipes]
        self._pids: dict[int, int] = {0: first}
        self._hello: set[int] = set()  # workers that have said they run
        self._busy: list[set[int]] = [set() for _ in self._conns]  # job ids per worker
        self._done: dict[int, tuple[bool, Any]] = {}
        self._background: dict[int, tuple[Callable[..., None], tuple[Any, ...]]] = {}
        self._next_job = 0
        self._broken: str | None = None
        self._gone: set[int] = set()  # workers whose pipe has closed
        self._stopped = False  # told to stop (or killed); no more jobs
        self._reaped = False
        self._outboxes: list[queue.SimpleQueue[bytes | None]] = []
        self._senders: list[threading.Thread] = []
        try:
            for _, there in pipes:
                there.close()
            for conn in self._conns:
                outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
                sender = threading.Thread(
                    target=_send_all, args=(conn, outbox), name="fuzhi-worker-pipe", daemon=True
                )
                sender.start()
                self._outboxes.append(outbox)
                self._senders.append(sender)
            _MAIN_ENDS.update(self._conns)
            _unblock_interrupts(blocked)  # a Ctrl-C held meanwhile is raised here
        except BaseException:
            _unblock_interrupts(blocked)
            self.terminate()
            raise

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        todo = iter(items)
        jobs: deque[int] = deque()  # this map's jobs, in order, until yielded

        def hand_out() -> None:
            while self._broken is None:
                live = len(self._conns) - len(self._gone)
                if sum(job not in self._done for job in jobs) >= _AHEAD * live:
                    return
                item = next(todo, _END)
                if item is _END:
                    return
                jobs.append(self._submit(fn, (item,)))

        hand_out()
        while jobs:
            job = jobs[0]
            while job not in self._done:
                self._receive()
                hand_out()
            jobs.popleft()
            ok, value = self._done.pop(job)
            if not ok:
                raise value
            hand_out()
            yield value
        if self._broken is not None and next(todo, _END) is not _END:
            raise BrokenExecutor(self._broken)

    def intact(self) -> bool:
        """Whether every worker still runs and takes jobs (what has come in is read first,
        so a death is noticed before a job is handed out)."""
        self._poll()
        return self._broken is None and not self._stopped

    def submit_background(self, fn: Callable[..., None], *args: object) -> bool:
        if not self.intact():
            return False
        try:
            job = self._submit(_niced, (fn, *args))
        except Exception as exc:  # e.g. an argument that does not pickle: run it here
            log.debug("background job not handed to a worker: %s", exc)
            return False
        self._background[job] = (fn, args)
        return True

    def submit_each(self, fn: Callable[..., None], *args: object) -> None:
        self._poll()
        for worker in range(len(self._conns)):
            if worker in self._gone or self._stopped:
                continue
            try:
                job = self._submit(_niced, (fn, *args), worker)
            except Exception as exc:
                log.warning("background job not handed to the workers: %s", exc)
                return
            self._background[job] = (fn, args)

    def settle(self) -> None:
        while self._background:
            job = next(iter(self._background))
            if job not in self._done and any(job in b for b in self._busy):
                self._receive()
                continue
            fn, args = self._background.pop(job)
            ok, value = self._done.pop(job, (False, BrokenExecutor(self._broken)))
            if not ok:
                _failed(fn, args, value)

    def shutdown(self) -> None:
        if self._stopped:
            self._finish()
            return
        if self._broken is not None or any(self._busy):  # jobs no one waits for: stop now
            self.terminate()
            return
        self._stopped = True
        for outbox in self._outboxes:
            outbox.put(None)  # the sender writes "stop", then ends
        for sender in self._senders:
            sender.join()
        self._finish()

    def terminate(self) -> None:
        self._stopped = True
        self._background.clear()
        with contextlib.suppress(OSError):  # a child not yet reaped: its pid is still ours
            os.kill(self._first, signal.SIGKILL)  # the ones it forked die with it
        for outbox in self._outboxes:
            outbox.put(None)
        self._finish()

    def _finish(self) -> None:
        """Close this side of the pipes (a sender still writing fails, and ends) and reap
        the first worker (which reaps the others, or they die with it)."""
        if self._reaped:
            return
        for conn in self._conns:
            _MAIN_ENDS.discard(conn)
            conn.close()
        _reap(self._first)
        self._reaped = True

    def pids(self) -> list[int]:
        deadline = time.monotonic() + 10  # the others start once the first has its segmenter
        while len(self._hello) < len(self._conns) and time.monotonic() < deadline:
            if self._broken is not None or self._stopped:
                break
            self._take(wait(self._live(), 0.05))
        return [self._pids[i] for i in sorted(self._pids)]

    def _live(self) -> list[Connection]:
        return [c for i, c in enumerate(self._conns) if i not in self._gone]

    def _submit(
        self, fn: Callable[..., Any], args: tuple[Any, ...], worker: int | None = None
    ) -> int:
        """Hand a job to ``worker``, or to the least busy one (raises if it does not
        pickle: nothing is handed out then)."""
        if self._broken is not None and worker is None:
            raise BrokenExecutor(self._broken)
        job = self._next_job
        # The job is pickled inside the message: a worker that cannot unpickle it still
        # knows which job failed (results come back the same way).
        inner = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
        payload = pickle.dumps((job, inner), protocol=pickle.HIGHEST_PROTOCOL)
        self._next_job += 1
        if worker is None:
            live = [i for i in range(len(self._conns)) if i not in self._gone]
            worker = min(live, key=lambda i: len(self._busy[i]))
        self._busy[worker].add(job)
        self._outboxes[worker].put(payload)
        return job

    def _receive(self) -> None:
        """Wait for a message from a worker that has jobs, and take in what came."""
        waiting = [conn for conn, jobs in zip(self._conns, self._busy, strict=True) if jobs]
        if waiting:
            self._take(wait(waiting))

    def _poll(self) -> None:
        """Take in what has come without waiting (a worker's death included)."""
        if not self._reaped:
            self._take(wait(self._live(), 0))

    def _take(self, ready: list[Any]) -> None:
        for conn in ready:
            worker = self._conns.index(conn)
            if worker in self._gone:
                continue
            try:
                job, ok, blob = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError):  # the worker died (or could not start)
                self._lost(worker)
                continue
            if job == _HELLO:
                self._pids[worker] = blob
                self._hello.add(worker)
                continue
            try:
                value = pickle.loads(blob)
            except Exception as exc:  # a result or an error that does not unpickle here
                ok, value = False, RuntimeError(f"a worker's result could not be read: {exc!r}")
            self._busy[worker].discard(job)
            self._done[job] = (ok, value)

    def _lost(self, worker: int) -> None:
        pid = self._pids.get(worker)
        self._broken = f"worker process {pid or worker + 1} ended unexpectedly"
        self._gone.add(worker)
        for job in self._busy[worker]:
            self._done[job] = (False, BrokenExecutor(self._broken))
        self._busy[worker].clear()


def _failed(fn: Callable[..., None], args: tuple[Any, ...], error: BaseException) -> None:
    """A background job that did not finish in a worker: one lost with its worker is run
    here instead (background jobs store caches: doing it twice is harmless); one that
    failed is reported."""
    if not isinstance(error, BrokenExecutor):
        log.warning("background job in a worker failed: %s", error)
        return
    try:
        fn(*args)
    except Exception as exc:
        log.warning("background job failed: %s", exc)


_END = object()
_HELLO = -1  # a worker's first message: its process ID
_MAIN_ENDS: set[Connection] = set()  # this process's ends of every live pool's pipes


def _block_interrupts() -> bool:
    """Hold SIGINT on this thread (around a fork), if it is the main one."""
    if threading.current_thread() is not threading.main_thread():
        return False
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    return True


def _unblock_interrupts(blocked: bool) -> None:
    if blocked:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _send_all(conn: Connection, outbox: queue.SimpleQueue[bytes | None]) -> None:
    """In this process: write a worker's jobs to its pipe, then "stop" (None)."""
    while True:
        payload = outbox.get()
        try:
            conn.send_bytes(payload if payload is not None else _STOP)
        except (OSError, ValueError, TypeError):  # the worker or this side's pipe is gone
            return
        except BaseException:  # anything else: hang up, so that both sides see the end
            with contextlib.suppress(Exception):
                socket.socket(fileno=os.dup(conn.fileno())).shutdown(socket.SHUT_RDWR)
            raise
        if payload is None:
            return


_STOP = pickle.dumps(None)


def _as_worker(blocked: bool) -> None:
    """Signals as a worker takes them: Ctrl-C is the main process's to act on; SIGTERM
    ends it whatever handler the main process had."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _unblock_interrupts(blocked)


def _first_worker(
    tokenizer: Tokenizer,
    pipes: list[tuple[Connection, Connection]],
    others: list[int],
    blocked: bool,
) -> NoReturn:
    """In the first worker: build the segmenter, fork the others, then serve."""
    code = 1
    forked: list[int] = []
    try:
        _as_worker(blocked)
        for fd in others:
            with contextlib.suppress(OSError):
                os.close(fd)
        for here, _ in pipes:
            here.close()
        _start(tokenizer)
        me = os.getpid()
        for n in range(1, len(pipes)):
            pid = os.fork()
            if pid == 0:
                _other_worker(pipes, n, me)
            forked.append(pid)
        for _, there in pipes[1:]:
            there.close()
        _serve(pipes[0][1])
        code = 0
    except BaseException:  # the main process sees the pipes close and works alone
        with contextlib.suppress(BaseException):
            log.debug("worker ended", exc_info=True)
    finally:
        if code == 0:  # the others were told to stop too
            for pid in forked:
                _reap(pid)
        os._exit(code)


def _other_worker(pipes: list[tuple[Connection, Connection]], n: int, parent: int) -> NoReturn:
    """In a worker forked from the first one (``parent``): serve on pipe ``n``."""
    code = 1
    try:
        with contextlib.suppress(Exception):  # end with the first worker
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # it ended before that took effect
            os._exit(1)
        for i, (_, there) in enumerate(pipes):
            if i != n:
                there.close()
        _serve(pipes[n][1])
        code = 0
    except BaseException:
        with contextlib.suppress(BaseException):
            log.debug("worker ended", exc_info=True)
    finally:
        os._exit(code)


def _serve(conn: Connection) -> None:
    """Run the jobs that come down the pipe until "stop" or the pipe closes."""
    conn.send_bytes(pickle.dumps((_HELLO, True, os.getpid())))
    while True:
        try:
            message = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):  # the main process is gone
            return
        if message is None:
            return
        job, inner = message
        try:
            fn, args = pickle.loads(inner)
            reply = (True, fn(*args))
        except BaseException as exc:  # the caller re-raises it
            reply = (False, exc)
        try:
            blob = pickle.dumps(reply[1], protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # the result or the exception does not pickle
            error = RuntimeError(f"{type(exc).__name__}: {exc}")
            reply, blob = (False, error), pickle.dumps(error)
        try:
            conn.send_bytes(pickle.dumps((job, reply[0], blob), protocol=pickle.HIGHEST_PROTOCOL))
        except (EOFError, OSError):
            return


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, 0)


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
