"""Validated libraries kept by the content of the file they came from.

A scheduled ``fuzhi match`` usually reads the same library files as last time. Reading and
validating a 100,000-row workbook costs ~3 s; loading the validated ``Library`` again costs
a fraction of that. The key is the file's SHA-256, its resolved path (messages name it),
the kind, sheet, column overrides and strictness, and a digest of the reading and
validation code itself, so an edited file, other options or another fuzhi version never
see an old result. Entries are pickles in ``<cache>/libraries/`` (created private to the
user, since unpickling runs code: the cache folder must not be writable by others),
written to a temporary file and renamed; the newest few are kept. Any failure to read
or write one is a warning: the file is then read as usual.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import platform
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path

from fuzhi import __version__
from fuzhi.io.readers import file_sha256, gc_paused
from fuzhi.io.records import Library
from fuzhi.schema import Kind

log = logging.getLogger(__name__)

KEEP = 6  # entries kept (the newest); a 100k-row library is ~150 MB
_FORMAT = 1


@cache
def _code_digest() -> str:
    """A digest of the modules that turn a file into a ``Library``."""
    import pandas as pd

    versions = f"{_FORMAT}\0{__version__}\0{pd.__version__}\0{platform.python_version()}"
    digest = hashlib.blake2b(versions.encode(), digest_size=16)
    package = resources.files("fuzhi")
    for name in ("schema.py", "regions.py", "io"):
        node = package / name
        files = sorted(node.iterdir(), key=lambda p: p.name) if node.is_dir() else [node]
        for f in files:
            if f.name.endswith(".py"):
                digest.update(f.name.encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()


def cached_load(
    path: Path,
    kind: Kind,
    sheet: str | None,
    overrides: Mapping[str, str],
    strict: bool,
    cache_dir: Path,
    load: Callable[..., Library],
    on_miss: Callable[[], object] | None = None,
) -> Library:
    """``load(sha256=…)``'s result (given the file's digest, so it is not computed again),
    from the cache when this very file was loaded the same way; ``on_miss`` is called just
    before the file is read afresh."""
    folder = cache_dir / "libraries"
    try:
        sha256 = file_sha256(path)
        key = hashlib.blake2b(digest_size=20)
        for part in (
            _code_digest(),
            sha256,
            str(path.resolve()),
            kind.value,
            sheet or "",
            repr(sorted(overrides.items())),
            repr(strict),
        ):
            key.update(part.encode() + b"\0")
        entry = folder / f"{key.hexdigest()}.pickle"
    except OSError:
        return load(sha256=None)  # the reader reports an unreadable file properly
    try:
        with open(entry, "rb") as fh, gc_paused():
            library = pickle.load(fh)
        if isinstance(library, Library) and library.kind is kind:
            with contextlib.suppress(OSError):  # a read-only cache still serves
                os.utime(entry)  # newest first when pruning
            return library
        log.warning("library cache entry %s is not a library; reading %s again", entry, path)
    except FileNotFoundError:
        pass
    except Exception as exc:  # a damaged entry must never stop a match
        log.warning("library cache entry %s unreadable (%s); reading %s again", entry, exc, path)
    if on_miss is not None:
        on_miss()
    library = load(sha256=sha256)
    _store(folder, entry, library)
    return library


def _store(folder: Path, entry: Path, library: Library) -> None:
    tmp = entry.with_name(f"{entry.name}.{os.getpid()}.tmp")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # pickles: private to the user
        with open(tmp, "wb") as fh:
            pickle.dump(library, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, entry)
        entries = sorted(folder.glob("*.pickle"), key=_mtime, reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("library cache %s not written: %s", folder, exc)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile by another run's pruning
        return 0.0
