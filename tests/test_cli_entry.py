"""The command line's entry points: `leadrank --version`, `python -m leadrank.cli`, and what
importing the command line sets up (the Prefect secret store) now that it lives outside flows/."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from typer.testing import CliRunner

from leadrank.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_version_prints_the_installed_distribution_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"leadrank {version('leadrank')}\n"


def test_version_wins_over_a_command():
    """Eager: `--version` answers before any command runs (or complains about its arguments)."""
    result = runner.invoke(app, ["--version", "top", "--warehouse", "sqlite:////nonexistent/dir/x.db"])
    assert result.exit_code == 0 and result.output.startswith("leadrank "), result.output


def test_version_without_installed_metadata_is_a_clear_error(monkeypatch):
    def missing(name: str) -> str:
        raise PackageNotFoundError(name)

    monkeypatch.setattr("importlib.metadata.version", missing)
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 1
    assert "not installed as a package" in result.output and "Traceback" not in result.output


def test_python_dash_m_runs_the_command_line():
    done = subprocess.run([sys.executable, "-m", "leadrank.cli", "--version"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"leadrank {version('leadrank')}\n"


def test_importing_the_command_line_registers_prefect_secret_blocks():
    """`leadrank extract` and `check` resolve `{secret: NAME}` without running a flow, so the
    command line itself must register the Prefect store (a fresh interpreter: nothing else has)."""
    code = ("import leadrank.cli, leadrank.config as c; from leadrank.flows.secret_blocks import STORE_NAME;"
            "print(STORE_NAME in c._SECRET_STORES)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_commands_that_run_a_flow_give_prefects_ephemeral_server_time_to_start(monkeypatch, tmp_path):
    """Prefect gives its ephemeral server 20 s; its first start in a new PREFECT_HOME (database
    created) took longer on a busy machine and a fresh clone's first `leadrank run` failed. The
    commands that run a flow here raise it in the environment, where Prefect reads it when it is
    imported (after the command starts), unless the user set it; other commands leave it alone."""
    from leadrank.cli.common import EPHEMERAL_STARTUP_SECONDS

    variable = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
    missing = str(tmp_path / "missing.yaml")  # (each command stops at its config, having set up Prefect)
    for args, user, expected in ((["run", "--config", missing], None, str(EPHEMERAL_STARTUP_SECONDS)),
                                 (["model", "retrain", "--config", missing], None, str(EPHEMERAL_STARTUP_SECONDS)),
                                 (["run", "--config", missing], "45", "45"),
                                 (["--version"], None, None)):
        if user:
            monkeypatch.setenv(variable, user)
        else:
            monkeypatch.delenv(variable, raising=False)
        runner.invoke(app, args)
        assert os.environ.get(variable) == expected, args
