"""The package's layers hold (pyproject.toml [tool.importlinter], README "Layout"): a layer imports
only the layers below it (cli > flows > reconcile|run_report > pipeline > warehouse > scoring >
transform > extractors > foundation), every top-level module is in a layer, and only
leadrank.flows imports Prefect. The contracts are checked by import-linter on the real tree, and
shown to catch each kind of breach on a copy of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = ("import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filenames=('pyproject.toml',), no_cache=True, no_logo=True))")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the tree at `tree` (its pyproject.toml, its leadrank package first on the
    path), uncached so that nothing is written into the tree."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([sys.executable, "-c", LINT], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_package_keeps_its_layers():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(("path", "source", "said"), [
    ("leadrank/transform/shortcut.py", "from leadrank.cli import app\n", "leadrank.transform.shortcut -> leadrank.cli"),
    ("leadrank/flows/shortcut.py", "import leadrank.cli.common\n", "leadrank.flows.shortcut -> leadrank.cli.common"),
    ("leadrank/extractors/shortcut.py", "def f():\n    from leadrank.warehouse import load\n",
     "leadrank.extractors.shortcut -> leadrank.warehouse.load"),
    ("leadrank/warehouse/shortcut.py", "import prefect\n", "leadrank.warehouse.shortcut -> prefect"),
    ("leadrank/cli/shortcut.py", "from prefect.settings import get_current_settings\n",
     "leadrank.cli.shortcut -> prefect (l.1)"),
    ("leadrank/unplaced.py", "X = 1\n", "unplaced"),
])
def test_a_breach_is_caught(tmp_path, path, source, said):
    shutil.copytree(ROOT / "leadrank", tmp_path / "leadrank", ignore=shutil.ignore_patterns("__pycache__", "demo"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / path).write_text(source, encoding="utf-8")
    done = lint_imports(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BROKEN" in done.stdout and said in done.stdout, done.stdout


def test_no_module_of_a_deployment_entrypoints_folder_hides_a_standard_one():
    """Prefect loads a deployment's entrypoint by its file (prefect.yaml: leadrank/flows/...py),
    which puts that file's folder first on the flow run's sys.path for good; the worker processes
    the run starts (normalising's, staging's) inherit it, so a module there named as a standard
    one (it was `secrets`) hides that one from them: they failed to import numpy."""
    import yaml

    folders = {(ROOT / d["entrypoint"].split(":")[0]).parent
               for d in yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]}
    assert folders == {ROOT / "leadrank" / "flows"}
    hiding = [p.name for folder in folders for p in folder.glob("*.py") if p.stem in sys.stdlib_module_names]
    assert hiding == []


def test_worker_processes_start_after_prefect_loads_the_nightly_entrypoint(monkeypatch):
    """As a deployment's flow run has it: the entrypoint loaded by its path (sys.path changed by
    Prefect), then normalising's worker processes start and normalise (None would mean they
    failed and it fell back to this process)."""
    from prefect.flows import load_flow_from_entrypoint

    from leadrank.transform import normalise
    from tests.helpers import demo_records

    monkeypatch.setattr(sys, "path", list(sys.path))  # Prefect's insertions are undone after the test
    monkeypatch.chdir(ROOT)
    load_flow_from_entrypoint("leadrank/flows/nightly.py:nightly_refresh")
    assert str(ROOT / "leadrank" / "flows") in sys.path
    parts = normalise._in_processes(demo_records().head(4), 2)
    assert parts is not None and sum(part.num_rows for part in parts) == 4
