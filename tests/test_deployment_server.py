"""The deployments for real: a Prefect server (SQLite, its own PREFECT_HOME, a free port) in a
subprocess, `prefect deploy --all` from prefect.yaml, a process worker started outside the clone
(so the pull step must find it), two runs of the nightly deployment read back through the
Prefect client, then `leadrank serve`. One test, because the server is the expensive part."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from leadrank.flows import artifacts
from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.read import ranked_leads
from tests.ops_fixtures import demo_sources, expected_leads, requests_to

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NIGHTLY = "nightly-refresh/nightly-refresh"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(what: str, predicate: Callable[[], Any], seconds: float, log: Path | None = None) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if result := predicate():
                return result
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    pytest.fail(f"timed out waiting for {what}\n{tail}")


@contextmanager
def _process(args: list[str], log: Path, **kwargs: Any) -> Iterator[subprocess.Popen]:
    """A subprocess in its own process group, stopped (with everything it started) on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)
        try:
            yield proc
        finally:
            for sig, wait in ((signal.SIGINT, 15), (signal.SIGKILL, 5)):
                if proc.poll() is not None:
                    break
                os.killpg(proc.pid, sig)
                try:
                    proc.wait(wait)
                except subprocess.TimeoutExpired:
                    continue


def _artifacts_of(client, flow_run_id) -> dict[str, Any]:  # noqa: ANN001
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    found = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return {a.key: a for a in found}


@pytest.mark.prefect
def test_deployments_on_a_real_prefect_server(tmp_path, httpserver, _isolated_data_dir):
    from prefect import get_client
    from prefect.blocks.webhook import Webhook
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "INFO"}
    warehouse = f"sqlite:///{_isolated_data_dir / 'leadrank.db'}"  # the worker's default warehouse
    elsewhere = tmp_path / "worker-cwd"  # not the clone: the pull step must find it
    elsewhere.mkdir()
    httpserver.expect_request("/alerts", method="POST").respond_with_data("ok")
    one_broken = demo_sources(tmp_path, broken={"demo-assoc": (tmp_path / "gone.html").as_uri()})
    all_broken = demo_sources(tmp_path, name="all-broken.yaml", broken={
        name: (tmp_path / f"{name}-gone.html").as_uri() for name in ("demo-expo", "demo-assoc", "demo-search")})

    with _process([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                  tmp_path / "server.log", env=env, cwd=tmp_path), temporary_settings({PREFECT_API_URL: api}):
        _wait("the Prefect server", lambda: get_client(sync_client=True).api_healthcheck() is None, 120,
              tmp_path / "server.log")
        for command in (["work-pool", "create", "leadrank-process", "--type", "process"], ["--no-prompt", "deploy", "--all"]):
            done = subprocess.run([str(BIN / "prefect"), *command], env=env, cwd=ROOT, capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + done.stderr
        Webhook(url=httpserver.url_for("/alerts")).save("leadrank-alerts")

        with get_client(sync_client=True) as client:
            nightly = client.read_deployment_by_name(NIGHTLY)
            weekly = client.read_deployment_by_name("weekly-retrain/weekly-retrain")
        schedule = nightly.schedules[0].schedule
        assert (schedule.cron, schedule.timezone) == ("30 2 * * *", "Asia/Shanghai")
        assert nightly.global_concurrency_limit.limit == 1 and nightly.work_pool_name == "leadrank-process"
        assert weekly.schedules[0].schedule.timezone == "Asia/Shanghai"
        assert weekly.entrypoint == "leadrank/flows/retrain.py:weekly_retrain"
        assert nightly.pull_steps == [{"leadrank.flows.steps.use_checkout": {}}]
        assert str(ROOT) not in nightly.model_dump_json()  # nothing of the deploying machine

        worker_env = {**env, "LEADRANK_ALERT_BLOCK": "webhook/leadrank-alerts", "PREFECT_WORKER_QUERY_SECONDS": "1"}
        with _process([str(BIN / "prefect"), "worker", "start", "--pool", "leadrank-process"],
                      tmp_path / "worker.log", env=worker_env, cwd=elsewhere):
            partial = run_deployment(NIGHTLY, parameters={"config": str(one_broken)}, timeout=300)
            failed = run_deployment(NIGHTLY, parameters={"config": str(all_broken)}, timeout=300)
            assert partial.state.is_completed(), (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
            assert failed.state.is_failed() and "step 'extract' failed" in failed.state.message
            _wait("the failure alert", lambda: requests_to(httpserver, "/alerts") == 1, 60, tmp_path / "worker.log")

        # One source broken: completed, the warning names it and why, the others' leads are published.
        engine = make_engine(warehouse)
        with engine.connect() as conn:
            reason = conn.execute(text("SELECT reason FROM stg_source_runs WHERE source = 'demo-assoc' AND status = "
                                       "'failed'")).scalar()
        assert reason
        with get_client(sync_client=True) as client:
            found = _artifacts_of(client, partial.id)
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[partial.id])))
        assert set(found) == {artifacts.SUMMARY_KEY, artifacts.TOP_LEADS_KEY, artifacts.QUALITY_KEY,
                              artifacts.PROGRESS_KEY, artifacts.FAILED_SOURCES_KEY}
        warning = found[artifacts.FAILED_SOURCES_KEY].data
        # page text reaches the artifact as Markdown-escaped text (no links or emphasis from a site)
        assert "| demo-assoc | association |" in warning and artifacts.md_text(reason) in warning
        assert "demo-expo" not in warning and "demo-search" not in warning
        published = ranked_leads(engine)
        assert len(published) == expected_leads({"demo-expo", "demo-search"})
        assert not published["sources"].str.contains("demo-assoc").any()
        top = json.loads(found[artifacts.TOP_LEADS_KEY].data)
        assert [row["company"] for row in top] == list(published["company_name"][:50])
        quality = json.loads(found[artifacts.QUALITY_KEY].data)
        names = {(r["source"], r["check"], r["field"]): r for r in quality}
        assert names[("demo-expo", "fill rate", "company_name")]["rate"] == "100.0%"
        assert ("demo-search", "invalid", "uscc") in names
        summary = found[artifacts.SUMMARY_KEY].data
        assert "## Leads" in summary and "## Tiers" in summary and "## Time per stage" in summary
        assert "| demo-assoc | association | failed |" in summary
        assert found[artifacts.PROGRESS_KEY].data == 100.0
        assert logs and not [log.message for log in logs if "cache" in log.message.lower()]
        assert all("demo-assoc" in log.message for log in logs if log.level >= 30)  # the only warnings

        # Every source broken: the run failed and the alert named the flow run and the step.
        alert = json.loads(httpserver.log[-1][0].get_data())
        assert alert["flow_run"] == failed.name and alert["flow_run_id"] == str(failed.id)
        assert alert["failed_step"] == "extract" and "every source failed" in alert["reason"]

        # `leadrank serve` takes the same two deployments over (served: no pull step) on the same schedules.
        with _process([str(BIN / "leadrank"), "serve"], tmp_path / "serve.log", env=env, cwd=elsewhere):
            def served() -> bool:
                with get_client(sync_client=True) as client:
                    found = [client.read_deployment_by_name(n) for n in (NIGHTLY, "weekly-retrain/weekly-retrain")]
                return all(d.pull_steps is None and [(s.schedule.cron, s.schedule.timezone) for s in d.schedules]
                           == [(y.schedules[0].schedule.cron, "Asia/Shanghai")] for d, y in zip(found, (nightly, weekly), strict=True))

            _wait("leadrank serve", served, 90, tmp_path / "serve.log")
