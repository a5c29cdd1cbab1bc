"""Test harness only: `leadrank` command lines started as forks of one process that has already
imported leadrank, Prefect, scikit-learn and skops.

A fresh interpreter spends 4-5 CPU seconds importing the nightly flow and 4 more when it reaches
the score step (scikit-learn, skops); the crash and concurrency tests start 18 such runs, each
to be killed or raced, on a two-core machine that runs the suite's other tests beside them. Each
run here is a real process of its own (forked, so it can be SIGKILLed, races the others and
holds its own connections), whose environment, working directory and arguments are the test's;
only the imports are shared. The forking process is started with the first test's environment
(it must carry the Prefect harness's PREFECT_API_URL: Prefect reads its settings when imported)
and forks nothing but from its main thread, before any thread exists.

    python tests/forked_runs.py      # the forking process: JSON requests on stdin, replies on stdout

A request {"argv": [...], "env": {...}, "cwd": ..., "log": ...} runs `argv` (a script and its
arguments, as `python argv...` would) with stdout and stderr in the file `log`; the reply is
{"pid": PID}, and {"exit": PID, "code": CODE} follows when it ends (CODE is -N for signal N).
"""

from __future__ import annotations

import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
# What the forks would otherwise each import (the CLI's run command, the kill points' patches,
# the score step's libraries).
PRELOAD = ("leadrank.cli.run", "leadrank.flows.nightly", "tests.kill_points", "leadrank.scoring.priority",
           "leadrank.warehouse.models", "skops.io")


class ForkedRun:
    """One forked run: as much of subprocess.Popen as the tests use."""

    def __init__(self, forks: Forks, pid: int, log: Path) -> None:
        self._forks, self.pid, self.log = forks, pid, log
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._forks.exit_code(self.pid, 0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self._forks.exit_code(self.pid, timeout)
            if self.returncode is None:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


class Forks:
    """The forking process, seen from the test: start runs, learn how they ended."""

    def __init__(self, env: dict[str, str]) -> None:
        # Prefect read its settings when the forking process imported it: each run's environment
        # repeats them, so that what a run reads from its environment agrees with what Prefect read.
        self._prefect = {name: value for name, value in env.items() if name.startswith("PREFECT_")}
        self._process = subprocess.Popen([sys.executable, str(Path(__file__))], cwd=ROOT, env=env,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self._started: queue.Queue[int] = queue.Queue()
        self._exits: dict[int, int] = {}
        self._ended = threading.Condition()
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            message = json.loads(line)
            if "pid" in message:
                self._started.put(message["pid"])
            else:
                with self._ended:
                    self._exits[message["exit"]] = message["code"]
                    self._ended.notify_all()

    def start(self, argv: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> ForkedRun:
        with self._lock:
            assert self._process.stdin is not None and self._process.poll() is None, "the forking process ended"
            request = {"argv": argv, "env": {**env, **self._prefect}, "cwd": str(cwd), "log": str(log)}
            self._process.stdin.write(json.dumps(request) + "\n")
            return ForkedRun(self, self._started.get(timeout=120), log)

    def exit_code(self, pid: int, timeout: float | None) -> int | None:
        with self._ended:
            self._ended.wait_for(lambda: pid in self._exits, timeout)
            return self._exits.get(pid)

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=30)


def _run(request: dict[str, Any]) -> None:
    """In the fork: become the requested command line, then exit with its code."""
    import runpy
    import traceback

    code = 1
    try:
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # (not the requests' pipe)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = list(request["argv"])
        runpy.run_path(sys.argv[0], run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - reported in the log, as the interpreter would
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _serve(requests: IO[str]) -> None:
    import importlib

    for module in PRELOAD:
        importlib.import_module(module)
    assert threading.active_count() == 1, "a thread would not survive the fork"
    running: set[int] = set()
    while True:
        ready, _, _ = select.select([requests], [], [], 0.05)
        if ready:
            line = requests.readline()
            if not line:
                return
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                _run(request)
            running.add(pid)
            print(json.dumps({"pid": pid}), flush=True)
        for pid in list(running):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                running.discard(pid)
                print(json.dumps({"exit": pid, "code": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    _serve(sys.stdin)
