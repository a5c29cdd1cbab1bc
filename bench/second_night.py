"""Night 2 again and again from one night 1: for working on the incremental night (issue 19).

    python bench/second_night.py --size 1m [--fresh] [--memory dedupe,score]

bench/run.py publishes both nights, so its night 2 cannot be run again as a second night. This
runs night 1 once (bench/run.py's data, config and extraction files; each step a process of
bench/night.py) and keeps the work directory as it left it; every later call restores that copy
and runs night 2's steps on it, printing each step's wall and CPU seconds. Steps named in
--memory run under bench/step_memory.py instead (memory timeline, no timing). Resolution and
scoring use their base run's state only when it was made by the same code: after editing
leadrank's resolution or scoring code, pass --fresh to run night 1 again (the state of other code
is ignored, the night is a full one, and the step says so in its result's `mode`). SQLite only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from night import STEPS  # noqa: E402
from run import bench_config, nights, write_extractions  # noqa: E402


def run_night(night: pd.DataFrame, root: Path, label: str, config: Path, memory: set[str]) -> None:
    run_id = f"bench-{label}"
    sources = write_extractions(night, root, run_id)
    env = {**os.environ, "LEADRANK_DATA_DIR": str(root)}
    args = [run_id, "--config", str(config), "--warehouse", f"sqlite:///{root / 'warehouse.db'}",
            *[a for s in sources for a in ("--source", s)]]
    for step in STEPS:
        script = "step_memory.py" if step in memory else "night.py"
        done = subprocess.run([sys.executable, str(HERE / script), step, *args], env=env, capture_output=True,
                              text=True)
        if done.returncode:
            raise SystemExit(f"{label} {step} failed:\n{done.stderr[-3000:]}")
        if step in memory:
            print(f"{label} {step} memory:\n{done.stdout}", flush=True)
            continue
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        result = figures["result"]
        mode = f"  mode {result['mode']}" if isinstance(result, dict) and "mode" in result else ""
        print(f"{label} {step:<9} {figures['seconds']:7.1f} s  CPU {figures['cpu_seconds']:7.1f} s{mode}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100k", help="companies: 10k, 100k or 1m, as bench/run.py")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/leadrank-bench"))
    parser.add_argument("--fresh", action="store_true", help="run night 1 again (after changing leadrank's code)")
    parser.add_argument("--memory", default="", help="steps to run under step_memory.py, comma-separated")
    args = parser.parse_args(argv)
    memory = {s for s in args.memory.split(",") if s}
    if memory - set(STEPS):
        parser.error(f"--memory takes steps among {', '.join(STEPS)}")
    first, second = nights(args.size, args.seed, args.workdir)
    root, kept = args.workdir / f"second-night-{args.size}", args.workdir / f"second-night-{args.size}.night1"
    if args.fresh or not kept.exists():
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(kept, ignore_errors=True)
        night1 = pd.read_parquet(first)
        config = bench_config(night1, args.workdir, args.seed)
        run_night(night1, root, "night1", config, set())
        shutil.copytree(root, kept)
    # (bench_config's folder: named by night 1's size and the seed)
    config = args.workdir / f"config-{pq.ParquetFile(first).metadata.num_rows}-seed{args.seed}" / "sources.yaml"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(kept, root)
    run_night(pd.read_parquet(second), root, "night2", config, memory)


if __name__ == "__main__":
    main()
