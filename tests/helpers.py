"""Test helpers shared by several test modules."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from leadrank.config import load_config
from leadrank.contracts import EXTRACTED
from leadrank.extractors.runner import extract_source
from leadrank.paths import DEMO_CONFIG


def pairs(labels: pd.Series) -> set[tuple[int, int]]:
    """All unordered pairs of positions that share a label."""
    out: set[tuple[int, int]] = set()
    for _, positions in pd.Series(range(len(labels))).groupby(labels.to_numpy()):
        out.update(itertools.combinations(sorted(positions), 2))
    return out


def pairwise_f1(truth: pd.Series, predicted: pd.Series) -> tuple[float, float, float]:
    t, p = pairs(truth), pairs(predicted)
    tp = len(t & p)
    precision = tp / len(p) if p else 1.0
    recall = tp / len(t) if t else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def demo_records(run_id: str = "r1") -> pd.DataFrame:
    """The demo's extracted records with their true company id (column `truth`)."""
    cfg = load_config(DEMO_CONFIG)
    frames = [extract_source(s, cfg.fetch, run_id=run_id)[0] for s in cfg.sources]
    records = pd.concat(frames, ignore_index=True)[EXTRACTED]
    truth = pd.read_csv(DEMO_CONFIG.parent / "truth.csv")
    key = dict(zip(zip(truth["source"], truth["company_name"], strict=True), truth["company_id"], strict=True))
    records["truth"] = [key[(s, n)] for s, n in zip(records["source"], records["company_name"], strict=True)]
    return records


def sigkill_when_marked(child: subprocess.Popen, marker: Path, point: str) -> None:
    """Wait until the child run writes `marker` (it has reached `point` and waits there), then
    SIGKILL it; fail if it ends first or never gets there within three minutes."""
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():
            if child.poll() is not None:
                said = child.output() if hasattr(child, "output") else (
                    child.stdout.read().decode(errors="replace") if child.stdout else "")
                pytest.fail(f"the run ended before the kill point {point!r}:\n{said}")
            assert time.monotonic() < deadline, f"the run never reached {point!r}"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def prepare_run(config: str, warehouse: str, run_id: str | None = None, *, resume: bool = False) -> dict:
    """Every step of a nightly run up to (not including) reconciling and publishing, without
    Prefect, in the declared order (leadrank.night.STEPS). With `resume`, `run_id` is an
    unpublished run to finish: its finished extractions are reused."""
    from leadrank import night, pipeline

    run_id = run_id or pipeline.new_run_id()
    started = pipeline.begin(config, run_id, warehouse, resume=resume)
    sources = started["sources"]
    reports = [started["reused"].get(name) or pipeline.extract_step(run_id, name) for name in sources]
    tonight = night.Night(run_id, warehouse, tuple(sources), {"run_id": run_id})
    done = night.run_steps(tonight, night.AFTER_EXTRACT[0].name, "score")
    return {"run_id": run_id, "source_names": sources, "sources": reports, **done}


def run_pipeline(config: str, warehouse: str, run_id: str | None = None, *, resume: bool = False) -> dict:
    """One nightly run through the declared steps (prepare_run, then reconcile and publish)."""
    from leadrank import night

    run = prepare_run(config, warehouse, run_id, resume=resume)
    run_id, sources = run["run_id"], run.pop("source_names")
    done = night.run_steps(night.Night(run_id, warehouse, tuple(sources), {"run_id": run_id}), "reconcile", "publish")
    return {**run, **done}


MARTS = {  # every mart sales read, in a stable order
    "ranked_leads": "rank", "mart_segment_leads": "segment, segment_rank", "mart_region_leads": "rank",
    "mart_segment_tiers": "segment, tier", "mart_region_tiers": "province, city, tier", "mart_source_yield": "source",
    "mart_dropped_leads": "prev_rank, lead_id", "mart_runs": "published_at, run_id",
}


def marts(engine) -> dict[str, pd.DataFrame]:
    """Every mart sales read (MARTS), as frames in a stable order."""
    with engine.connect() as conn:
        return {name: pd.read_sql_query(text(f"SELECT * FROM {name} ORDER BY {order}"), conn)
                for name, order in MARTS.items()}


def same_marts(now: dict[str, pd.DataFrame], before: dict[str, pd.DataFrame], *, ignore: tuple[str, ...] = ()) -> None:
    """Assert the marts in `before` are unchanged in `now`, but for the `ignore` columns."""
    for name, frame in before.items():
        drop = [c for c in ignore if c in frame.columns]
        pd.testing.assert_frame_equal(now[name].drop(columns=drop, errors="ignore"), frame.drop(columns=drop), obj=name)
