"""Giving freed memory back to the operating system between the phases of a large run.

At a million records a phase frees gigabytes that the allocators keep for reuse: glibc's malloc
(numpy arrays and Python objects, per thread arena, and pages in the middle of its heap that
only `malloc_trim` returns) and Arrow's mimalloc pool. Kept, they count in the process's
resident memory through the next phase: at 1.4M records ~1 GB after normalising. Returning
them costs milliseconds; where neither allocator is present it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd

# Below this many rows a phase frees too little to matter, and the calls (tens of milliseconds in
# a large process) would add up over a test suite's thousands of small runs.
RELEASE_FROM_ROWS = 100_000
# After a step, a process smaller than this has little to give back (the same reason).
RELEASE_FROM_MB = 1024


@functools.cache
def _libc_trim() -> object | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


def release_memory(rows: int) -> None:
    """Return the free memory of Arrow's pool and of glibc's heap to the system, after a phase
    over `rows` rows (nothing below RELEASE_FROM_ROWS). What is freed is not cyclic garbage
    (arrays and strings go when their last reference does): no garbage collection is run."""
    if rows < RELEASE_FROM_ROWS:
        return
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim = _libc_trim()
    if trim is not None:
        trim(0)


def resident_mb() -> float | None:
    """This process's resident memory, where /proc tells it (Linux); else None."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def release_after_step() -> None:
    """After a step of the night: collect cyclic garbage and give the free memory back. The
    flow's tasks are threads of one process, so without this a step starts holding what the
    steps before it freed but the allocators kept: at 1.4M records ~4 GB after night 2's dedupe
    (0.8 GB after a trim alone, 0.5 GB after both), and the score step's peak sat on top of it
    (4,047 MB against 3,488 MB). A small process (tests' runs) is left alone."""
    size = resident_mb()
    if size is not None and size < RELEASE_FROM_MB:
        return
    gc.collect()
    release_memory(RELEASE_FROM_ROWS)


_pause_lock = threading.Lock()
_pauses = 0  # how many paused_gc blocks are open, in any thread
_was_enabled = False  # whether the collector ran before the first of them


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside the block, for code that makes millions of objects
    that cannot form cycles (the tuples and strings of rows fetched from the warehouse). Each
    allocation of a container counts towards a collection, and every full collection walks all
    of them: the load's read of a million leads' keys and fingerprints took 2.3 s with the
    collector and 1.7 s with it paused for the fetch. Process-wide and counted: the flow's steps
    are threads, and the collector comes back when the last open block ends (unless it was off
    before the first)."""
    global _pauses, _was_enabled
    with _pause_lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()


def stacked_parts(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """DataFrames `parts` one below the other (their columns that every part has, in the first
    part's order; `parts` is emptied), a column at a time, each part's column let go once copied:
    pd.concat of whole parts holds them and their copy at once, which was the peak of the
    phases that make a million rows in parts (scores, golden records)."""
    columns = [c for c in parts[0].columns if all(c in part for part in parts)]
    stacked = pd.DataFrame({c: pd.concat([part.pop(c) for part in parts], ignore_index=True) for c in columns},
                           copy=False)
    parts.clear()
    return stacked
