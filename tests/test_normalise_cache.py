"""Incremental normalisation: a night that repeats the previous one normalises only its new and
changed records, and gives exactly what normalising everything would."""

import json

import pandas as pd
import pytest

from leadrank import pipeline, run_files
from leadrank.contracts import EXTRACTED, NORMALISED, REJECT_COLUMNS
from leadrank.transform.normalise import content_hashes, normalise_known, normalise_records
from tests.test_stability import A, B, records


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype(object)
    return frame.where(frame.notna(), None)


def test_reused_rows_equal_a_fresh_normalisation():
    first, fresh = normalise_known(records(A), None)
    assert fresh == len(A)
    changed = [dict(A[0], phone="+86 755 8321 6688"), *A[1:], *B]
    second, fresh = normalise_known(records(changed), first)
    assert fresh == 1 + len(B)  # the changed record and the new ones, nothing else
    expected = normalise_records(records(changed))
    pd.testing.assert_frame_equal(_plain(second[NORMALISED]), _plain(expected))
    assert second["content_hash"].tolist() == content_hashes(records(changed)).tolist()


def test_provenance_does_not_change_the_fingerprint():
    a, b = records(A), records(A)
    b["run_id"], b["fetched_at"], b["url"] = "another-run", "2026-02-02T00:00:00+00:00", "http://elsewhere/"
    assert content_hashes(a).tolist() == content_hashes(b).tolist()
    b.loc[0, "company_name"] += " "
    assert content_hashes(a)[0] != content_hashes(b)[0]


def _extract(run_id: str, rows: list[dict]) -> None:
    files = run_files.RunFiles(run_id)
    frame = records(rows).assign(run_id=run_id)
    run_files.write_frame(frame[EXTRACTED], files.extracted("s"))
    run_files.write_frame(pd.DataFrame(columns=REJECT_COLUMNS, dtype=object), files.source_rejects("s"))
    files.report("s").write_text(json.dumps({"source": "s", "records": len(rows), "rejected": 0}), encoding="utf-8")


def test_normalise_step_reuses_last_nights_values():
    _extract("n1", A)
    assert pipeline.normalise_step("n1", ["s"])["normalised_afresh"] == len(A)
    _extract("n2", A + B)
    result = pipeline.normalise_step("n2", ["s"])
    assert result == {**result, "records": len(A + B), "normalised_afresh": len(B)}
    tonight = run_files.read_frame(run_files.RunFiles("n2").stage("normalised"))
    assert list(tonight.columns) == NORMALISED
    assert tonight["name_core"].tolist() == normalise_records(records(A + B))["name_core"].tolist()


def test_a_cache_of_an_earlier_release_is_removed():
    _extract("n1", A)
    old = pipeline.normalise_cache().with_name("normalised-0123456789abcdef.parquet")
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_bytes(b"values an older normaliser computed")
    pipeline.normalise_step("n1", ["s"])
    assert not old.exists() and pipeline.normalise_cache().exists()


def _parts() -> list[str]:
    cache = pipeline.normalise_cache()
    return sorted(p.name for p in cache.parent.glob(f"{cache.stem}+*.parquet"))


def test_a_nights_new_values_are_a_part_of_the_cache_until_the_parts_are_many(monkeypatch):
    """A night that adds few values writes them beside the cache (not the whole cache again);
    the next night reads both; once the parts would hold more than CACHE_PART_SHARE of a
    night's values, the cache is written whole of that night's values and the parts go."""
    monkeypatch.setattr(pipeline, "CACHE_PART_SHARE", 1.0)
    _extract("n1", A)
    pipeline.normalise_step("n1", ["s"])
    cache = pipeline.normalise_cache()
    whole = cache.read_bytes()
    _extract("n2", A + B)
    assert pipeline.normalise_step("n2", ["s"])["normalised_afresh"] == len(B)
    assert cache.read_bytes() == whole and _parts() == [f"{cache.stem}+n2.parquet"]
    assert len(pd.read_parquet(cache.with_name(_parts()[0]))) == len(B)  # the new values only
    other = cache.with_name("normalised-0123456789abcdef+n2.parquet")  # an earlier release's part
    other.write_bytes(b"values an older normaliser computed")
    _extract("n3", A + B)
    assert pipeline.normalise_step("n3", ["s"])["normalised_afresh"] == 0  # the cache and its part
    assert _parts() == [f"{cache.stem}+n2.parquet"] and not other.exists()
    tonight = run_files.read_frame(run_files.RunFiles("n3").stage("normalised"))
    pd.testing.assert_frame_equal(_plain(tonight[NORMALISED]), _plain(normalise_records(records(A + B).assign(run_id="n3"))))
    monkeypatch.setattr(pipeline, "CACHE_PART_SHARE", 0.0)
    _extract("n4", A + B)
    assert pipeline.normalise_step("n4", ["s"])["normalised_afresh"] == 0
    assert _parts() == [] and len(pd.read_parquet(cache)) == len(A + B)


def test_a_part_of_the_cache_with_a_column_of_no_values_keeps_the_caches_types():
    """A part holds few values: a column none of them has is stored as no type at all and read
    back as objects; the cache read with it keeps its Arrow-backed text."""
    _extract("n1", A)
    pipeline.normalise_step("n1", ["s"])
    cache = pipeline.normalise_cache()
    whole = pd.read_parquet(cache)
    part = whole.head(1).assign(content_hash=whole["content_hash"].head(1) + 1)
    part["uscc_norm"] = pd.Series([None], dtype=object)
    part.to_parquet(cache.with_name(f"{cache.stem}+n0.parquet"), index=False)
    known, in_parts = pipeline._known_normalised()
    assert in_parts == 1 and len(known) == len(whole) + 1
    assert known["uscc_norm"].dtype == whole["uscc_norm"].dtype != object
    assert pd.isna(known["uscc_norm"].iloc[-1])


def test_a_damaged_part_of_the_cache_is_ignored_with_the_cache():
    _extract("n1", A)
    pipeline.normalise_step("n1", ["s"])
    cache = pipeline.normalise_cache()
    part = cache.with_name(f"{cache.stem}+n0.parquet")
    part.write_bytes(b"not parquet")
    assert pipeline.normalise_step("n1", ["s"])["normalised_afresh"] == len(A)
    assert not part.exists() and len(pd.read_parquet(cache)) == len(A)


def test_a_damaged_cache_is_ignored():
    _extract("n1", A)
    pipeline.normalise_step("n1", ["s"])
    pipeline.normalise_cache().write_bytes(b"not parquet")
    assert pipeline.normalise_step("n1", ["s"])["normalised_afresh"] == len(A)


@pytest.mark.parametrize("module", ["names.py", "legal_forms.py", "contacts.py"])
def test_the_cache_name_changes_with_any_normalising_module(module, monkeypatch, tmp_path):
    """A release that parses names or legal forms differently never reuses the values an older one
    computed: the cache's name fingerprints every module normalising reads (legal_forms.py, whose
    table decides the core names, was once left out)."""
    before = pipeline.normalise_cache().name
    package = tmp_path / "leadrank"
    (package / "transform").mkdir(parents=True)
    for path in (pipeline.PACKAGE_DIR / "transform").iterdir():
        if path.is_file():
            (package / "transform" / path.name).write_bytes(path.read_bytes())
    (package / "countries.py").write_bytes((pipeline.PACKAGE_DIR / "countries.py").read_bytes())
    monkeypatch.setattr(pipeline, "PACKAGE_DIR", package)
    assert pipeline.normalise_cache().name == before
    target = package / "transform" / module
    target.write_bytes(target.read_bytes() + b"\n# changed\n")
    assert pipeline.normalise_cache().name != before


@pytest.mark.parametrize("processes", [1, 2])
def test_parts_normalised_side_by_side_equal_one_normalisation(processes, monkeypatch):
    """A large input is normalised a part at a time, the parts in worker processes where there
    are several cores: the rows come back in their order, with their index, as normalising them
    all at once gives."""
    from leadrank.transform import normalise

    frame = records([*A, *B, *A])
    frame.index = pd.RangeIndex(100, 100 + len(frame))
    monkeypatch.setattr(normalise, "PART_ROWS", 4)
    monkeypatch.setattr(normalise, "WORKER_PART_ROWS", 3)
    monkeypatch.setattr(normalise, "MAX_PROCESSES", processes)
    assert normalise._processes() == min(processes, normalise.cpu_count())
    parts = normalise.normalise_in_parts(frame)
    assert parts.index.tolist() == frame.index.tolist() and len(frame) > 2 * 4
    pd.testing.assert_frame_equal(_plain(parts[NORMALISED]), _plain(normalise_records(frame)))


def test_worker_parts_come_back_through_files_or_as_they_are_where_none_can_be_written(monkeypatch, tmp_path):
    """The workers write their parts to files that are read back once all are done (this process
    does not hold the parts beside the records while the workers run) and removed; without a
    temporary directory the parts come back as they are, and a part a worker cannot write (a
    full disk) comes back whole."""
    import os

    import pyarrow as pa

    from leadrank.transform import normalise

    frame = records([*A, *B, *A])
    monkeypatch.setattr(normalise, "PART_ROWS", 4)
    monkeypatch.setattr(normalise, "WORKER_PART_ROWS", 3)
    monkeypatch.setattr(normalise, "MAX_PROCESSES", 2)
    monkeypatch.setattr(normalise, "cpu_count", lambda: 2)
    returned, real = [], normalise.in_workers

    def kept(function, items, processes, what):
        returned.append(real(function, items, processes, what))
        return returned[-1]

    monkeypatch.setattr(normalise, "in_workers", kept)
    expected = _plain(normalise_records(frame))
    pd.testing.assert_frame_equal(_plain(normalise.normalise_in_parts(frame)[NORMALISED]), expected)
    files = returned[0]
    assert len(files) == -(-len(frame) // 3) and all(isinstance(f, str) and f.endswith(".arrow") for f in files)
    assert not any(os.path.exists(f) for f in files)

    def no_directory(*args, **kwargs):
        raise OSError("no temporary directory")

    monkeypatch.setattr(normalise.tempfile, "TemporaryDirectory", no_directory)
    pd.testing.assert_frame_equal(_plain(normalise.normalise_in_parts(frame)[NORMALISED]), expected)
    assert all(isinstance(part, pa.Table) for part in returned[1])
    unwritable = str(tmp_path / "missing" / "0.arrow")
    assert normalise._normalised_part_file((frame.head(3), unwritable)).equals(normalise._normalised_part(frame.head(3)))


def test_workers_that_cannot_run_leave_the_parts_to_this_process(monkeypatch, caplog):
    """A machine that forbids worker processes, or a worker killed for memory, costs time, never
    the records: the parts are normalised in-process, and the log says why."""
    import joblib.externals.loky as loky

    from leadrank.transform import normalise

    class NoWorkers:
        def __init__(self, *args, **kwargs):
            raise OSError("processes are not allowed here")

    frame = records([*A, *B])
    monkeypatch.setattr(normalise, "PART_ROWS", 4)
    monkeypatch.setattr(normalise, "MAX_PROCESSES", 2)
    monkeypatch.setattr(normalise, "cpu_count", lambda: 2)
    monkeypatch.setattr(loky, "ProcessPoolExecutor", NoWorkers)
    with caplog.at_level("WARNING", logger="leadrank.worker_processes"):
        parts = normalise.normalise_in_parts(frame)
    pd.testing.assert_frame_equal(_plain(parts[NORMALISED]), _plain(normalise_records(frame)))
    assert "processes are not allowed here" in caplog.text


def test_reused_and_fresh_rows_come_back_in_the_records_order_and_labels():
    """normalise_known builds each column once from the fresh and the known rows (no selected,
    joined and re-indexed copies of every record): interleaved fresh and known rows, under index
    labels that are not positions, keep their order, labels and values."""
    first, _ = normalise_known(records(A), None)
    rows = [*B[:1], A[2], dict(A[0], phone="+86 755 8321 6688"), A[1], *B[1:], *A[3:]]
    tonight = records(rows)
    tonight.index = pd.Index([f"label-{i}" for i in reversed(range(len(tonight)))])
    second, fresh = normalise_known(tonight, first)
    assert fresh == 1 + len(B)
    assert list(second.index) == list(tonight.index)
    expected = normalise_records(records(rows))
    expected.index = tonight.index
    pd.testing.assert_frame_equal(_plain(second[NORMALISED]), _plain(expected))


def test_handed_over_records_give_their_columns_up_as_the_result_is_assembled():
    """The nightly step hands its records over: their columns (and the cached values') are
    dropped as tonight's are taken, so the three are never held at once; the result is the same.
    A caller that did not hand them over keeps its frame as it was."""
    first, _ = normalise_known(records(A), None)
    rows = [dict(A[0], phone="+86 755 8321 6688"), *A[1:], *B]
    kept, handed = records(rows), records(rows)
    before = kept.copy()
    cache = first.copy()
    result, fresh = normalise_known(kept, first)
    pd.testing.assert_frame_equal(kept, before)  # untouched
    pd.testing.assert_frame_equal(first, cache)  # the caller's cached values too
    same, fresh_too = normalise_known(handed, first, handed_over=True)
    assert fresh_too == fresh == 1 + len(B)
    pd.testing.assert_frame_equal(_plain(same), _plain(result))
    assert not set(handed.columns) & set(NORMALISED)  # given up
    assert len(handed) == len(rows)


def test_a_bilingual_name_read_from_the_cache_is_the_record_normalised_afresh():
    """A name field that gives the Chinese and the English name is compared by both, while the
    fields stay as read: a record taken from the cache on a later night is the same record."""
    rows = [{"company_name": "深圳市华强电子有限公司 Shenzhen Huaqiang Electronics Co., Ltd.", "phone": "0755-83216688"},
            {"company_name": "Siemens AG (Stand 3-105)"}, {"company_name": "NestlÃ© SA"}]
    first, _ = normalise_known(records(rows), None)
    second, fresh = normalise_known(records([*rows, {"company_name": "New Co Ltd"}]), first)
    assert fresh == 1
    pd.testing.assert_frame_equal(_plain(second[NORMALISED].iloc[:3]), _plain(first[NORMALISED]))
    assert first["company_name_alt"].iloc[0] is None and first["name_alt_core"].iloc[0] == "huaqiang electronic"
