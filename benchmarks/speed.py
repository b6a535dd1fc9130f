"""Speed and peak memory of ``fuzhi match`` on generated xlsx inputs, against a plain script.

    python benchmarks/speed.py [--sizes 10k,100k] [--repeat N] [--skip-baseline] [--out DIR]
                               [--seed N]

Inputs are made by recombining the real sentences of csl-dev (titles, abstract sentences,
keywords, disciplines) into achievements and demands of real length, with region, industry,
TRL and price (budget and deadline for demands) columns; ``10k`` is 10,000 achievements ×
2,000 demands, ``100k`` is 100,000 × 20,000. They are written once per size and seed to
``--out`` (default ``benchmarks/out/``, gitignored) and reused.

Each measurement runs in its own subprocess (``os.wait4`` gives that process's peak RSS, and
/proc is sampled every 50 ms for it and its worker processes together, RSS and PSS): the
real pipeline (``match_files`` then ``write_matches`` to xlsx, top 10 per demand) with an
empty token cache (cold) and again with the same cache (warm), and at 10k the plain baseline
(pandas ``read_excel`` + ``jieba.lcut`` + scikit-learn TF-IDF + blocked cosine top 10 +
``to_excel``). The baseline is skipped at 100k, where it would take many minutes.

Each size is measured ``--repeat`` times (default 3), cold, warm and baseline in turn, so
that a slow spell of a shared machine touches all three alike. The table shows each row's
median run and lists every run's total; the speed-ups are the ratios of the medians, with
the range of the ratios of each repetition's own runs.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "bench" / "csl-dev"
SIZES = {"10k": (10_000, 2_000), "100k": (100_000, 20_000)}
STAGES = ("read", "tokenise", "vectorise", "top-k", "explain", "write")

_PROVINCES = (
    "北京市", "上海市", "天津市", "重庆市", "江苏省南京市", "江苏省苏州市", "浙江省杭州市",
    "浙江省宁波市", "广东省广州市", "广东省深圳市", "山东省济南市", "山东省青岛市", "湖北省武汉市",
    "四川省成都市", "陕西省西安市", "安徽省合肥市", "福建省厦门市", "河南省郑州市", "湖南省长沙市",
    "辽宁省沈阳市", "吉林省长春市", "黑龙江省哈尔滨市", "河北省石家庄市", "江西省南昌市",
)  # fmt: skip
_INDUSTRIES = (
    "制造业", "信息传输、软件和信息技术服务业", "农、林、牧、渔业", "卫生和社会工作", "建筑业",
    "电力、热力、燃气及水生产和供应业", "交通运输、仓储和邮政业", "采矿业", "教育",
    "科学研究和技术服务业", "水利、环境和公共设施管理业", "文化、体育和娱乐业",
)  # fmt: skip
_SENTENCE = re.compile(r"[^。；;！？!?]+[。；;！？!?]?")


def _pools() -> dict[str, list[str]]:
    import python_calamine

    def rows(name: str) -> list[list[object]]:
        book = python_calamine.CalamineWorkbook.from_path(str(DATA / name))
        return book.get_sheet_by_index(0).to_python()

    ach, dem = rows("achievements.xlsx"), rows("demands.xlsx")
    ah, dh = ach[0], dem[0]
    a = [dict(zip(ah, r, strict=False)) for r in ach[1:]]
    d = [dict(zip(dh, r, strict=False)) for r in dem[1:]]
    a_sent = [s for r in a for s in _SENTENCE.findall(str(r["成果简介"] or "")) if len(s) > 4]
    d_sent = [s for r in d for s in _SENTENCE.findall(str(r["需求描述"] or "")) if len(s) > 4]
    return {
        "a_title": [str(r["成果名称"]) for r in a],
        "a_len": [len(str(r["成果简介"] or "")) for r in a],
        "a_sent": a_sent,
        "keywords": sorted({k for r in a for k in str(r["关键词"] or "").split(";") if k}),
        "field": sorted({str(r["技术领域"]) for r in a}),
        "d_title": [str(r["需求名称"]) for r in d],
        "d_len": [len(str(r["需求描述"] or "")) for r in d],
        "d_sent": d_sent + a_sent,
    }


def _text(rng: random.Random, sentences: list[str], length: int) -> str:
    parts: list[str] = []
    while sum(map(len, parts)) < length:
        parts.append(rng.choice(sentences))
    return "".join(parts)


def _write(path: Path, sheet: str, header: list[str], rows: list[list[object]]) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet)
    ws.append(header)
    for row in rows:
        ws.append(row)
    book.save(path)


def generate(size: str, out: Path, seed: int) -> tuple[Path, Path]:
    """Write (once) the achievements and demands workbooks of ``size``; return their paths."""
    n_a, n_d = SIZES[size]
    a_path, d_path = out / f"achievements-{size}-s{seed}.xlsx", out / f"demands-{size}-s{seed}.xlsx"
    if a_path.exists() and d_path.exists():
        return a_path, d_path
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    p = _pools()
    a_rows: list[list[object]] = []
    for i in range(n_a):
        title = rng.choice(p["a_title"])
        if rng.random() < 0.5:  # fewer exact duplicates: a second title's head as a qualifier
            title = rng.choice(p["a_title"])[:8] + "及" + title
        a_rows.append(
            [
                f"A{i:06d}",
                title,
                _text(rng, p["a_sent"], rng.choice(p["a_len"])),
                ";".join(rng.sample(p["keywords"], rng.randint(2, 5))),
                rng.choice(p["field"]),
                rng.choice(_INDUSTRIES),
                rng.choice(_PROVINCES),
                rng.randint(1, 9),
                round(rng.uniform(5, 2000), 2),
            ]
        )
    _write(
        a_path,
        "成果",
        ["成果编号", "成果名称", "成果简介", "关键词", "技术领域", "所属行业", "所在地区",
         "技术成熟度", "参考价格（万元）"],
        a_rows,
    )  # fmt: skip
    day0 = dt.date(2025, 1, 1)
    d_rows: list[list[object]] = []
    for i in range(n_d):
        d_rows.append(
            [
                f"D{i:06d}",
                rng.choice(p["d_title"]),
                _text(rng, p["d_sent"], rng.choice(p["d_len"])),
                f"企业{i % 5000:04d}有限公司",
                rng.choice(_INDUSTRIES),
                rng.choice(_PROVINCES),
                rng.randint(1, 9),
                round(rng.uniform(10, 1000), 1),
                (day0 + dt.timedelta(days=rng.randint(0, 700))).isoformat(),
            ]
        )
    _write(
        d_path,
        "需求",
        ["需求编号", "需求名称", "需求描述", "企业名称", "所属行业", "所在地区", "期望成熟度",
         "预算（万元）", "截止日期"],
        d_rows,
    )  # fmt: skip
    return a_path, d_path


# --- measured children -------------------------------------------------------------------


def child_fuzhi(a_path: str, d_path: str, out: str) -> dict[str, float]:
    """The real pipeline; returns stage timings (seconds)."""
    from fuzhi.process import batch_gc

    batch_gc()  # as the `fuzhi` command's entry point does
    from fuzhi.match import workers
    from fuzhi.match.engine import MatchOptions
    from fuzhi.pipeline import MatchJob, match_files
    from fuzhi.report.matches import OutputFormat, write_matches

    t0 = time.perf_counter()
    with workers.session():  # as `fuzhi match` does: caches stored while the output is written
        job = MatchJob(Path(a_path), Path(d_path), MatchOptions(k=10))
        result, run = match_files(job)
        t1 = time.perf_counter()
        write_matches(result, run, Path(out), OutputFormat.XLSX)
        t2 = time.perf_counter()
    timings = dict(result.timings)
    timings["write"] = t2 - t1
    timings["read"] = (t1 - t0) - sum(v for k, v in result.timings.items())
    return timings


def child_baseline(a_path: str, d_path: str, out: str) -> dict[str, float]:
    """A plain script: pandas + jieba + scikit-learn TF-IDF cosine, top 10 per demand."""
    import jieba
    import numpy as np
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer

    jieba.setLogLevel(60)
    t: dict[str, float] = {}
    s = time.perf_counter()
    a = pd.read_excel(a_path, dtype=str, engine="openpyxl").fillna("")
    d = pd.read_excel(d_path, dtype=str, engine="openpyxl").fillna("")
    t["read"] = time.perf_counter() - s
    s = time.perf_counter()
    a_text = (
        a["成果名称"] + " " + a["成果简介"] + " " + a["关键词"] + " " + a["技术领域"]
    ).tolist()
    d_text = (d["需求名称"] + " " + d["需求描述"]).tolist()
    a_tok = [" ".join(jieba.lcut(x)) for x in a_text]
    d_tok = [" ".join(jieba.lcut(x)) for x in d_text]
    t["tokenise"] = time.perf_counter() - s
    s = time.perf_counter()
    vec = TfidfVectorizer(token_pattern=r"(?u)\S+", sublinear_tf=True)
    vec.fit(a_tok + d_tok)
    am, dm = vec.transform(a_tok), vec.transform(d_tok)
    t["vectorise"] = time.perf_counter() - s
    s = time.perf_counter()
    at = am.T.tocsr()
    idx_parts, score_parts = [], []
    for lo in range(0, dm.shape[0], 512):
        block = (dm[lo : lo + 512] @ at).toarray()
        top = np.argpartition(-block, 10, axis=1)[:, :10]
        vals = np.take_along_axis(block, top, axis=1)
        order = np.argsort(-vals, axis=1)
        idx_parts.append(np.take_along_axis(top, order, axis=1))
        score_parts.append(np.take_along_axis(vals, order, axis=1))
    idx, scores = np.vstack(idx_parts), np.vstack(score_parts)
    t["top-k"] = time.perf_counter() - s
    s = time.perf_counter()
    frame = pd.DataFrame(
        {
            "需求编号": np.repeat(d["需求编号"].to_numpy(), 10),
            "需求名称": np.repeat(d["需求名称"].to_numpy(), 10),
            "排名": np.tile(np.arange(1, 11), len(d)),
            "成果编号": a["成果编号"].to_numpy()[idx.ravel()],
            "成果名称": a["成果名称"].to_numpy()[idx.ravel()],
            "相似度": scores.ravel(),
        }
    )
    frame.to_excel(out, index=False)
    t["write"] = time.perf_counter() - s
    return t


def _tree_memory(root: int) -> tuple[int, int]:
    """Resident bytes of a process and all its descendants now (from /proc): summed RSS
    (pages they share counted once per process) and summed PSS (shared pages split among
    the processes sharing them: what they take together)."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total_rss = total_pss = 0
    for pid in rss:
        p = pid
        while p and p != root:
            p = parent.get(p, 0)
        if p != root:
            continue
        total_rss += rss[pid]
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
                pss = next(line for line in fh if line.startswith(b"Pss:"))
            total_pss += int(pss.split()[1]) * 1024
        except (OSError, StopIteration):
            total_pss += rss[pid]
    return total_rss, total_pss


def measure(kind: str, a_path: Path, d_path: Path, cache: Path, out: Path) -> dict[str, float]:
    """Run one child process; its stage timings plus wall time, the peak RSS of the child
    (GiB) and the peak of the child and its worker processes together (sampled)."""
    env = {**os.environ, "FUZHI_CACHE_DIR": str(cache)}
    with tempfile.TemporaryFile("w+") as fh:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", kind, str(a_path), str(d_path), str(out)],
            stdout=fh,
            env=env,
        )
        peak = [0, 0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.05):
                now = _tree_memory(proc.pid)
                peak[:] = [max(a, b) for a, b in zip(peak, now, strict=True)]

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            raise SystemExit(f"{kind} run failed with exit code {proc.returncode}")
        fh.seek(0)
        timings = json.loads(fh.read().strip().splitlines()[-1])
    timings["total"] = wall
    timings["peak_gib"] = usage.ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux
    timings["peak_all_gib"] = max(peak[0] / 1024**3, timings["peak_gib"])
    timings["peak_pss_gib"] = peak[1] / 1024**3 or timings["peak_gib"]
    return timings


def _stage(t: dict[str, float], stage: str) -> float:
    return sum(v for k, v in t.items() if k == stage or k.startswith(stage + " ("))


def print_table(rows: list[tuple[str, dict[str, float], list[dict[str, float]]]]) -> None:
    """One line per row: its median run's stages, total and peaks, then every run's total."""
    head = ["run", *STAGES, "total s", "peak GiB", "all processes GiB", "all processes PSS GiB"]
    head.append("totals of all runs")
    print("| " + " | ".join(head) + " |")
    print(
        "|" + "|".join("---" if i in (0, len(head) - 1) else "--:" for i in range(len(head))) + "|"
    )
    for name, t, ts in rows:
        cells = [f"{_stage(t, s):.1f}" for s in STAGES]
        peaks = f"{t['peak_gib']:.2f} | {t['peak_all_gib']:.2f} | {t['peak_pss_gib']:.2f}"
        totals = ", ".join(f"{r['total']:.2f}" for r in ts)
        print(f"| {name} | " + " | ".join(cells) + f" | {t['total']:.2f} | {peaks} | {totals} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k,100k")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (median shown)")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument(
        "--child", nargs=4, metavar=("KIND", "A", "D", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        kind, a, d, out = args.child
        run = child_fuzhi if kind == "fuzhi" else child_baseline
        print(json.dumps(run(a, d, out)))
        if kind == "fuzhi":  # leave as the `fuzhi` command does, without the teardown
            from fuzhi.process import exit_now

            exit_now(0)
        return
    # Bytecode for fuzhi, as an installed package has (the libraries the plain script uses
    # have theirs); without it, e.g. under PYTHONDONTWRITEBYTECODE, each run compiles ~0.1 s.
    import fuzhi  # here, not at the top: the baseline's child need not import it

    compileall.compile_dir(Path(fuzhi.__file__).parent, quiet=1)
    runs: dict[str, list[dict[str, float]]] = {}
    for size in args.sizes.split(","):
        start = time.perf_counter()
        a_path, d_path = generate(size, args.out, args.seed)
        print(f"{size}: inputs ready in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        cache = args.out / f"cache-{size}"
        for _ in range(max(1, args.repeat)):
            shutil.rmtree(cache, ignore_errors=True)
            kinds = [("fuzhi", "cold"), ("fuzhi", "warm")]
            if size == "10k" and not args.skip_baseline:
                kinds.append(("baseline", ""))
            for kind, label in kinds:
                name = f"{kind} {size} {label}".strip()
                out = args.out / f"{'matches' if kind == 'fuzhi' else kind}-{size}.xlsx"
                runs.setdefault(name, []).append(measure(kind, a_path, d_path, cache, out))
                print(f"{name}: {runs[name][-1]}", file=sys.stderr)
    print_table([(name, _median_run(ts), ts) for name, ts in runs.items()])
    base = runs.get("baseline 10k")
    for name in ("fuzhi 10k cold", "fuzhi 10k warm"):
        if base and name in runs:
            pairs = [b["total"] / f["total"] for b, f in zip(base, runs[name], strict=False)]
            median = _median_run(base)["total"] / _median_run(runs[name])["total"]
            print(
                f"baseline / {name}: {median:.1f}x (medians; each repetition's own: "
                f"{min(pairs):.1f}-{max(pairs):.1f}x)"
            )


def _median_run(ts: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median total (the lower middle one of an even number)."""
    return sorted(ts, key=lambda t: t["total"])[(len(ts) - 1) // 2]


if __name__ == "__main__":
    main()
