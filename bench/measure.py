"""Measuring a command as a whole process: wall and CPU seconds, peak memory, its output.

A fresh parent per measurement, so that RUSAGE_CHILDREN is the measured child's alone. Where
/proc is there (Linux), the peak is the largest sum of the resident memory of the child and its
own children (`leadrank` normalises large inputs in worker processes), sampled every 0.1 s;
the largest single process's (ru_maxrss) is the floor.
"""

from __future__ import annotations

import json
import subprocess
import sys

_MEASURE = """
import json, os, resource, subprocess, sys, threading, time

def tree_kb(root):
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    children.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(name))
            except (OSError, IndexError, ValueError):
                pass
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        except OSError:
            pass
    return total

started = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
streams = {}
readers = [threading.Thread(target=lambda n, s: streams.__setitem__(n, s.read()), args=(n, s))
           for n, s in (("stdout", child.stdout), ("stderr", child.stderr))]
for reader in readers:
    reader.start()
peak = 0
while child.poll() is None:
    if os.path.isdir("/proc"):
        peak = max(peak, tree_kb(child.pid))
    time.sleep(0.1)
for reader in readers:
    reader.join()
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": time.perf_counter() - started, "peak_kb": max(peak, usage.ru_maxrss),
                  "cpu": usage.ru_utime + usage.ru_stime, "code": child.returncode,
                  "stdout": streams["stdout"][-4000:], "stderr": streams["stderr"][-4000:]}))
"""


def measure(command: list[str], env: dict[str, str] | None = None) -> dict:
    """Run `command` as a whole process; wall and CPU seconds, peak MB and its last stdout line
    (exits, with its error output, when the command fails)."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True, check=True,
                         env=env)
    figures = json.loads(out.stdout)
    if figures["code"] != 0:
        raise SystemExit(f"{' '.join(command[:3])} … failed (exit {figures['code']}):\n{figures['stderr']}")
    lines = figures["stdout"].strip().splitlines()
    return {"seconds": round(figures["seconds"], 2), "cpu_seconds": round(figures["cpu"], 2),
            "peak_mb": round(figures["peak_kb"] / 1024), "output": lines[-1] if lines else ""}
