"""The night declared once (leadrank.night.STEPS): the tests' runs follow its order, a run's
config is frozen at begin (and holds no secret), and each step reads each run file once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from leadrank import night, pipeline, reconcile
from leadrank.config import ConfigError, load_config
from leadrank.contracts import REJECT_COLUMNS, ContractError
from leadrank.run_files import RunFiles, freeze_config, read_json, run_config
from tests.helpers import run_pipeline
from tests.ops_fixtures import demo_sources, expected_leads

ALL_SOURCES = {"demo-expo", "demo-assoc", "demo-search"}


def test_steps_are_declared_once_in_the_night_order():
    assert night.NAMES == ("begin", "extract", "stage", "normalise", "dedupe", "score", "reconcile", "publish")
    assert [s.name for s in night.AFTER_EXTRACT] == list(night.NAMES[2:])
    assert all(s.reads or s.name == "begin" for s in night.STEPS) and all(s.call for s in night.AFTER_EXTRACT)
    assert len({s.summary_key for s in night.STEPS}) == len(night.STEPS)


def _record_steps(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Patch every step function to record its name when called (and then do its work)."""
    calls: list[str] = []
    functions = {"begin": (pipeline, "begin"), "extract": (pipeline, "extract_step"), "stage": (pipeline, "stage_step"),
                 "normalise": (pipeline, "normalise_step"), "dedupe": (pipeline, "resolve_step"),
                 "score": (pipeline, "score_step"), "reconcile": (reconcile, "reconcile"),
                 "publish": (pipeline, "publish_step")}
    for name, (module, attribute) in functions.items():
        real = getattr(module, attribute)

        def recorded(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, attribute, recorded)
    return calls


def test_the_tests_run_the_declared_steps_in_order(tmp_path, monkeypatch):
    calls = _record_steps(monkeypatch)
    run = run_pipeline(str(demo_sources(tmp_path)), f"sqlite:///{tmp_path / 'w.db'}")
    assert [c for i, c in enumerate(calls) if i == 0 or c != calls[i - 1]] == list(night.NAMES)
    assert calls.count("extract") == len(ALL_SOURCES)
    assert run["leads"]["new"] == expected_leads(ALL_SOURCES)


def test_the_bench_runs_the_declared_steps(tmp_path, monkeypatch):
    """bench/night.py's `load` is the declared steps after extraction that it does not time
    one by one, in their declared order."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_night", Path(__file__).parents[1] / "bench" / "night.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    config, warehouse, run_id = str(demo_sources(tmp_path)), f"sqlite:///{tmp_path / 'w.db'}", pipeline.new_run_id()
    sources = bench.run_step("begin", run_id, config, warehouse, [])["sources"]
    for name in sources:
        pipeline.extract_step(run_id, name)
    calls = _record_steps(monkeypatch)
    for step in bench.STEPS[1:]:
        bench.run_step(step, run_id, config, warehouse, sources)
    order = [c for i, c in enumerate(calls) if i == 0 or c != calls[i - 1]]
    assert order == [*bench.MEASURED, *(s.name for s in night.AFTER_EXTRACT if s.name not in bench.MEASURED)]


def test_an_edit_of_the_sources_file_during_the_night_changes_nothing(tmp_path):
    """Later steps and a resumed run read the config frozen at begin, never the sources file."""
    config = demo_sources(tmp_path)
    warehouse = f"sqlite:///{tmp_path / 'w.db'}"
    run_id = pipeline.new_run_id()
    started = pipeline.begin(str(config), run_id, warehouse)
    pipeline.extract_step(run_id, "demo-expo")
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw["sources"] = raw["sources"][:1]  # one source left, and statements that are not there
    raw["financials"] = [{"name": "gone", "path": str(tmp_path / "missing.csv")}]
    raw["lead_expiry_nights"] = 1
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")

    assert run_config(run_id).model_dump() == load_config(demo_sources(tmp_path, name="unedited.yaml")).model_dump(
        exclude={"path"}) | {"path": config.resolve()}
    resumed = pipeline.begin(str(config), run_id, warehouse, resume=True)  # still the config it began with
    assert resumed["sources"] == started["sources"] and set(resumed["reused"]) == {"demo-expo"}
    run = run_pipeline(str(config), warehouse, run_id, resume=True)
    assert run["leads"]["new"] == expected_leads(ALL_SOURCES)
    assert run["scoring"]["financial_rows"] > 0


SECRET_ENV, SECRET_LITERAL = "sk-from-the-environment-4711", "sk-written-in-the-file-0815"


def _search_config(tmp_path: Path, name: str = "sources.yaml", query: str = "q") -> Path:
    raw = {"sources": [
        {"name": "brave-env", "kind": "websearch", "engine": "brave", "api_key": "${NIGHT_TEST_BRAVE_KEY}",
         "queries": [query], "endpoint": "https://search.example.com/"},
        {"name": "brave-literal", "kind": "websearch", "engine": "brave", "api_key": SECRET_LITERAL,
         "queries": [query], "endpoint": "https://search.example.com/"},
        {"name": "serp-ref", "kind": "websearch", "engine": "serpapi", "api_key": {"env": "NIGHT_TEST_BRAVE_KEY"},
         "queries": [query], "endpoint": "https://search.example.com/"}]}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _run_dir_bytes(run_id: str) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(RunFiles(run_id).root.rglob("*")) if p.is_file())


def test_the_frozen_config_holds_no_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("NIGHT_TEST_BRAVE_KEY", SECRET_ENV)
    config = _search_config(tmp_path)
    frozen = freeze_config(config, "r-secret")
    stored = _run_dir_bytes("r-secret")
    assert stored and SECRET_ENV.encode() not in stored and SECRET_LITERAL.encode() not in stored
    assert b"${NIGHT_TEST_BRAVE_KEY}" in stored  # the reference, expanded again when read
    again = run_config("r-secret")
    keys = {s.name: s.api_key for s in again.sources}
    assert keys["brave-env"].get_secret_value() == SECRET_ENV
    assert keys["brave-literal"].get_secret_value() == SECRET_LITERAL  # read back from the unchanged file
    assert again.fingerprint() == frozen.fingerprint()

    _search_config(tmp_path, query="edited")  # the file changed: its literal key cannot be read back
    with pytest.raises(ConfigError, match=r"sources\[1\]\.api_key") as caught:
        run_config("r-secret")
    assert SECRET_LITERAL not in str(caught.value) and SECRET_ENV not in str(caught.value)


def test_each_step_reads_each_run_file_at_most_once(tmp_path, monkeypatch):
    """Counted over a whole night: every parquet and JSON file of the run directory, per step
    (each source's extraction is a step of its own), and every column of a parquet file: a step
    may read a file's columns in parts (publishing reads a table's columns when it writes them),
    never one column twice."""
    reads: Counter[tuple[int, str, str, str]] = Counter()
    calls = _record_steps(monkeypatch)
    real_parquet, real_file, real_text = pq.read_table, pq.ParquetFile, Path.read_text

    def count(path: object, columns: list[str] | None = None) -> None:
        if "runs" in Path(str(path)).parts:
            for column in columns or ["(text)"]:
                reads[(len(calls), calls[-1] if calls else "?", Path(str(path)).name, column)] += 1

    def read_table(path, *args, columns=None, **kwargs):  # pandas' read_parquet reads through it too
        count(path, columns or pq.read_schema(path).names)
        return real_parquet(path, *args, columns=columns, **kwargs)

    class ParquetFile(real_file):  # a file read batch by batch (staging)
        def iter_batches(self, *args, columns=None, **kwargs):
            count(self._path, columns or self.schema_arrow.names)
            return super().iter_batches(*args, columns=columns, **kwargs)

        def __init__(self, source, *args, **kwargs):
            self._path = source
            super().__init__(source, *args, **kwargs)

    def read_text(self, *args, **kwargs):
        count(self)
        return real_text(self, *args, **kwargs)

    monkeypatch.setattr(pq, "read_table", read_table)
    monkeypatch.setattr(pq, "ParquetFile", ParquetFile)
    monkeypatch.setattr(Path, "read_text", read_text)
    run_pipeline(str(demo_sources(tmp_path)), f"sqlite:///{tmp_path / 'w.db'}")
    assert reads, "no run file read"
    assert {key: n for key, n in reads.items() if n > 1} == {}
    per_file = Counter(name for _, _, name in {key[:3] for key in reads})
    assert per_file["config.json"] == len(ALL_SOURCES) + 2  # read by each extraction, dedupe and score
    for name in ALL_SOURCES:  # records by stage and normalise; rejects and report by stage and reconcile
        assert [per_file[f"{name}{suffix}"] for suffix in (".parquet", ".rejects.parquet", ".report.json")] == [2, 2, 2]


def test_stage_files_are_checked_against_their_contracts_when_written_and_read(tmp_path):
    warehouse = f"sqlite:///{tmp_path / 'w.db'}"
    run = run_pipeline(str(demo_sources(tmp_path)), warehouse)
    files = RunFiles(run["run_id"])
    normalised = files.read_stage("normalised")
    assert {str(normalised[c].dtype) for c in ("is_branch", "uscc_valid", "email_free")} == {"bool"}  # cast once, here
    assert files.read_stage("resolved", ["seen_tonight"])["seen_tonight"].dtype == bool
    rejects = files.read_stage("score_rejects")  # financials' and outcomes' rejects in the one reject shape
    assert list(rejects.columns) == REJECT_COLUMNS and len(rejects) and (rejects["run_id"] == run["run_id"]).all()

    extracted = files.read_extracted("demo-expo")
    with pytest.raises(ContractError, match=r"writing demo-expo's records \(EXTRACTED\).*record_key"):
        files.write_extract("demo-expo", extracted.drop(columns=["record_key"]), files.read_source_rejects("demo-expo"))
    with pytest.raises(ContractError, match=r"writing resolved \(RESOLVED\).*seen_tonight"):
        files.write_stage("resolved", files.read_stage("resolved").drop(columns=["seen_tonight"]))
    normalised.drop(columns=["name_core"]).to_parquet(files.stage("normalised"), index=False)  # a broken hand-off
    with pytest.raises(ContractError, match=r"reading normalised \(NORMALISED\).*name_core"):
        pipeline.resolve_step(run["run_id"], warehouse)


def test_an_abandoned_extraction_saves_nothing(tmp_path):
    """A source task past its timeout is abandoned, its fetches cancelled, and the flow records the
    source as failed; the thread's late results must not be saved over that record (they raced
    it for the same file: FileNotFoundError on the temporary file, seen on a slow machine)."""
    from leadrank.extractors.fetch.cancel import cancellable

    config = demo_sources(tmp_path)
    run_id = pipeline.new_run_id()
    pipeline.begin(str(config), run_id, f"sqlite:///{tmp_path / 'w.db'}")
    failed = pipeline.source_failed(run_id, "demo-expo", "timed out after 1 s")
    with cancellable() as fetches:
        fetches.cancel()
        late = pipeline.extract_step(run_id, "demo-expo")
    assert late["records"] > 0  # it did extract (a local file needs no fetch) ...
    stored = read_json(RunFiles(run_id).report("demo-expo"))
    assert stored["status"] == "failed" and stored["reason"] == failed["reason"]  # ... and saved nothing
    assert RunFiles(run_id).read_all_extracted(["demo-expo"]).empty
    assert pipeline.extract_step(run_id, "demo-expo")["records"] == late["records"]  # not cancelled: saved
    assert len(RunFiles(run_id).read_all_extracted(["demo-expo"])) == late["records"]


def test_the_step_processes_import_only_what_they_use():
    """A step runs in its own process (the flow's tasks, bench/night.py): importing the night
    must not import the heavy libraries of one step (the resolver's scipy graph clustering,
    scikit-learn, the extractors), which every other step's process would pay for."""
    import subprocess
    import sys

    heavy = ["scipy.sparse", "leadrank.transform.resolve", "sklearn", "skops", "leadrank.extractors.runner",
             "phonenumbers.geocoder"]
    probe = f"import sys, leadrank.night; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _bench_module(name: str):
    import importlib.util
    import sys

    bench_dir = Path(__file__).parents[1] / "bench"
    sys.path.insert(0, str(bench_dir))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", bench_dir / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(bench_dir))


def test_the_memory_timeline_names_each_stretch_by_its_frames_and_peak():
    """bench/step_memory.py prints a line per run of samples in the same frames, with the run's
    largest resident size, and second_night.py runs the steps bench/night.py knows, in its order."""
    step_memory = _bench_module("step_memory")
    samples = [(0.0, 100.0, "a"), (0.1, 300.0, "a"), (0.2, 200.0, "b"), (0.3, 150.0, "a")]
    assert step_memory.stretches(samples) == [(0.0, 300.0, "a"), (0.2, 200.0, "b"), (0.3, 150.0, "a")]
    assert step_memory.resident_mb() > 1
    assert _bench_module("second_night").STEPS == _bench_module("night").STEPS
