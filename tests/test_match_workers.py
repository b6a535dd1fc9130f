"""Worker processes: counting in workers gives the vectors counting here gives, started
workers are shared and store the counts in the background, provisional term ids are turned
into the term table's own."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import time
from concurrent.futures import BrokenExecutor
from pathlib import Path

import numpy as np
import pytest

from fuzhi.match import count_cache, terms, workers
from fuzhi.match.segmenter import Engine
from fuzhi.match.text import TextOptions
from fuzhi.match.tokenize import Segmented, Tokenizer
from test_match_count_cache import ACHIEVEMENTS, DEMANDS, assert_same, fit, record_folding


@pytest.fixture
def in_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Count in two workers even for these few documents, in several chunks each, and
    store the rows a few at a time."""
    monkeypatch.setattr(terms, "_PARALLEL_MIN_TEXTS", 1)
    monkeypatch.setattr(terms, "_CHUNK_DOCS", 7)
    monkeypatch.setattr(count_cache, "_STORE_BATCH", 5)


@pytest.fixture
def workers_made(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ``n_jobs`` of every ``Workers`` started from now on."""
    made: list[int] = []
    real = workers.Workers.__init__

    def counting(self: workers.Workers, tok: Tokenizer, n_jobs: int) -> None:
        made.append(n_jobs)
        real(self, tok, n_jobs)

    monkeypatch.setattr(workers.Workers, "__init__", counting)
    return made


def stored_docs(cache: Path) -> int:
    with sqlite3.connect(cache / "counts.sqlite") as db:
        (n,) = db.execute("SELECT count(*) FROM docs").fetchone()
    db.close()
    return int(n)


def test_counting_in_workers_gives_the_same_vectors(tmp_path: Path, in_workers: None) -> None:
    with pytest.MonkeyPatch.context() as serial_only:
        serial_only.setattr(terms, "_PARALLEL_MIN_TEXTS", 10**9)
        serial = fit(tmp_path / "serial")
    assert_same(fit(tmp_path / "parallel"), serial)
    distinct = {tuple(d.values()) for d in ACHIEVEMENTS} | {tuple(d.values()) for d in DEMANDS}
    assert stored_docs(tmp_path / "parallel") == len(distinct)


def test_partly_warm_run_in_workers(
    tmp_path: Path, in_workers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half the documents are stored; the rest bring terms the table has and terms it has
    not: the provisional ids of the new ones become the table's when stored."""
    fit(tmp_path / "cache", achievements=ACHIEVEMENTS[:30], demands=DEMANDS[:10])
    reference = fit(tmp_path / "fresh")
    assert_same(fit(tmp_path / "cache"), reference)
    folded = record_folding(monkeypatch)
    assert_same(fit(tmp_path / "cache"), reference)  # all stored, under the right ids
    assert folded == []


def test_started_workers_are_used_and_store_in_the_background(
    tmp_path: Path, in_workers: None, monkeypatch: pytest.MonkeyPatch, workers_made: list[int]
) -> None:
    cache = tmp_path / "cache"
    reference = fit(tmp_path / "fresh")
    workers_made.clear()  # the reference's own
    tokenizer = Tokenizer(TextOptions().tokenizer_config(), cache_dir=cache)
    with workers.prestarted(tokenizer):
        assert_same(fit(cache), reference)
        assert_same(fit(tmp_path / "other"), reference)  # another cache: workers of its own
    assert workers_made == [2, 2]  # the started ones served the first fit
    assert stored_docs(cache) > 0  # stored by a worker before the block ended
    folded = record_folding(monkeypatch)
    assert_same(fit(cache), reference)
    assert folded == []


def test_failing_background_job_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tokenizer = Tokenizer(TextOptions().tokenizer_config(), cache_dir=tmp_path)
    with caplog.at_level("WARNING", logger="fuzhi.match.workers"), workers.prestarted(tokenizer):
        workers.in_background(tokenizer, _fail, "disk full")
    assert "disk full" in caplog.text


def _fail(message: str) -> None:
    raise OSError(message)


@pytest.mark.parametrize("parallel", [False, True])
def test_tokens_are_stored_for_runs_that_count_differently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool
) -> None:
    """New field weights miss every stored count, yet no text is segmented again: the
    tokens a cold run found are stored with its counts (by a worker when counting ran in
    workers)."""
    if parallel:
        monkeypatch.setattr(terms, "_PARALLEL_MIN_TEXTS", 1)
        monkeypatch.setattr(terms, "_CHUNK_DOCS", 7)
    fit(tmp_path / "cache")
    monkeypatch.setattr(terms, "_PARALLEL_MIN_TEXTS", 10**9)  # segment here, to watch it
    segmented: list[str] = []
    segment_many = Tokenizer._segment_many

    def recording(self: Tokenizer, folded: list[str]) -> Segmented:
        segmented.extend(folded)
        return segment_many(self, folded)

    monkeypatch.setattr(Tokenizer, "_segment_many", recording)
    reweighted = TextOptions(field_weights=(("title", 2.0), ("description", 1.0)))
    fit(tmp_path / "cache", reweighted)
    assert segmented == []
    fit(tmp_path / "other", reweighted)
    assert segmented  # a cache without them segments


def test_a_session_lets_background_jobs_outlive_the_started_block(tmp_path: Path) -> None:
    """Inside a session, leaving ``prestarted`` does not wait for background jobs: the
    job below only finishes once the test, after that block, says go."""
    tokenizer = Tokenizer(TextOptions().tokenizer_config(), cache_dir=tmp_path)
    go, done = tmp_path / "go", tmp_path / "done"
    with workers.session():
        with workers.prestarted(tokenizer):
            workers.in_background(tokenizer, _wait_then_write, str(go), str(done))
        go.touch()  # reached without the job having finished
    assert done.read_text() == "after go"  # the session waited for it


def _wait_then_write(go: str, done: str) -> None:
    deadline = time.monotonic() + 20
    while not Path(go).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    Path(done).write_text("after go" if Path(go).exists() else "timed out")


def test_no_worker_can_start_so_the_work_is_done_here(
    tmp_path: Path,
    in_workers: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """E.g. no semaphores (a read-only /dev/shm): counting happens in this process."""
    reference = fit(tmp_path / "fresh")

    def refused(self: workers.Workers, tok: Tokenizer, n_jobs: int) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(workers.Workers, "__init__", refused)
    tokenizer = Tokenizer(TextOptions().tokenizer_config(), cache_dir=tmp_path / "cache")
    with caplog.at_level("WARNING", logger="fuzhi.match.workers"), workers.prestarted(tokenizer):
        assert_same(fit(tmp_path / "cache"), reference)
    assert "not started" in caplog.text and "Read-only" in caplog.text
    assert stored_docs(tmp_path / "cache") > 0


def test_a_worker_dying_mid_count_leaves_the_rest_to_this_process(
    tmp_path: Path,
    in_workers: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker killed (say, for memory) on its first chunk: the chunks not yet counted are
    counted here, the stores run here too, and the result is the same."""
    reference = fit(tmp_path / "fresh")
    marker = tmp_path / "died"
    monkeypatch.setattr(terms, "_count_in_worker", _dies_once)
    monkeypatch.setattr(terms, "_count_keeping_tokens", _dies_once)
    monkeypatch.setenv("FUZHI_TEST_DIE_MARKER", str(marker))
    cache = tmp_path / "cache"
    tokenizer = Tokenizer(TextOptions().tokenizer_config(), cache_dir=cache)
    with caplog.at_level("WARNING"), workers.session(), workers.prestarted(tokenizer):
        assert_same(fit(cache), reference)
    assert marker.exists() and "died" in caplog.text
    folded = record_folding(monkeypatch)
    assert_same(fit(cache), reference)  # stored all the same
    assert folded == []


def _dies_once(task: terms._Task) -> tuple:
    marker = Path(os.environ["FUZHI_TEST_DIE_MARKER"])
    if not marker.exists():
        marker.touch()
        os._exit(1)  # as the OOM killer would
    return terms.count_texts(workers.tokenizer(), *task)


def test_interrupted_run_leaves_no_worker_behind(tmp_path: Path) -> None:
    tokenizer = Tokenizer(TextOptions().tokenizer_config(), cache_dir=tmp_path)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt), workers.session(), workers.prestarted(tokenizer):
        started = workers._ACTIVE[workers._key(tokenizer)]
        pids = started.pids()
        assert len(set(pids)) == 2 and os.getpid() not in pids
        workers.in_background(tokenizer, time.sleep, 120)  # a plain close would wait
        raise KeyboardInterrupt
    assert time.monotonic() - start < 60  # the interrupt did not wait for the job
    assert all(_ends(pid) for pid in pids)


def test_interrupt_while_writing_stops_background_jobs_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Ctrl-C after matching, while the output is written: the session stops the workers
    and their background job, with no warning about a job that "failed"."""
    tokenizer = Tokenizer(TextOptions().tokenizer_config(), cache_dir=tmp_path)
    where = tmp_path / "job.pid"
    with caplog.at_level("WARNING"), pytest.raises(KeyboardInterrupt), workers.session():
        with workers.prestarted(tokenizer):
            workers.in_background(tokenizer, _sleep_after_writing_pid, str(where), 120)
        deadline = time.monotonic() + 30
        while not where.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        raise KeyboardInterrupt
    assert _ends(int(where.read_text()))
    assert "failed" not in caplog.text


def _sleep_after_writing_pid(path: str, seconds: float) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(seconds)


def _ends(pid: int) -> bool:
    """Whether the process ends (or is a zombie: dead, not yet reaped) within 10 s. The
    pool's own thread may reap it first, so ``Process.is_alive`` can lag."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


def test_background_job_runs_in_a_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tokenizer = Tokenizer(TextOptions().tokenizer_config(), cache_dir=tmp_path)
    where = tmp_path / "pid"
    with workers.prestarted(tokenizer):
        workers.in_background(tokenizer, _write_pid, str(where))
    assert int(where.read_text()) != os.getpid()
    workers.in_background(tokenizer, _write_pid, str(where))  # none started: here
    assert int(where.read_text()) == os.getpid()


def _write_pid(path: str) -> None:
    Path(path).write_text(str(os.getpid()))


@pytest.mark.parametrize(("threshold", "started"), [(10**12, []), (0, [2])])
def test_workers_start_early_only_for_a_large_file_read_afresh(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers_made: list[int],
    threshold: int,
    started: list[int],
) -> None:
    from fuzhi import pipeline

    examples = Path(__file__).resolve().parents[1] / "examples"
    monkeypatch.setattr(pipeline, "_PRESTART_MIN_BYTES", threshold)
    job = pipeline.MatchJob(
        examples / "achievements.xlsx", examples / "demands.xlsx", cache_dir=tmp_path
    )
    first, _ = pipeline.match_files(job)
    assert workers_made == started
    again, _ = pipeline.match_files(job)  # the library cache hits: no workers
    assert workers_made == started
    assert first.frames()[0].equals(again.frames()[0])


def test_a_second_count_waits_for_the_first_ones_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fuzhi match --dedupe`` counts the achievements twice in one run: the second count
    finds the rows the first one's background store was writing, instead of counting
    again."""
    cache = tmp_path / "cache"
    reference = fit(tmp_path / "fresh")
    monkeypatch.setattr(terms, "_store", _slow_store)
    tokenizer = Tokenizer(TextOptions().tokenizer_config(), cache_dir=cache)
    with workers.session(), workers.prestarted(tokenizer):
        assert_same(fit(cache), reference)  # stored in a worker, slowly
        folded = record_folding(monkeypatch)
        assert_same(fit(cache), reference)
        assert folded == []


def _slow_store(*args: object) -> None:
    time.sleep(1.0)
    _real_store(*args)  # type: ignore[arg-type]


_real_store = terms._store


@pytest.mark.parametrize(
    ("engine", "start"), [("jieba", "fork"), ("auto", "fork"), ("auto", "spawn")]
)
def test_workers_count_as_this_process_does_with_either_segmenter(
    tmp_path: Path, engine: Engine, start: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers' tokenizer arrives without its segmenter and builds its own (jieba's or
    rjieba's): a chunk counted there equals the chunk counted here. Workers are forked on
    Linux and spawned elsewhere (macOS, Windows): "spawn" runs that path here."""
    if start == "spawn":
        spawn = multiprocessing.get_context("spawn")
        monkeypatch.setattr(workers.multiprocessing, "get_context", lambda method=None: spawn)
        monkeypatch.setattr(workers, "_FORK", False)
    tokenizer = Tokenizer(cache_dir=tmp_path, engine=engine)
    texts = ["工业互联网平台", "数字孪生车间", "碳纤维复合材料的制备", "边缘计算", "il-6 检测"] * 3
    task = (texts, np.arange(len(texts)) // 2, np.ones(len(texts), np.float32), 8, 2)
    here, _ = terms.count_texts(Tokenizer(cache_dir=tmp_path / "here", engine=engine), *task)
    pool = workers.Workers(tokenizer, 2)
    if start == "fork":
        assert isinstance(pool._pool, workers._Forked)
    else:
        assert isinstance(pool._pool, workers._Executor)
        context = pool._pool._executor._mp_context  # type: ignore[attr-defined]
        assert context.get_start_method() == "spawn"
    try:
        ((there, fresh),) = pool.map(terms._count_in_worker, [task])
    finally:
        pool.close()
    assert there.words == here.words and np.array_equal(there.grams, here.grams)
    keys, _ = fresh
    assert (there.matrix != here.matrix).nnz == 0 and len(keys) == len(set(texts))


def test_workers_that_cannot_build_their_segmenter_leave_the_work_here(
    tmp_path: Path,
    in_workers: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker's start-up fails (say, out of memory building the segmenter): the pool is
    broken before any chunk is handed out, and counting happens here."""
    reference = fit(tmp_path / "fresh")
    monkeypatch.setattr(workers, "_start", _cannot_start)
    cache = tmp_path / "cache"
    tokenizer = Tokenizer(TextOptions().tokenizer_config(), cache_dir=cache)
    with caplog.at_level("WARNING"), workers.session(), workers.prestarted(tokenizer):
        time.sleep(0.5)  # the workers have failed by now
        assert_same(fit(cache), reference)
    assert "counting the rest in this process" in caplog.text
    assert stored_docs(cache) > 0


def _cannot_start(tok: Tokenizer) -> None:
    raise MemoryError("segmenter")


def test_forked_workers_share_one_segmenter_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Linux the first worker builds the segmenter, then forks the others: one build
    for two workers, and each counts as this process does."""
    if not workers._FORK:
        pytest.skip("workers are forked from a first one on Linux only")
    builds = tmp_path / "builds"
    real = workers._start

    def noting(tok: Tokenizer) -> None:
        with builds.open("a") as f:
            f.write(f"{os.getpid()}\n")
        real(tok)

    monkeypatch.setattr(workers, "_start", noting)
    tokenizer = Tokenizer(cache_dir=tmp_path)
    texts = ["工业互联网平台", "数字孪生车间", "碳纤维复合材料的制备", "边缘计算"]
    task = (texts, np.arange(4), np.ones(4, np.float32), 4, 2)
    here, _ = terms.count_texts(Tokenizer(cache_dir=tmp_path / "here"), *task)
    pool = workers.Workers(tokenizer, 2)
    try:
        pids = pool.pids()
        results = list(pool.map(terms._count_in_worker, [task] * 6))
        ran = set(pool.map(_pid_after, [0.2] * 4))
    finally:
        pool.close()
    assert builds.read_text().split() == [str(pids[0])]
    assert len(set(pids)) == 2 and ran == set(pids)
    for there, _ in results:
        assert there.words == here.words and (there.matrix != here.matrix).nnz == 0


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def test_a_job_that_raises_raises_here_and_the_workers_go_on(tmp_path: Path) -> None:
    pool = workers.Workers(Tokenizer(cache_dir=tmp_path), 2)
    try:
        with pytest.raises(ValueError, match="bad chunk"):
            list(pool.map(_fails_on, [1, 2, 3]))
        assert list(pool.map(abs, [-1, -2, -3, -4, -5])) == [1, 2, 3, 4, 5]
    finally:
        pool.close()


def _fails_on(n: int) -> int:
    if n == 2:
        raise ValueError("bad chunk")
    return n


def test_the_others_end_with_the_first_worker(tmp_path: Path) -> None:
    """Killed (say, by the OOM killer), the first worker takes the ones it forked with it:
    none is left serving a pipe no one writes to; waiting jobs fail, they do not hang."""
    if not workers._FORK:
        pytest.skip("workers are forked from a first one on Linux only")
    pool = workers.Workers(Tokenizer(cache_dir=tmp_path), 2)
    try:
        first, other = pool.pids()
        os.kill(first, 9)
        assert _ends(other)
        with pytest.raises(BrokenExecutor):
            list(pool.map(abs, [-1, -2, -3]))
        assert not pool.each_possible
        assert not pool.submit_background(abs, -1)
    finally:
        pool.close()


def test_closing_with_jobs_no_one_waits_for_does_not_hang(tmp_path: Path) -> None:
    """A caller that stops reading results early (an error in its loop) leaves jobs
    running and queued: closing stops the workers rather than waiting on them."""
    pool = workers.Workers(Tokenizer(cache_dir=tmp_path), 2)
    pids = pool.pids()
    start = time.monotonic()
    for _ in pool.map(time.sleep, [0, 60, 60, 60]):
        break
    pool.close()
    assert time.monotonic() - start < 30
    assert all(_ends(pid) for pid in pids)


def test_a_background_job_whose_worker_died_runs_here(tmp_path: Path) -> None:
    """Workers killed in the middle of background jobs (storing caches): settling runs
    the lost jobs here; once the death is known, new ones are refused (and run here)."""
    tokenizer = Tokenizer(cache_dir=tmp_path)
    pool = workers.Workers(tokenizer, 2)
    try:
        first, other = pool.pids()
        pool.submit_each(_sleep_then_write_pid, str(tmp_path / "each"), 1.0)
        time.sleep(0.3)
        os.kill(first, 9)
        assert _ends(other)
        pool.settle()
        assert int((tmp_path / "each").read_text()) == os.getpid()
        assert not pool.each_possible
        assert not pool.submit_background(_write_pid, str(tmp_path / "late"))
    finally:
        pool.close()


def _sleep_then_write_pid(path: str, seconds: float) -> None:
    time.sleep(seconds)
    Path(path).write_text(str(os.getpid()))


def test_map_hands_out_its_items_whatever_else_is_queued(tmp_path: Path) -> None:
    pool = workers.Workers(Tokenizer(cache_dir=tmp_path), 2)
    try:
        for _ in range(3):
            pool.submit_each(time.sleep, 0.3)  # background jobs fill both workers' pipes
        assert list(pool.map(abs, range(-20, 0))) == list(range(20, 0, -1))
    finally:
        pool.close()


class _Unreadable:
    """Pickles in the worker, cannot be rebuilt here."""

    def __reduce__(self) -> tuple:
        return (_cannot_rebuild, ())


def _cannot_rebuild() -> None:
    raise ValueError("cannot rebuild this result")


def _unreadable(_: int) -> _Unreadable:
    return _Unreadable()


def test_a_result_that_cannot_be_read_fails_its_job_only(tmp_path: Path) -> None:
    pool = workers.Workers(Tokenizer(cache_dir=tmp_path), 2)
    try:
        with pytest.raises(RuntimeError, match="cannot rebuild"):
            list(pool.map(_unreadable, [1]))
        assert list(pool.map(abs, [-1, -2, -3])) == [1, 2, 3]
    finally:
        pool.close()


def test_terminate_is_prompt_under_a_sigterm_handler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host application's SIGTERM handler is not the workers': stopping them does not
    wait for a running job."""
    import signal

    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        pool = workers.Workers(Tokenizer(cache_dir=tmp_path), 2)
        pids = pool.pids()
        pool.submit_background(time.sleep, 60)
        start = time.monotonic()
        pool.terminate()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert time.monotonic() - start < 10
    assert all(_ends(pid) for pid in pids)


def test_a_background_job_that_does_not_pickle_runs_here(tmp_path: Path) -> None:
    import threading

    tokenizer = Tokenizer(TextOptions().tokenizer_config(), cache_dir=tmp_path)
    seen: list[object] = []
    with workers.prestarted(tokenizer):
        workers.in_background(tokenizer, seen.append, threading.Lock())
    assert len(seen) == 1


@pytest.mark.parametrize("forked", [True, False])
def test_a_background_job_whose_worker_dies_runs_here_with_either_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forked: bool
) -> None:
    """The worker running a background job dies (say, the OOM killer): settling runs the
    job in this process, with the forked workers and with the ``ProcessPoolExecutor``."""
    if forked and not workers._FORK:
        pytest.skip("workers are forked from a first one on Linux only")
    monkeypatch.setattr(workers, "_FORK", forked)
    pool = workers.Workers(Tokenizer(cache_dir=tmp_path), 2)
    try:
        assert pool.submit_background(_dies_unless_in, os.getpid(), str(tmp_path / "ran"))
        pool.settle()
    finally:
        pool.close()
    assert int((tmp_path / "ran").read_text()) == os.getpid()


def _dies_unless_in(pid: int, path: str) -> None:
    if os.getpid() != pid:
        os._exit(1)
    Path(path).write_text(str(os.getpid()))
