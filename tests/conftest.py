"""Shared fixtures.

Warehouse tests take the `warehouse_url` fixture, which runs every test on SQLite and on
PostgreSQL. The PostgreSQL variant needs LEADRANK_TEST_PG_URL (CI sets it): each test gets a
fresh database created from that server and dropped afterwards, so parallel sessions never
collide. Without the variable the PostgreSQL variants skip; with it set but the server
unreachable they fail.

Prefect: one session-scoped prefect_test_harness, with PREFECT_HOME in a temp dir. `make test`
runs the suite on every core (pytest-xdist, `-n auto --dist loadgroup`); every test that uses the
harness is put in one xdist group, so one worker runs them all against one harness.

Fetch layer (tests/test_fetch_*.py): `fetch_settings` for a local server and `robots_server`,
pytest-httpserver with a robots.txt.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before anything imports Prefect: keep its home, database and analytics out of the user's.
_PREFECT_HOME = tempfile.mkdtemp(prefix="leadrank-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# The worker that holds the harness runs stage tests too; a warning they log outside a flow run
# is theirs to assert on, not one for Prefect's API log handler to flag.
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
os.environ.pop("PREFECT_API_URL", None)
# xdist workers inherit COLUMNS=80 / LINES=24; a rich Console created with them set keeps that
# width for good, and the CLI tests could no longer set their own COLUMNS (see _wide_terminal).
for _size in ("COLUMNS", "LINES"):
    os.environ.pop(_size, None)

PG_URL = os.environ.get("LEADRANK_TEST_PG_URL")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the Prefect harness share one xdist worker, so only one harness starts."""
    for item in items:
        if "prefect_harness" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("prefect"))


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """CLI output 250 columns wide unless a test asks for another width (env={"COLUMNS": ...}):
    at 80, rich wraps the temporary paths in messages mid-word, and how long those paths are
    depends on the machine and on how many pytest sessions ran before."""
    monkeypatch.setenv("COLUMNS", "250")


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data directory (warehouse file, run directories)."""
    data = tmp_path / "data"
    monkeypatch.setenv("LEADRANK_DATA_DIR", str(data))
    monkeypatch.delenv("LEADRANK_WAREHOUSE_URL", raising=False)
    return data


@pytest.fixture(autouse=True)
def _fresh_robots_per_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests reuse run ids ("r") against one local server whose robots.txt each test sets: the
    robots.txt files a run has read (extractors.runner.robots_store) are forgotten between tests."""
    from collections import OrderedDict

    from leadrank.extractors import runner

    monkeypatch.setattr(runner, "_RUN_ROBOTS", OrderedDict())


def _pg_database() -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    assert PG_URL
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"leadrank_test_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"LEADRANK_TEST_PG_URL is set but PostgreSQL is unusable: {exc}")
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'warehouse.db'}"
        return
    if not PG_URL:
        pytest.skip("LEADRANK_TEST_PG_URL is not set")
    yield from _pg_database()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def forks(prefect_harness) -> Iterator[object]:  # noqa: ARG001 - its API URL is the forks'
    """`leadrank` command lines forked from one process that has imported what they need
    (tests/forked_runs.py), against this session's Prefect harness."""
    from prefect.settings import PREFECT_API_URL

    from tests.forked_runs import Forks

    started = Forks({**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()),
                     "PREFECT_LOGGING_EXTRA_LOGGERS": "leadrank"})
    yield started
    started.close()


@pytest.fixture(scope="session")
def _demo_nights(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from tests.demo_nights import DemoNights

    nights = DemoNights(tmp_path_factory.mktemp("demo-nights"), PG_URL)
    yield nights
    nights.close()


@pytest.fixture
def demo_night(_demo_nights, _isolated_data_dir):  # noqa: ARG001 - the data directory it fills
    """`demo_night(config, warehouse)`: what `run_pipeline(config, warehouse)` gives on an empty
    warehouse, copied from one night run once per worker (tests/demo_nights.py): for tests that
    start from a published night rather than test it."""
    return _demo_nights.publish


@pytest.fixture
def demo_config() -> Path:
    from leadrank.paths import DEMO_CONFIG

    return DEMO_CONFIG


@pytest.fixture
def fetch_settings():
    """Fetch settings for a local server: private addresses allowed, no pacing, tiny backoffs
    and timeouts (a fixture so that each test can model_copy its own variant)."""
    from leadrank.config import FetchSettings

    return FetchSettings(allow_private_network=True, rate_limit=0, max_retries=3, backoff_base=0.01,
                         read_timeout=1.0, connect_timeout=1.0)


@pytest.fixture
def robots_server(httpserver):
    """pytest-httpserver whose robots.txt disallows /private for every agent."""
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nDisallow: /private\n")
    return httpserver
