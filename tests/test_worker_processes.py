"""leadrank.worker_processes: results in order, a dead worker leaves the work to the caller
(with the worker's reason logged), an error of the work itself reaches the caller; no resource
tracker outlives the pools."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from leadrank.worker_processes import in_workers


def _doubled(value):
    return 2 * value


def _dies(value):
    os._exit(3)


def _refuses(value):
    raise ValueError(f"bad value {value}")


def test_work_comes_back_in_order_or_is_left_to_the_caller(caplog):
    assert in_workers(_doubled, iter([3, 1, 2]), 2, "doubling") == [6, 2, 4]
    with caplog.at_level("WARNING", logger="leadrank.worker_processes"):
        assert in_workers(_dies, [1], 1, "dying") is None
    assert "dying in worker processes failed" in caplog.text and "dying in this process instead" in caplog.text
    with pytest.raises(ValueError, match="bad value 7"):
        in_workers(_refuses, [7], 1, "refusing")


def _trackers() -> list[str]:
    return [" ".join(c.cmdline()) for c in psutil.Process().children(recursive=True)
            if "resource_tracker" in " ".join(c.cmdline())]


def _in_a_fresh_process(check: str) -> str:
    """Run this module's function `check` in a new interpreter and return what it printed: which
    trackers the pools leave depends on the process's history (a tracker other code started
    before its first pool is left running), and a test suite's process has a long one."""
    done = subprocess.run([sys.executable, "-c", f"from tests.test_worker_processes import {check}; {check}()"],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    return done.stdout


def _pools_leave_no_tracker() -> None:
    assert in_workers(_doubled, [1, 2], 2, "doubling") == [2, 4]
    assert _trackers() == []
    results = []
    both = [threading.Thread(target=lambda: results.append(in_workers(_doubled, range(40), 2, "doubling")))
            for _ in range(2)]  # two pools open at once, as staging's and normalising's in a night
    for thread in both:
        thread.start()
    for thread in both:
        thread.join()
    assert results == [[2 * i for i in range(40)]] * 2
    assert _trackers() == []


def test_no_resource_tracker_outlives_the_pools():
    """A pool starts loky's and multiprocessing's resource trackers (~50 MB of a night's memory,
    beside every later step): they are gone once no pool is open, and the next pool works."""
    _in_a_fresh_process("_pools_leave_no_tracker")


def _a_tracker_from_before_stays() -> None:
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    assert in_workers(_doubled, [5], 1, "doubling") == [10]
    print(_trackers())
    resource_tracker._resource_tracker._stop()


def test_a_resource_tracker_running_before_the_first_pool_is_left_running():
    """A tracker other code started before this process's first pool (and may still use) is not
    the pools' to stop; loky's, which the pool started, is stopped."""
    running = _in_a_fresh_process("_a_tracker_from_before_stays").strip()
    assert "multiprocessing.resource_tracker" in running and "loky" not in running
