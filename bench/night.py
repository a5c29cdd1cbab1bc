"""One step of a nightly run, in its own process, measured: what bench/run.py times.

    python bench/night.py STEP RUN_ID --config C --warehouse URL [--source bench]

STEP is one of begin, normalise, dedupe, score, load (the other declared steps after extraction:
stage + reconcile + publish), the steps of leadrank.night.STEPS that the Prefect flow's tasks run,
in their declared order, reading and writing
the run directory under $LEADRANK_DATA_DIR. A fresh process per step gives each step its own
peak resident set size and makes the hand-over through files part of the measurement, as it
is in the flow. Prints one JSON line: seconds, cpu_seconds, peak_mb and the step's counts.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

# Timed one by one; the declared steps after them (stage, reconcile, publish: the ones that load
# the warehouse and check the run before publishing) are timed together as "load", per warehouse.
MEASURED = ("normalise", "dedupe", "score")
STEPS = ("begin", *MEASURED, "load")


def run_step(step: str, run_id: str, config: str, warehouse: str, sources: list[str]) -> dict:
    from leadrank import night, pipeline

    if step == "begin":
        return pipeline.begin(config, run_id, warehouse)
    tonight = night.Night(run_id, warehouse, tuple(sources), {"run_id": run_id, "bench": True})
    if step != "load":
        return night.step(step).run(tonight)
    done: dict = {}
    for later in night.AFTER_EXTRACT:
        if later.name not in MEASURED:
            done[later.summary_key] = later.run(night.Night(run_id, warehouse, tuple(sources),
                                                            {**tonight.summary, **done}))
    return done


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=STEPS)
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
