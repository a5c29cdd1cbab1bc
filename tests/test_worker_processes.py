"""leadrank.worker_processes: results in order, a dead worker leaves the work to the caller
(with the worker's reason logged), an error of the work itself reaches the caller."""

import os

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
