"""Work in worker processes, and what happens when they cannot do it.

Normalising's parts and staging run in loky's worker processes (joblib's): started afresh, not
forked (a fork of a parent running threads, Prefect's or a progress bar's, can inherit a lock
held at the fork and hang), and without re-running the caller's main script as
multiprocessing's spawn does. Where the workers cannot start or one dies (a machine that forbids
them, a worker killed for memory, a worker that cannot import leadrank), the caller does the work
itself: slower, never lost. The warning names the worker's own error, which loky gives as the
cause: a deployed night's workers failed to import numpy (a module of leadrank/flows hid a
standard one, bench/README.md) behind a warning that said only "failed to un-serialize".
loky is imported when work is handed out, not with this module: the steps' processes and the
command line that never start a worker do not pay for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)


def in_workers(function: Callable[[Any], Any], items: Iterable[Any], processes: int, what: str) -> list[Any] | None:
    """`function` of each of `items` in `processes` worker processes, in the items' order; None
    when the workers cannot start or one dies (logged as `what`, e.g. "normalising", failing,
    with the reason): the caller then does the work itself. An error `function` raises in a
    worker is raised here."""
    from joblib.externals.loky import BrokenProcessPool, ProcessPoolExecutor

    try:
        pool = ProcessPoolExecutor(processes)
    except OSError as exc:  # (no process could be made)
        return _failed(what, exc)
    with pool:
        try:
            done = [pool.submit(function, item) for item in items]  # (workers start here)
        except OSError as exc:
            return _failed(what, exc)
        try:
            return [future.result() for future in done]
        except BrokenProcessPool as exc:
            return _failed(what, exc)


def _failed(what: str, exc: BaseException) -> None:
    cause = f"; {exc.__cause__}" if exc.__cause__ else ""
    log.warning("%s in worker processes failed (%s%s): %s in this process instead", what, exc, cause, what)
