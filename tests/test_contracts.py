"""The stage hand-offs' contracts (leadrank.contracts): every stage file is conformed to its
contract where it is written and where it is read (leadrank.run_files), and a missing column or
a column of another type fails there, naming the file, the contract and the column."""

import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from leadrank.contracts import (
    LEAD_TABLE,
    NORMALISED_FILE,
    SCORE_COLUMNS,
    STAGE_FILES,
    Contract,
    ContractError,
)
from leadrank.run_files import RunFiles
from leadrank.scoring.ratios import RATIOS

VALUE = {"text": "x", "bool": True, "int64": 3, "float64": 1.5, "uint64": np.uint64(7)}


def sample(contract: Contract, rows: int = 2) -> pd.DataFrame:
    """A frame that keeps `contract`: one value of each column's kind, a missing one in every
    column that may be missing."""
    frame = {}
    for name, column in contract.declared.items():
        values = [VALUE[column.kind]] * rows
        if column.nullable:
            values[-1] = None if column.kind == "text" else np.nan
        frame[name] = pd.Series(values, dtype=object if column.kind == "text" else column.kind)
    return pd.DataFrame(frame)


@pytest.mark.parametrize("name", sorted(STAGE_FILES))
def test_each_stage_file_reads_back_as_its_contract_types_it(name):
    files, contract = RunFiles("r1"), STAGE_FILES[name]
    files.write_stage(name, sample(contract))
    for as_stored in (False, True):
        frame = files.read_stage(name, as_stored=as_stored)
        assert list(frame.columns) == contract.columns
        for column, dtype in contract.typed.items():
            assert str(frame[column].dtype) == dtype, (column, as_stored)
        text = [c for c in contract.columns if c not in contract.typed and c != "content_hash"]
        assert all(frame[c].dtype == object or isinstance(frame[c].dtype, pd.StringDtype) for c in text)
        assert (frame[text].iloc[0] == "x").all() and frame[[c for c in text if contract.declared[c].nullable]
                                                               ].iloc[1].isna().all()


@pytest.mark.parametrize("rows", [4, 10])
def test_run_files_carry_no_statistics_and_no_dictionary_pages(tmp_path, monkeypatch, rows):
    """Run files are never filtered by value: written whole (4 rows) or a slice at a time (10),
    they hold no column statistics and no dictionary-encoded pages, which cost a third of the
    writing time at a million records; they read back the same."""
    import pyarrow.parquet as pq

    from leadrank import run_files

    monkeypatch.setattr(run_files, "WRITE_SLICE_ROWS", 5)
    frame = pd.DataFrame({"key": [f"k{i}" for i in range(rows)], "source": ["expo"] * rows,
                          "n": np.arange(rows, dtype="int64"), "kind": pd.Categorical(["a", "b"] * (rows // 2))})
    path = tmp_path / "file.parquet"
    run_files.write_frame(frame, path)
    metadata = pq.ParquetFile(path).metadata
    chunks = [metadata.row_group(g).column(c) for g in range(metadata.num_row_groups)
              for c in range(metadata.num_columns)]
    assert metadata.num_row_groups == (1 if rows < 5 else 2)
    assert not any(chunk.is_stats_set for chunk in chunks)
    assert not any("DICTIONARY" in encoding for chunk in chunks for encoding in chunk.encodings)
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame.astype({"key": "str", "source": "str"}))


def test_a_frame_written_a_slice_at_a_time_reads_back_as_pandas_writes_it_whole(tmp_path, monkeypatch):
    """Run files are converted to Arrow a few rows at a time (run_files.write_parquet): each
    object column is typed from all its values, not from the first slice's (missing there, or
    whole numbers there and fractions later, which Arrow would otherwise truncate); a frame
    with attrs, or one whose slices cannot share a type, is written whole."""
    import pyarrow.parquet as pq

    from leadrank import run_files

    monkeypatch.setattr(run_files, "WRITE_SLICE_ROWS", 3)
    n = 10
    frame = pd.DataFrame({
        "text": pd.Series(["a", None, "c", "d", "e", None, "g", "h", "i", "j"], dtype=object),
        "later": pd.Series([None] * 5 + ["x", "y", None, "z", "w"], dtype=object),
        "none": pd.Series([None] * n, dtype=object),
        "numbers": pd.Series([1, 2, 3, 4, 5, 6, 7, 8.5, 9, None], dtype=object),
        "category": pd.Categorical(list("abcabcabca")),
        "flag": np.arange(n) % 2 == 0,
        "count": np.arange(n, dtype="int64"),
        "real": [1.5, np.nan] * 5,
        "arrow": pd.Series(list("abcdefghij"), dtype="string[pyarrow]"),
        "when": pd.date_range("2026-01-01", periods=n, tz="UTC"),
    })
    frame.index = np.arange(100, 100 + n)  # (not written)
    mixed = pd.DataFrame({"id": pd.Series(["a", "b", "c", 4, 5], dtype=object)})  # pandas refuses it too
    attrs = frame.copy()
    attrs.attrs = {"meta": "kept"}
    for name, written, slices in (("sliced", frame, 4), ("attrs", attrs, 1)):
        run_files.write_frame(written, tmp_path / f"{name}.parquet")
        written.to_parquet(tmp_path / f"{name}-whole.parquet", index=False)
        back = pd.read_parquet(tmp_path / f"{name}.parquet")
        pd.testing.assert_frame_equal(back, pd.read_parquet(tmp_path / f"{name}-whole.parquet"))
        assert back.attrs == written.attrs
        assert pq.ParquetFile(tmp_path / f"{name}.parquet").metadata.num_row_groups == slices
    assert back["numbers"].tolist()[7] == 8.5 and back["later"].tolist()[5:7] == ["x", "y"]
    with pytest.raises(Exception) as whole:
        mixed.to_parquet(tmp_path / "mixed-whole.parquet", index=False)
    with pytest.raises(type(whole.value)):
        run_files.write_frame(mixed, tmp_path / "mixed.parquet")


@pytest.mark.parametrize("name", sorted(STAGE_FILES))
def test_a_missing_column_fails_where_the_file_is_written_and_where_it_is_read(name):
    files, contract = RunFiles("r1"), STAGE_FILES[name]
    dropped = contract.columns[len(contract.columns) // 2]
    broken = sample(contract).drop(columns=[dropped])
    with pytest.raises(ContractError, match=rf"writing {name} \({contract.name}\): input lacks columns \['{dropped}'\]"):
        files.write_stage(name, broken)
    broken.to_parquet(files.stage(name), index=False)  # a hand-off broken behind the writer's back
    with pytest.raises(ContractError, match=rf"reading {name} \({contract.name}\).*'{dropped}'"):
        files.read_stage(name)


@pytest.mark.parametrize("column, values, message", [
    ("uscc_valid", ["yes", "no"], r"'uscc_valid' holds values that are not bool"),  # never True for any text
    ("is_branch", [0.5, 1.0], r"'is_branch' holds values that are not bool"),
    ("name_core", [1.0, 2.0], r"'name_core' is float64, not text"),
    ("record_key", ["k1", None], r"'record_key' has missing values"),
])
def test_a_column_of_another_type_fails_at_the_boundary(column, values, message):
    files = RunFiles("r1")
    frame = sample(NORMALISED_FILE).assign(**{column: values})
    with pytest.raises(ContractError, match=r"writing normalised \(NORMALISED\): column " + message):
        files.write_stage("normalised", frame)
    frame.to_parquet(files.stage("normalised"), index=False)
    with pytest.raises(ContractError, match=r"reading normalised \(NORMALISED\): column " + message):
        files.read_stage("normalised")


def test_an_int_column_with_a_missing_value_fails():
    frame = sample(STAGE_FILES["resolved"]).astype({"nights_unlisted": object})
    frame.loc[1, "nights_unlisted"] = None
    with pytest.raises(ContractError, match=r"writing resolved \(RESOLVED\): column 'nights_unlisted' has missing"):
        RunFiles("r1").write_stage("resolved", frame)


def test_a_part_read_checks_the_columns_it_read():
    files, contract = RunFiles("r1"), STAGE_FILES["resolved"]
    files.write_stage("resolved", sample(contract))
    part = files.read_stage("resolved", ["lead_id", "seen_tonight", "expired"])
    assert list(part.columns) == ["lead_id", "seen_tonight", "expired"] and part["expired"].dtype == bool
    sample(contract).assign(expired=[1.5, 2.5]).to_parquet(files.stage("resolved"), index=False)
    assert files.read_stage("resolved", ["lead_id"])["lead_id"].tolist() == ["x", "x"]  # what was not read
    with pytest.raises(ContractError, match=r"reading resolved \(RESOLVED\): column 'expired' holds values that are not bool"):
        files.read_stage("resolved", ["lead_id", "expired"])


def test_a_stage_file_read_a_column_at_a_time_reads_each_as_read_stage_does():
    """StageColumns (golden records' base leads): each column as `read_stage(name, [column],
    as_stored=True)` gives it; a file without a required column, a column of another type, and
    a file replaced by one of another length between two reads all raise UnreadableFile (the
    dedupe step falls back on that alone), naming the file and the column."""
    from leadrank.run_files import StageColumns, UnreadableFile

    files, contract = RunFiles("r1"), STAGE_FILES["leads"]
    files.write_stage("leads", sample(contract))
    columns = StageColumns(files, "leads", contract.columns)
    assert len(columns) == 2 and columns.columns == contract.columns
    whole = files.read_stage("leads", as_stored=True)
    for column in ("lead_id", "n_records", "is_branch", "website"):
        pd.testing.assert_series_equal(columns[column], whole[column])
        pd.testing.assert_series_equal(columns.pop(column), whole[column])  # a read too: nothing held
    with pytest.raises(UnreadableFile, match=r"lacks columns \['not_a_column'\]"):
        StageColumns(files, "leads", [*contract.columns, "not_a_column"])
    sample(contract).assign(n_records="many").to_parquet(files.stage("leads"), index=False)
    assert columns["lead_id"].tolist() == ["x", "x"]  # what was not read
    with pytest.raises(UnreadableFile, match=r"^leads\.n_records: "):
        columns["n_records"]
    sample(contract, rows=3).to_parquet(files.stage("leads"), index=False)
    with pytest.raises(UnreadableFile, match=r"^leads\.lead_id: 3 rows, 2 before"):
        columns["lead_id"]
    files.stage("leads").unlink()
    with pytest.raises(UnreadableFile):
        StageColumns(files, "leads", contract.columns)


def test_the_cast_is_the_one_place_bools_come_back_from_objects_and_from_the_databases():
    stored = pd.DataFrame({"lead_id": ["a", "b", "c", "d"], "uscc_valid": [1, 0, None, 1],  # SQLite: 0/1, NULL
                           "is_branch": [False, True, None, None],  # PostgreSQL: booleans, NULL
                           "n_sources": [1, 2, 3, 4]}, dtype=object)
    cast = LEAD_TABLE.cast(stored, "reading leads")
    assert cast["uscc_valid"].tolist() == [True, False, False, True] and cast["uscc_valid"].dtype == bool
    assert cast["is_branch"].tolist() == [False, True, False, False] and cast["n_sources"].dtype == "int64"
    assert stored["uscc_valid"].dtype == object  # the caller's frame is left as it was


def test_a_conforming_frame_is_handed_on_as_it_is_and_checked_cheaply():
    """The check looks at dtypes, never at values one by one: 100k rows cost milliseconds."""
    frame = sample(STAGE_FILES["resolved"]).iloc[np.arange(100_000) % 2].reset_index(drop=True)
    started = time.perf_counter()
    assert STAGE_FILES["resolved"].conform(frame, "writing resolved") is frame  # no copy
    assert time.perf_counter() - started < 1.0


def test_the_scores_contract_names_every_ratio_scoring_computes():
    assert set(RATIOS) <= set(SCORE_COLUMNS)


def _variants(frame: pd.DataFrame, name: str) -> list[pd.DataFrame]:
    """`frame` with column `name` replaced by values of every other kind, stored every way a
    stage or a file gives them, and with a missing value in its first row."""
    rows = len(frame)
    columns = [
        pd.Series(["x"] * rows, dtype=object), pd.Series(["x"] * rows, dtype="string[pyarrow]"),
        pd.Series(["x"] * rows, dtype=pd.ArrowDtype(pa.string())),
        pd.Series([1] * rows, dtype="int64"), pd.Series([1] * rows, dtype="int32"),
        pd.Series([1.5] * rows, dtype="float64"), pd.Series([True] * rows, dtype="bool"),
        pd.Series([1] * rows, dtype=object), pd.Series([1] * rows, dtype="uint64"),
        pd.Series([1] * rows, dtype="Int64"),
    ]
    out = []
    for values in columns:
        out.append(frame.assign(**{name: values}))
        with_missing = values.astype(object)
        with_missing.iloc[0] = None
        out.append(frame.assign(**{name: with_missing.astype(values.dtype, errors="ignore")}))
    out.append(frame.assign(**{name: frame[name].where(frame.index != 0)}))
    return out


def test_the_quick_check_never_passes_a_frame_pandera_fails():
    """`Contract.conforms` answers the pandera schema's question without it for a frame that
    passes; a frame it does not pass goes to pandera (which accepts a little more, such as pandas'
    nullable Int64 for int64, and names the column of what it refuses). For a column of each
    declared kind (and nullability) of the stage files, with values of each kind in each storage
    and with a missing value: what it passes pandera passes, and `check` fails exactly where
    pandera fails. Every stage file as written and as read back takes the quick path."""
    import pandera.errors

    kinds: dict[tuple[str, bool], tuple[Contract, str]] = {}
    for file, contract in STAGE_FILES.items():
        base = sample(contract, rows=3)
        files = RunFiles("r1")
        files.write_stage(file, base)
        for conforming in (base, files.read_stage(file, as_stored=True)):
            assert contract.conforms(conforming, contract.columns), file
        for name, column in contract.declared.items():
            kinds.setdefault((column.kind, column.nullable), (contract, name))
    assert {kind for kind, _ in kinds} >= {"text", "bool", "int64", "float64"}
    for contract, name in kinds.values():
        schema = contract.schema.select_columns([name])
        for frame in _variants(sample(contract, rows=3)[[name]], name):
            try:
                schema.validate(frame)
                passes = True
            except pandera.errors.SchemaError:
                passes = False
            what = (contract.name, name, frame[name].dtype, list(frame[name]))
            assert passes or not contract.conforms(frame, [name]), what
            try:
                contract.check(frame, "testing", [name])
                assert passes, what
            except ContractError:
                assert not passes, what
