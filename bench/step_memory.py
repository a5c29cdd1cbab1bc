"""Where one nightly step holds its memory: the step run in this process while a thread samples
the resident set size and the step's innermost leadrank frames every 0.1 s.

    LEADRANK_DATA_DIR=DIR python bench/step_memory.py STEP RUN_ID --config C --warehouse URL [--source S ...]

Arguments as bench/night.py's (a run directory bench/run.py left, e.g. its night 2 re-run after
restoring the work directory); STEP `core` is staging beside normalise → dedupe → score in this
one process, as the flow runs them (a night's peak), on a run directory after `night.py begin`.
Prints one line per stretch of samples in the same frames (start second, the stretch's peak MB,
the frames) and the step's peak: a step's peak is named by the code it was in, not guessed from
a profile of time.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import night  # noqa: E402  (bench/night.py: the step as run.py runs it)

from leadrank.memory import resident_mb  # noqa: E402

INTERVAL = 0.1
DEPTH = 3  # innermost leadrank frames that name a stretch


def sample(main: int, samples: list[tuple[float, float, str]], stop: threading.Event) -> None:
    started = time.perf_counter()
    while not stop.is_set():
        frame = sys._current_frames().get(main)
        ours = [f"{Path(f.filename).name}:{f.name}:{f.lineno}" for f in traceback.extract_stack(frame)
                if "leadrank" in f.filename] if frame is not None else []
        samples.append((time.perf_counter() - started, resident_mb(), " > ".join(ours[-DEPTH:])))
        time.sleep(INTERVAL)


def stretches(samples: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """(start, peak MB, frames) of each run of consecutive samples in the same frames."""
    out: list[tuple[float, float, str]] = []
    for at, mb, where in samples:
        if out and out[-1][2] == where:
            out[-1] = (out[-1][0], max(out[-1][1], mb), where)
        else:
            out.append((at, mb, where))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=[*night.STEPS, night.CORE])
    parser.add_argument("run_id")
    parser.add_argument("--config", required=True)
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--source", action="append", dest="sources", default=None)
    args = parser.parse_args(argv)
    if not Path("/proc/self/statm").exists():
        sys.exit("step_memory.py reads /proc/self/statm: Linux only")
    samples: list[tuple[float, float, str]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample, args=(threading.get_ident(), samples, stop), daemon=True)
    sampler.start()
    night.run_step(args.step, args.run_id, args.config, args.warehouse, args.sources or ["bench"])
    stop.set()
    sampler.join()
    for at, mb, where in stretches(samples):
        print(f"{at:7.1f} s {mb:7.0f} MB  {where}")
    peak = max(samples, key=lambda s: s[1])
    print(f"peak {peak[1]:.0f} MB at {peak[0]:.1f} s in {peak[2]}")


if __name__ == "__main__":
    main()
