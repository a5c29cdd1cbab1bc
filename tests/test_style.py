"""Lint as a test, so style rules hold at every commit (ruff, configured in pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    result = subprocess.run([ruff, "check", "leadrank", "tests", "scripts", "bench"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_stage_code_never_imports_prefect():
    """extract → transform → scoring → warehouse stay plain Python; only flows know Prefect."""
    offenders = []
    for package in ("extractors", "transform", "scoring", "warehouse"):
        for path in (ROOT / "leadrank" / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if "import prefect" in text or "from prefect" in text:
                offenders.append(str(path.relative_to(ROOT)))
    for path in (ROOT / "leadrank").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "import prefect" in text or "from prefect" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
