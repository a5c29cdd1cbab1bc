"""One step of a nightly run, in its own process, measured: what bench/run.py times.

    python bench/night.py STEP RUN_ID --config C --warehouse URL [--source bench]

STEP is one of begin, normalise, dedupe, score, stage, load (the other declared steps after
extraction: reconcile + publish), the steps of leadrank.night.STEPS that the Prefect flow's
tasks run, in their declared order, reading and writing the run directory under
$LEADRANK_DATA_DIR; or `core`, the stretch the flow runs at once: staging in a thread beside
normalise → dedupe → score, as the flow's default (thread) task runner runs a step with
`joins_at`. A fresh process per step gives each step its own peak resident set size and makes
the hand-over through files part of the measurement, as it is in the flow. Prints one JSON
line: seconds, cpu_seconds, peak_mb and the step's counts (`core`: each step's seconds and the
peak while it ran, staging's memory included).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sys
import threading
import time

import psutil

# Timed one by one; the declared steps after them but staging (reconciliation and publish: the
# ones that load the warehouse and check the run before publishing) are timed together as
# "load", per warehouse.
MEASURED = ("normalise", "dedupe", "score")
STEPS = ("begin", *MEASURED, "stage", "load")
CORE = "core"
SAMPLE_SECONDS = 0.1


def run_step(step: str, run_id: str, config: str, warehouse: str, sources: list[str]) -> dict:
    from leadrank import night, pipeline

    if step == "begin":
        return pipeline.begin(config, run_id, warehouse)
    tonight = night.Night(run_id, warehouse, tuple(sources), {"run_id": run_id, "bench": True})
    if step == CORE:
        return run_core(tonight)
    if step != "load":
        return night.step(step).run(tonight)
    done: dict = {}
    for later in night.AFTER_EXTRACT:
        if later.name not in MEASURED and not later.joins_at:
            done[later.summary_key] = later.run(night.Night(run_id, warehouse, tuple(sources),
                                                            {**tonight.summary, **done}))
    return done


def tree_mb() -> float:
    """Resident memory of this process and its children (normalising runs in worker processes)."""
    me = psutil.Process()
    total = me.memory_info().rss
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):  # a worker that ended meanwhile
            total += child.memory_info().rss
    return total / 2**20


def run_core(tonight) -> dict:  # noqa: ANN001 (leadrank.night.Night, imported late)
    """Staging beside normalise → dedupe → score, as the flow runs them: each step's seconds and
    the largest resident memory (process tree) while it ran."""
    from leadrank import night

    figures: dict = {}
    current = ["normalise"]
    peaks: dict[str, float] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peaks[current[0]] = max(peaks.get(current[0], 0.0), tree_mb())
            time.sleep(SAMPLE_SECONDS)

    def stage() -> None:
        started = time.perf_counter()
        try:
            figures["stage"] = {"result": night.step("stage").run(tonight)}
        except BaseException as exc:  # noqa: BLE001 - reported after the others, as the flow does
            figures["stage"] = {"error": f"{type(exc).__name__}: {exc}"}
        figures["stage"]["seconds"] = round(time.perf_counter() - started, 2)

    sampler, beside = threading.Thread(target=sample, daemon=True), threading.Thread(target=stage)
    sampler.start()
    beside.start()
    for name in MEASURED:
        current[0] = name
        started = time.perf_counter()
        figures[name] = {"result": night.step(name).run(tonight)}
        figures[name]["seconds"] = round(time.perf_counter() - started, 2)
    current[0] = "waiting for stage"
    beside.join()
    done.set()
    sampler.join()
    if "error" in figures["stage"]:
        raise RuntimeError(f"stage failed: {figures['stage']['error']}")
    for name, peak in peaks.items():
        figures.setdefault(name, {})["peak_mb"] = round(peak)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=[*STEPS, CORE])
    parser.add_argument("run_id")
    parser.add_argument("--config", required=True)
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--source", action="append", dest="sources", default=None)
    args = parser.parse_args(argv)
    started, cpu_started = time.perf_counter(), time.process_time()
    result = run_step(args.step, args.run_id, args.config, args.warehouse, args.sources or ["bench"])
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"step": args.step, "seconds": round(time.perf_counter() - started, 2),
                      "cpu_seconds": round(time.process_time() - cpu_started, 2), "peak_mb": round(peak_kb / 1024),
                      "result": result}, default=str), flush=True)


if __name__ == "__main__":
    sys.exit(main())
