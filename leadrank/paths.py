"""Where leadrank keeps its files when nobody says otherwise.

The project data directory holds the embedded SQLite warehouse and each run's working files
(extracted records, raw responses). `LEADRANK_DATA_DIR` moves it; the default is `data/` in the
current working directory, which for `make run` is the project root.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DEMO_DIR = PACKAGE_DIR / "demo"
DEMO_CONFIG = DEMO_DIR / "sources.yaml"
SQL_DIR = PACKAGE_DIR / "sql"


def data_dir() -> Path:
    path = Path(os.environ.get("LEADRANK_DATA_DIR", "data")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def http_cache_dir() -> Path:
    """The HTTP cache every source and night shares (ETag / Last-Modified validators); pruned by
    retention like run directories."""
    return data_dir() / "http-cache"


def run_dir(run_id: str) -> Path:
    """Working directory of one run: extracted frames, raw responses, intermediate parquet."""
    path = data_dir() / "runs" / run_id
    path.mkdir(parents=True, exist_ok=True)
    return path
