"""One-call jobs behind the commands: check a file, match two files.

Each takes plain arguments and returns plain results, so the CLI stays a thin shell and the
same jobs can be scripted from Python.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from fuzhi.errors import UsageError
from fuzhi.io.library_cache import cached_load
from fuzhi.io.readers import read_table
from fuzhi.io.records import Library, validate_table
from fuzhi.match import workers
from fuzhi.match.dedupe import find_duplicates, representatives
from fuzhi.match.engine import MatchOptions, MatchResult, Progress, match_libraries
from fuzhi.match.token_cache import default_cache_dir
from fuzhi.match.tokenize import Tokenizer
from fuzhi.report.matches import RunInfo
from fuzhi.schema import FIELDS, Kind, alias_index, header_key

# Workers are started early only for a file this large (~4,000 achievements as xlsx): fewer
# texts are segmented in this process (``fuzhi.match.terms``), and starting two costs ~0.3 s.
_PRESTART_MIN_BYTES = 2_000_000
_DISTINCT: dict[Kind, tuple[str, ...]] = {
    Kind.ACHIEVEMENTS: ("成果", "完成单位", "持有单位", "转化方式", "参考价格", "achievement"),
    Kind.DEMANDS: ("需求", "企业名称", "预算", "截止", "拟投入", "demand", "enterprise"),
    Kind.EVENTS: ("活动", "主办", "参与企业", "签约项目", "event"),
}


def guess_kind(headers: list[str]) -> Kind:
    """Tell an achievement, demand or event sheet apart by its distinctive headers."""
    scores: dict[Kind, float] = dict.fromkeys(Kind, 0.0)
    for kind in Kind:
        index = alias_index(kind)
        for h in headers:
            key = header_key(h)
            scores[kind] += sum(token.lower() in key for token in _DISTINCT[kind])
            scores[kind] += 0.1 * (key in index)
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    if not ranked or ranked[0][1] < 1 or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        raise UsageError(
            f"cannot tell whether the headers ({', '.join(h for h in headers if h)}) describe "
            "achievements, demands or events; pass --kind"
        )
    return ranked[0][0]


def load(
    path: Path | str,
    kind: Kind | None = None,
    sheet: str | None = None,
    overrides: Mapping[str, str] | None = None,
    strict: bool = True,
    *,
    sha256: str | None = None,
) -> Library:
    """Read and validate ``path`` as ``kind`` (guessed from the headers when None);
    ``sha256``: the file's digest when the caller has already computed it."""
    table = read_table(path, kind or Kind.ACHIEVEMENTS, sheet, sha256=sha256)
    if kind is None:
        kind = guess_kind(table.headers)
        if kind is not Kind.ACHIEVEMENTS:
            table = read_table(path, kind, sheet, sha256=table.sha256)
    return validate_table(table, kind, overrides, strict)


def split_column_overrides(specs: list[str]) -> dict[Kind | None, dict[str, str]]:
    """Parse ``--column`` values: ``field=Header`` (any file) or ``demands.field=Header``."""
    out: dict[Kind | None, dict[str, str]] = {}
    for spec in specs:
        if "=" not in spec:
            raise UsageError(f"--column {spec}: expected FIELD=HEADER, e.g. title=项目名称")
        key, header = (s.strip() for s in spec.split("=", 1))
        kind: Kind | None = None
        if "." in key:
            prefix, key = key.split(".", 1)
            try:
                kind = Kind(prefix)
            except ValueError:
                raise UsageError(
                    f"--column {spec}: prefix {prefix!r} must be achievements, demands or events"
                ) from None
        if not key or not header:
            raise UsageError(f"--column {spec}: expected FIELD=HEADER, e.g. title=项目名称")
        out.setdefault(kind, {})[key] = header
    return out


def skipped_summary(library: Library) -> str | None:
    """'3 rows skipped: 2 × needs …, 1 × duplicate ID' for the terminal, or None."""
    rejected = library.rejected
    if not rejected:
        return None
    reasons = Counter(p.expected.split(";")[0] for p in rejected)
    detail = "; ".join(f"{n} × {reason}" for reason, n in reasons.most_common())
    files = ", ".join(s.path for s in library.sources)
    return f"{files}: {len(rejected)} row(s) skipped ({detail}); run `fuzhi check` for details"


@dataclass
class MatchJob:
    """Inputs of ``fuzhi match`` on two files."""

    achievements: Path
    demands: Path
    options: MatchOptions = field(default_factory=MatchOptions)
    achievement_sheet: str | None = None
    demand_sheet: str | None = None
    columns: list[str] = field(default_factory=list)
    cache_dir: Path | None = None
    dedupe_threshold: float | None = None  # match one representative per near-duplicate cluster


def match_files(job: MatchJob, progress: Progress | None = None) -> tuple[MatchResult, RunInfo]:
    """Read, validate and match two files; return the matches and what the run sheet needs."""
    overrides = split_column_overrides(job.columns)
    shared = overrides.get(None, {})
    for key in shared:
        if key not in {f.name for k in (Kind.ACHIEVEMENTS, Kind.DEMANDS) for f in FIELDS[k]}:
            raise UsageError(f"--column {key}=…: unknown field {key!r}")
    with ExitStack() as stack:
        started: list[bool] = []

        def start_workers(path: Path) -> None:
            """A large library is read afresh, so its texts will likely be segmented: start
            the workers now, to build their segmenters while the files are read."""
            try:
                large = path.stat().st_size >= _PRESTART_MIN_BYTES
            except OSError:  # the reader reports it
                large = False
            if large and not started:
                started.append(True)
                tokenizer = Tokenizer(job.options.text.tokenizer_config(), cache_dir=job.cache_dir)
                stack.enter_context(workers.prestarted(tokenizer))

        libraries = {}
        for kind, path, sheet in (
            (Kind.ACHIEVEMENTS, job.achievements, job.achievement_sheet),
            (Kind.DEMANDS, job.demands, job.demand_sheet),
        ):
            known = {f.name for f in FIELDS[kind]}
            mine = {k: v for k, v in shared.items() if k in known} | overrides.get(kind, {})
            libraries[kind] = cached_load(
                Path(path),
                kind,
                sheet,
                mine,
                not shared,
                job.cache_dir or default_cache_dir(),
                partial(load, path, kind, sheet, mine, not shared),
                on_miss=partial(start_workers, Path(path)),
            )
        achievements, demands = libraries[Kind.ACHIEVEMENTS], libraries[Kind.DEMANDS]
        candidates = achievements.records
        duplicates: dict[str, list[str]] = {}
        if job.dedupe_threshold is not None:
            clusters = find_duplicates(candidates, job.dedupe_threshold, cache_dir=job.cache_dir)
            candidates, duplicates = representatives(candidates, clusters)
        result = match_libraries(
            candidates,
            demands.records,
            job.options,
            cache_dir=job.cache_dir,
            progress=progress,
        )
    o = job.options
    parameters = {
        "k": o.k,
        "by": o.by.value,
        "min_score": o.min_score,
        "weights": o.weights,
        "region": o.filters.region,
        "industry": o.filters.industry,
        "min_trl": o.filters.min_trl,
        "dedupe": job.dedupe_threshold,
    }
    run = RunInfo(achievements, demands, parameters, result.model_version, duplicates=duplicates)
    return result, run
