"""Operations: resuming without refetching, timeouts, the load failing, alerts, Dask, and one
publisher at a time. The real Prefect server with a worker is tests/test_deployment_server.py."""

from __future__ import annotations

import json
import re
import socket
import threading
import time

import pytest
from sqlalchemy import text

from leadrank import pipeline
from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.load import PublishConflict
from leadrank.warehouse.read import latest_run, ranked_leads, run_status
from tests.helpers import prepare_run
from tests.ops_fixtures import demo_sources, expected_leads, requests_to, serve_demo

ALL_SOURCES = {"demo-expo", "demo-assoc", "demo-search"}


def _wait_for(predicate, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def _prepare(config: str, warehouse: str, run_id: str | None = None) -> str:
    """Every step of a run up to (not including) publishing; returns the run id."""
    return prepare_run(config, warehouse, run_id)["run_id"]


# -- one publisher at a time (no Prefect) --------------------------------------------------------

def test_overlapping_runs_never_both_publish(warehouse_url, demo_config):
    config = str(demo_config)
    first, second = _prepare(config, warehouse_url), _prepare(config, warehouse_url)  # they overlap
    pipeline.publish_step(first, warehouse_url, {})
    with pytest.raises(PublishConflict, match=f"run {first} published while it was running"):
        pipeline.publish_step(second, warehouse_url, {})
    engine = make_engine(warehouse_url)
    assert latest_run(engine)["run_id"] == first and run_status(engine, second) == "running"
    pipeline.fail(second, warehouse_url, "publish conflict")
    # Run again, it redoes resolution against what `first` published, and may then publish.
    _prepare(config, warehouse_url, run_id=second)
    assert pipeline.publish_step(second, warehouse_url, {})["new"] == 0
    assert latest_run(engine)["run_id"] == second


def test_simultaneous_publishers_one_wins(warehouse_url, demo_config):
    config = str(demo_config)
    runs = [_prepare(config, warehouse_url), _prepare(config, warehouse_url)]
    outcomes: dict[str, str] = {}
    barrier = threading.Barrier(2)

    def publish(run_id: str) -> None:
        barrier.wait()
        try:
            pipeline.publish_step(run_id, warehouse_url, {})
            outcomes[run_id] = "published"
        except PublishConflict:
            outcomes[run_id] = "refused"

    threads = [threading.Thread(target=publish, args=(r,)) for r in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(outcomes.values()) == ["published", "refused"]
    winner = next(r for r, o in outcomes.items() if o == "published")
    assert latest_run(make_engine(warehouse_url))["run_id"] == winner


def test_changed_source_settings_are_extracted_again(tmp_path, demo_config):
    from leadrank.config import load_config
    from leadrank.run_files import freeze_config

    config = demo_sources(tmp_path)
    run_id = pipeline.new_run_id()
    freeze_config(config, run_id)
    pipeline.extract_step(run_id, "demo-expo")
    assert pipeline.finished_extract(load_config(config), run_id, "demo-expo")["reused"] is True
    changed = demo_sources(tmp_path, name="changed.yaml", user_agent="leadrank-ops-test/2")
    assert pipeline.finished_extract(load_config(changed), run_id, "demo-expo") is None  # fetch settings changed
    assert pipeline.finished_extract(load_config(config), run_id, "demo-assoc") is None  # never extracted


# -- the flow (session Prefect harness) ------------------------------------------------------------

@pytest.mark.prefect
def test_resume_reuses_what_was_fetched(prefect_harness, httpserver, tmp_path):
    from leadrank.flows.alerts import StepFailed
    from leadrank.flows.nightly import nightly_refresh

    config = str(demo_sources(tmp_path, base_url=serve_demo(httpserver), allow_private_network=True))
    warehouse = f"sqlite:///{tmp_path / 'w.db'}"
    # A run that extracted one source and then died (killed worker, lost machine).
    run_id = pipeline.new_run_id()
    pipeline.begin(config, run_id, warehouse)
    pipeline.extract_step(run_id, "demo-expo")
    expo_fetches = requests_to(httpserver, "/demo/expo/")
    assert expo_fetches == 3

    summary = nightly_refresh(config=config, warehouse=warehouse, resume=run_id)
    assert summary["run_id"] == run_id and summary["resumed"] == 1
    assert requests_to(httpserver, "/demo/expo/") == expo_fetches  # not fetched again
    assert requests_to(httpserver, "/demo/association/") == 1 and requests_to(httpserver, "/demo/search/") == 1
    by_source = {r["source"]: r for r in summary["sources"]}
    assert by_source["demo-expo"].get("reused") and not by_source["demo-assoc"].get("reused")
    engine = make_engine(warehouse)
    assert latest_run(engine)["run_id"] == run_id
    assert len(ranked_leads(engine)) == expected_leads(ALL_SOURCES)

    with pytest.raises(StepFailed, match="already published"):
        nightly_refresh(config=config, warehouse=warehouse, resume=run_id)


@pytest.mark.prefect
def test_a_retried_flow_run_continues_its_run(prefect_harness, httpserver, tmp_path, monkeypatch):
    """A flow run retried (by its retries, or Retry in the UI) resumes the run it began."""
    from leadrank.flows.nightly import nightly_refresh

    config = str(demo_sources(tmp_path, base_url=serve_demo(httpserver), allow_private_network=True))
    warehouse = f"sqlite:///{tmp_path / 'w.db'}"
    real_publish, attempts = pipeline.publish_step, []

    def publish_fails_once(*args, **kwargs):  # a transient fault: the database restarting
        attempts.append(args[0])
        if len(attempts) == 1:
            raise ConnectionError("server closed the connection unexpectedly")
        return real_publish(*args, **kwargs)

    monkeypatch.setattr(pipeline, "publish_step", publish_fails_once)
    summary = nightly_refresh.with_options(retries=1, retry_delay_seconds=0)(config=config, warehouse=warehouse)
    assert attempts == [summary["run_id"]] * 2 and summary["resumed"] == len(ALL_SOURCES)
    assert requests_to(httpserver, "/demo/expo/") == 3  # fetched once, by the first attempt
    assert latest_run(make_engine(warehouse))["run_id"] == summary["run_id"]


@pytest.mark.prefect
def test_a_hanging_source_times_out_and_the_others_publish(prefect_harness, tmp_path):
    from leadrank.flows.nightly import nightly_refresh

    listener = socket.create_server(("127.0.0.1", 0))  # accepts connections, never answers
    held: list[socket.socket] = []

    def hold() -> None:
        try:
            while True:
                held.append(listener.accept()[0])
        except OSError:  # the listener closed: the test is over
            pass

    threading.Thread(target=hold, daemon=True).start()
    port = listener.getsockname()[1]
    config = demo_sources(tmp_path, broken={"demo-search": f"http://127.0.0.1:{port}/search"},
                          allow_private_network=True, read_timeout=4, max_retries=0)
    warehouse = f"sqlite:///{tmp_path / 'w.db'}"
    started = time.monotonic()
    summary = nightly_refresh(config=str(config), warehouse=warehouse, source_timeout_seconds=1, source_retries=0)
    assert time.monotonic() - started < 30
    search = next(r for r in summary["sources"] if r["source"] == "demo-search")
    assert search["status"] == "failed" and search["reason"] == "extraction timed out after 1s"
    assert len(ranked_leads(make_engine(warehouse))) == expected_leads({"demo-expo", "demo-assoc"})
    listener.close()
    for connection in held:
        connection.close()


@pytest.mark.prefect
def test_load_failure_fails_the_run_keeps_the_list_alerts_and_resumes(prefect_harness, httpserver, tmp_path,
                                                                     monkeypatch, demo_config):
    from prefect import get_client
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.client.schemas.filters import (
        ArtifactCollectionFilter,
        ArtifactCollectionFilterFlowRunId,
        ArtifactCollectionFilterKey,
    )
    from typer.testing import CliRunner

    from leadrank.cli import app
    from leadrank.flows.artifacts import SUMMARY_KEY
    from leadrank.flows.nightly import nightly_refresh

    warehouse = f"sqlite:///{tmp_path / 'w.db'}"
    first = nightly_refresh(config=str(demo_config), warehouse=warehouse)
    engine = make_engine(warehouse)
    with engine.begin() as conn:  # the warehouse refuses the load, as a full disk would
        conn.execute(text("CREATE TRIGGER refuse_scores BEFORE INSERT ON lead_ranks "
                          "BEGIN SELECT RAISE(ABORT, 'disk full'); END"))
    httpserver.expect_request("/alerts", method="POST").respond_with_data("ok")
    CustomWebhookNotificationBlock(
        name="leadrank-ops", url=httpserver.url_for("/alerts"),
        json_data={"msgtype": "text", "subject": "{{subject}}", "text": "{{body}}"},
    ).save("ops-alerts", overwrite=True)
    monkeypatch.setenv("LEADRANK_ALERT_BLOCK", "custom-webhook/ops-alerts")

    failed = CliRunner().invoke(app, ["run", "--warehouse", warehouse])
    assert failed.exit_code == 1 and "step 'publish' failed" in failed.output and "disk full" in failed.output
    run_id = re.search(r"leadrank run --resume (\S+)", failed.output).group(1)
    assert latest_run(engine)["run_id"] == first["run_id"]  # yesterday's list stays
    assert run_status(engine, run_id) == "failed"

    assert _wait_for(lambda: requests_to(httpserver, "/alerts") == 1)
    payload = json.loads(httpserver.log[-1][0].get_data())
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(_flow_run_id(payload["text"]))
    assert flow_run.state.is_failed() and payload["msgtype"] == "text"
    assert payload["subject"] == f"leadrank nightly-refresh failed at step publish: {flow_run.name}"
    assert f"flow_run: {flow_run.name}" in payload["text"] and f"run_id: {run_id}" in payload["text"]
    with get_client(sync_client=True) as client:
        summary = client.read_latest_artifacts(artifact_filter=ArtifactCollectionFilter(
            key=ArtifactCollectionFilterKey(any_=[SUMMARY_KEY]), flow_run_id=ArtifactCollectionFilterFlowRunId(
                any_=[flow_run.id])))
    assert len(summary) == 1 and "**Failed**: step 'publish'" in summary[0].data and "## Time per stage" in summary[0].data

    with engine.begin() as conn:  # the disk has room again: resume, without fetching anything
        conn.execute(text("DROP TRIGGER refuse_scores"))
    resumed = CliRunner().invoke(app, ["run", "--warehouse", warehouse, "--resume", run_id])
    assert resumed.exit_code == 0, resumed.output
    assert resumed.output.count("(reused)") == len(ALL_SOURCES)
    assert latest_run(engine)["run_id"] == run_id


@pytest.mark.prefect
def test_staging_runs_beside_normalise_and_ends_before_publish(prefect_harness, tmp_path, monkeypatch, demo_config):
    """The flow stages tonight's records while it normalises, resolves and scores (a step with
    `joins_at`), and waits for the staging before it publishes."""
    from leadrank.flows.nightly import nightly_refresh

    real_stage, real_normalise, real_publish = pipeline.stage_step, pipeline.normalise_step, pipeline.publish_step
    normalising, staged, seen = threading.Event(), threading.Event(), {}

    def stage(*args, **kwargs):
        seen["normalising_while_staging"] = normalising.wait(30)  # run in order, this would time out
        result = real_stage(*args, **kwargs)
        staged.set()
        return result

    def normalise(*args, **kwargs):
        normalising.set()
        return real_normalise(*args, **kwargs)

    def publish(*args, **kwargs):
        seen["staged_before_publish"] = staged.is_set()
        return real_publish(*args, **kwargs)

    monkeypatch.setattr(pipeline, "stage_step", stage)
    monkeypatch.setattr(pipeline, "normalise_step", normalise)
    monkeypatch.setattr(pipeline, "publish_step", publish)
    warehouse = f"sqlite:///{tmp_path / 'w.db'}"
    summary = nightly_refresh(config=str(demo_config), warehouse=warehouse)
    assert seen == {"normalising_while_staging": True, "staged_before_publish": True}
    assert summary["staged"]["records"] > 0 and summary["seconds"]["stage"] > 0
    with make_engine(warehouse).connect() as conn:
        staged_rows = conn.execute(text("SELECT COUNT(*) FROM stg_prospects WHERE run_id = :r"),
                                   {"r": summary["run_id"]}).scalar()
    assert staged_rows == summary["staged"]["records"]


@pytest.mark.prefect
def test_failed_staging_fails_the_run_and_a_failure_beside_it_waits_for_it(prefect_harness, tmp_path, monkeypatch,
                                                                           demo_config):
    """Staging that fails fails the run at step stage (nothing published); a step that fails
    while staging still runs marks the run failed only once staging has ended."""
    from leadrank.flows import alerts
    from leadrank.flows.nightly import nightly_refresh

    warehouse = f"sqlite:///{tmp_path / 'w.db'}"
    engine = make_engine(warehouse)
    real_stage, order = pipeline.stage_step, []

    def stage_fails(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pipeline, "stage_step", stage_fails)
    with pytest.raises(alerts.StepFailed, match="stage"):
        nightly_refresh(config=str(demo_config), warehouse=warehouse)
    assert latest_run(engine) is None
    failed_runs = _runs(engine)
    assert [status for _, status, _ in failed_runs] == ["failed"] and failed_runs[0][2].startswith("stage: OSError")

    dedupe_failed = threading.Event()

    def slow_stage(*args, **kwargs):
        dedupe_failed.wait(30)
        time.sleep(0.5)  # still staging when the flow handles the failure
        result = real_stage(*args, **kwargs)
        order.append("staged")
        return result

    def dedupe_fails(*args, **kwargs):
        dedupe_failed.set()
        raise ValueError("resolution broke")

    real_fail = pipeline.fail

    def fail(*args, **kwargs):
        order.append("marked failed")
        return real_fail(*args, **kwargs)

    monkeypatch.setattr(pipeline, "stage_step", slow_stage)
    monkeypatch.setattr(pipeline, "resolve_step", dedupe_fails)
    monkeypatch.setattr(pipeline, "fail", fail)
    with pytest.raises(alerts.StepFailed, match="dedupe"):
        nightly_refresh(config=str(demo_config), warehouse=warehouse)
    assert order == ["staged", "marked failed"]
    assert latest_run(engine) is None and [s for _, s, _ in _runs(engine)] == ["failed", "failed"]


def _runs(engine) -> list[tuple[str, str, str]]:
    """(run_id, status, failure reason) of every run, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT run_id, status, summary FROM pipeline_runs ORDER BY started_at")).all()
    return [(r.run_id, r.status, json.loads(r.summary or "{}").get("error", "")) for r in rows]


def _flow_run_id(body: str) -> str:
    return re.search(r"^flow_run_id: (\S+)$", body, re.MULTILINE).group(1)


@pytest.mark.prefect
def test_nightly_flow_on_a_dask_cluster(prefect_harness, tmp_path, demo_config, monkeypatch):
    from distributed import Client, LocalCluster, get_task_stream

    from leadrank import night
    from leadrank.flows import runners
    from leadrank.flows.nightly import nightly_refresh

    warehouse_url = f"sqlite:///{tmp_path / 'w.db'}"
    # One worker process (each imports leadrank, which is what costs time here): tasks are
    # pickled and run in another process, as on a remote cluster.
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        monkeypatch.setenv(runners.ADDRESS_ENV, cluster.scheduler_address)  # production: an address from config
        runner = runners.task_runner_from_env()
        assert type(runner).__name__ == "DaskTaskRunner" and runner.address == cluster.scheduler_address
        with get_task_stream(client) as stream:
            summary = nightly_refresh.with_options(task_runner=runner)(config=str(demo_config), warehouse=warehouse_url)
        ran_on_cluster = [item["key"].split("-")[0] for item in stream.data]
    assert {"begin_run", "extract_source", "night_step"} <= set(ran_on_cluster)
    assert ran_on_cluster.count("night_step") >= len(night.AFTER_EXTRACT)  # stage … publish, each on the cluster
    assert {r["status"] for r in summary["sources"]} == {"ok"}
    assert summary["leads"]["new"] == expected_leads(ALL_SOURCES)
    assert len(ranked_leads(make_engine(warehouse_url))) == expected_leads(ALL_SOURCES)


# -- leadrank serve (the real serving is in tests/test_deployment_server.py) ---------------------

def test_serve_builds_prefect_yaml_deployments(monkeypatch, tmp_path):
    from leadrank.flows.serve import ServeError, project_file, runner_deployments
    from leadrank.flows.steps import checkout_dir

    root = checkout_dir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ServeError, match="serve from"):
        runner_deployments(root / "prefect.yaml")  # the working directory is not the clone
    monkeypatch.chdir(root)
    served = {d.name: d for d in runner_deployments(project_file(), timezone="Europe/Berlin")}
    assert set(served) == {"nightly-refresh", "weekly-retrain", "retention-purge"}
    nightly = served["nightly-refresh"]
    assert nightly.entrypoint == "leadrank/flows/nightly.py:nightly_refresh"
    assert [(s.schedule.cron, s.schedule.timezone) for s in nightly.schedules] == [("30 2 * * *", "Europe/Berlin")]
    assert nightly.parameters == {"config": "leadrank/demo/sources.yaml"} and nightly.concurrency_limit == 1
    assert served["weekly-retrain"].entrypoint == "leadrank/flows/retrain.py:weekly_retrain"
    purge = served["retention-purge"]
    assert purge.entrypoint == "leadrank/flows/retention.py:retention_purge"
    assert [(s.schedule.cron, s.schedule.timezone) for s in purge.schedules] == [("30 5 * * *", "Europe/Berlin")]


def test_serve_cli_refuses_unknown_timezone_and_missing_file(tmp_path):
    from typer.testing import CliRunner

    from leadrank.cli import app

    result = CliRunner().invoke(app, ["serve", "--timezone", "Mars/Olympus"])
    assert result.exit_code == 1 and "unknown timezone" in result.output
    result = CliRunner().invoke(app, ["serve", "--file", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_serve_knows_whether_a_prefect_server_is_configured():
    """The command line warns when no server is set; it asks flows.serve, never Prefect itself."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from leadrank.flows.serve import has_api_server

    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        assert has_api_server()
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert not has_api_server()


def test_pull_step_finds_the_clone_or_says_what_to_do(tmp_path, monkeypatch):
    from leadrank.flows.steps import HOME_ENV, checkout_dir, use_checkout

    monkeypatch.chdir(tmp_path)
    assert use_checkout() == {"directory": str(checkout_dir())} and (checkout_dir() / "prefect.yaml").is_file()
    monkeypatch.setenv(HOME_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"set {HOME_ENV}"):
        use_checkout()
