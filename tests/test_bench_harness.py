"""The performance harness runs end to end at a toy size: every stage measured as the flow runs
it (staging beside normalise → dedupe → score in one process, the load in another), F1 against
the generated truth, the incremental night, the report files."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_run_measures_every_stage_of_two_nights(tmp_path):
    out = tmp_path / "results"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--size", "300", "--no-splink",
                           "--pg-url", "", "--workdir", str(tmp_path / "work"), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(next(out.glob("run-300-*.json")).read_text(encoding="utf-8"))
    assert report["records"] > 300 and report["dialects"] == ["sqlite"]
    for night in ("night1", "night2"):
        stages = report[night]["stages"]
        assert list(stages) == ["normalise_sqlite", "dedupe_sqlite", "score_sqlite", "stage_sqlite", "core_sqlite",
                                "load_sqlite"]
        assert all(s["seconds"] > 0 for s in stages.values())
        assert all(s["peak_mb"] > 50 for name, s in stages.items() if name != "stage_sqlite")
        assert stages["stage_sqlite"]["result"]["records"] == report[night]["records"]
        assert stages["core_sqlite"]["seconds"] >= sum(stages[f"{s}_sqlite"]["seconds"] for s in ("normalise", "dedupe",
                                                                                                    "score"))
        assert report[night]["f1"]["f1"] > 0.9
        assert stages["load_sqlite"]["result"]["records"]["extracted"] == report[night]["records"]
    # Night 2 repeats night 1 but for 1 % changed and 1 % new records: only those are normalised afresh.
    afresh = report["night2"]["stages"]["normalise_sqlite"]["result"]["normalised_afresh"]
    assert 0 < afresh <= 0.05 * report["night2"]["records"]
    assert report["dedupe"]["leadrank"]["f1"] > 0.9
    assert {t["target"].split(" (")[0] for t in report["targets"]} >= {"normalise → load", "incremental night", "leadrank dedupe peak ≤ 2.5 GiB"}
    assert "| night1 | normalise_sqlite |" in next(out.glob("run-300-*.md")).read_text(encoding="utf-8")


def test_a_measured_peak_counts_the_memory_of_worker_processes():
    """`leadrank` normalises large inputs in worker processes: a step's peak is the sum of the
    resident memory of its process and theirs, not the largest single process's."""
    sys.path.insert(0, str(ROOT / "bench"))
    from measure import measure

    worker = "import numpy as np, time; a = np.ones(40_000_000); time.sleep(1.0)"  # 305 MiB
    parent = f"import subprocess, sys; p = [subprocess.Popen([sys.executable, '-c', {worker!r}]) for _ in range(2)]; [q.wait() for q in p]; print('ok')"
    figures = measure([sys.executable, "-c", parent])
    assert figures["output"] == "ok" and figures["peak_mb"] >= 2 * 300
