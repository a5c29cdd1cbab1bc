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

A pool's first start also starts two resource-tracker processes (loky's and multiprocessing's,
~50 MB together), which would otherwise live as long as the night's process, beside every later
step's peak: they are stopped once no pool is open (`_pools`), and the next pool starts them again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

log = logging.getLogger(__name__)


def in_workers(function: Callable[[Any], Any], items: Iterable[Any], processes: int, what: str) -> list[Any] | None:
    """`function` of each of `items` in `processes` worker processes, in the items' order; None
    when the workers cannot start or one dies (logged as `what`, e.g. "normalising", failing,
    with the reason): the caller then does the work itself. An error `function` raises in a
    worker is raised here."""
    from joblib.externals.loky import BrokenProcessPool, ProcessPoolExecutor

    with _pools() as ended:
        try:
            pool = ProcessPoolExecutor(processes)
        except OSError as exc:  # (no process could be made)
            return _failed(what, exc)
        with pool:
            results = _results(pool, function, items, what, BrokenProcessPool)
        ended["cleanly"] = results is not None
        return results


def _results(pool: Any, function: Callable[[Any], Any], items: Iterable[Any], what: str,
             broken: type[BaseException]) -> list[Any] | None:
    """The items' results from the open `pool`; None (logged) when its workers cannot start or
    one dies (`broken`)."""
    try:
        done = [pool.submit(function, item) for item in items]  # (workers start here)
    except OSError as exc:
        return _failed(what, exc)
    try:
        return [future.result() for future in done]
    except broken as exc:
        return _failed(what, exc)


_pools_lock = threading.Lock()
_pools_open = 0  # worker pools open in this process, in any thread (staging's and normalising's overlap)
_trackers_before: list[Any] | None = None  # the resource trackers running before this process's first pool


@contextmanager
def _pools() -> Iterator[dict[str, bool]]:
    """Around a pool's life, counted process-wide as memory.paused_gc counts its blocks: when the
    last open pool has shut down cleanly (its workers gone; the caller sets "cleanly"), the
    resource trackers are stopped, but one that was running before this process's first pool
    (other code's, which may still use it). After a pool whose worker died they are left
    running: the broken pool's semaphores may not be given back yet, and a tracker stopped with
    them still registered warns of leaks."""
    global _pools_open, _trackers_before
    ended = {"cleanly": False}
    with _pools_lock:
        if _trackers_before is None:
            _trackers_before = [t for t in _resource_trackers() if getattr(t, "_fd", None) is not None]
        _pools_open += 1
    try:
        yield ended
    finally:
        with _pools_lock:
            _pools_open -= 1
            if _pools_open == 0 and ended["cleanly"]:
                _stop_resource_trackers(keep=_trackers_before)


def _resource_trackers() -> list[Any]:
    """This process's resource trackers: loky's and multiprocessing's."""
    from multiprocessing import resource_tracker

    from joblib.externals.loky.backend import resource_tracker as loky_tracker

    return [loky_tracker._resource_tracker, resource_tracker._resource_tracker]


def _stop_resource_trackers(keep: list[Any]) -> None:
    """Stop the resource-tracker processes of this process but those in `keep`, where running.
    Their `_stop` is private (the standard library's tests use it): where a version lacks it or
    it fails, a tracker keeps running, which costs only its memory."""
    for tracker in _resource_trackers():
        stop = getattr(tracker, "_stop", None)
        if stop is not None and not any(tracker is kept for kept in keep):
            with suppress(Exception):
                stop()


def _failed(what: str, exc: BaseException) -> None:
    cause = f"; {exc.__cause__}" if exc.__cause__ else ""
    log.warning("%s in worker processes failed (%s%s): %s in this process instead", what, exc, cause, what)
