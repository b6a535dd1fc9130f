"""How a fuzhi process ends."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import NoReturn


def exit_now(code: int | str | None) -> NoReturn:
    """Flush standard streams and logging, then end the process without the interpreter's
    teardown.

    After a large match the process holds Numba's compiler, the segmenter's 349k-word
    dictionary and millions of small objects; tearing them down takes ~0.4 s that serves
    no one. Nothing else is pending by then: commands write files under temporary names
    and rename them, close their SQLite caches and workspaces, and join their worker
    threads and processes before they return."""
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed, or the reader went away
            stream.flush()
    logging.shutdown()
    os._exit(0 if code is None else code)
