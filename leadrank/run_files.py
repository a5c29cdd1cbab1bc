"""A run's working directory (data/runs/<run_id>/): where each step's files live, and the one
writer and reader of its stage files and of the run's frozen config.

Steps hand each other these files, never data in memory (leadrank.night declares who reads
and writes which). Every stage file has a contract (leadrank.contracts.STAGE_FILES), and it is
conformed to it where it is written and where it is read: its bool, int and float columns cast
to their dtypes (the one place that is done), then its columns and their dtypes checked, so that
a broken hand-off fails naming the file, the contract and the column. Writes are atomic, so a
killed step never leaves half a file behind. Reads give text columns as objects with None for
missing values, the form stage code expects, or (`objects`) only the columns named so, the others
as stored: Arrow-backed strings take a fraction of the memory of a Python object per value, and a
million-row stage file read whole as objects took gigabytes; or (`as_stored`) everything as
stored, for bulk writing.

The config is frozen when the run begins (config.json): later steps, a resumed run and a
retried flow run read that, so an edit of the sources file during a night changes nothing in
it. No secret is written there: the sources file is kept as written (`${VAR}` references not
expanded, expanded again when read) and a key written literally in the file (rather than as
`${VAR}`, `{env: VAR}` or `{secret: NAME}`) is left out and read back from the file, which must
then be unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, SecretStr

from leadrank.config import Config, ConfigError, config_from_tree, read_config_tree
from leadrank.contracts import EXTRACTED_FILE, REJECTS_FILE, STAGE_FILES, Contract, column_as_objects, require
from leadrank.paths import data_dir, run_dir

# A secret setting kept in config.json only when it is exactly one reference to the environment.
_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


class RunFiles:
    """Where one run keeps its working files."""

    def __init__(self, run_id: str):
        self.root = run_dir(run_id)

    def extracted(self, source: str) -> Path:
        return self.root / "extract" / f"{source}.parquet"

    def source_rejects(self, source: str) -> Path:
        return self.root / "extract" / f"{source}.rejects.parquet"

    def report(self, source: str) -> Path:
        return self.root / "extract" / f"{source}.report.json"

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    def stage(self, name: str) -> Path:
        return self.root / f"{name}.parquet"

    def state(self, name: str) -> Path:
        """A file of the run's incremental state (what the next night, based on this run, reuses)."""
        return self.root / "state" / f"{name}.parquet"

    def write_extract(self, source: str, records: pd.DataFrame, rejects: pd.DataFrame) -> None:
        """A source's records (EXTRACTED) and rejects (REJECT_COLUMNS), each conformed to its contract."""
        write_frame(EXTRACTED_FILE.conform(records, f"writing {source}'s records"), self.extracted(source))
        write_frame(REJECTS_FILE.conform(rejects, f"writing {source}'s rejects"), self.source_rejects(source))

    def read_extracted(self, source: str, *, as_stored: bool = False) -> pd.DataFrame:
        """A source's records, checked (`as_stored`: Arrow-backed, for bulk writing)."""
        path = self.extracted(source)
        return _read(path, EXTRACTED_FILE, f"reading {path.name}", None, as_stored)

    def read_all_extracted(self, sources: list[str]) -> pd.DataFrame:
        """The records of those of `sources` that have an extraction, checked, as stored
        (Arrow-backed text): the sources' tables are joined in Arrow, without a copy of each."""
        tables = []
        for source in sources:
            path = self.extracted(source)
            if path.exists():
                table = pq.read_table(path)
                EXTRACTED_FILE.check(pd.DataFrame(columns=table.column_names), f"reading {path.name}")
                tables.append(table.select(list(EXTRACTED_FILE.columns)))
        if not tables:
            return pd.DataFrame(columns=list(EXTRACTED_FILE.columns))
        try:
            return pa.concat_tables(tables, promote_options="permissive").to_pandas()
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # a column typed apart in two sources: as pandas joins them
            return pd.concat([table.to_pandas() for table in tables], ignore_index=True)

    def extracted_rows(self, sources: list[str]) -> int:
        """How many records those of `sources` that have an extraction hold (from the files'
        metadata: nothing is read)."""
        return sum(pq.ParquetFile(self.extracted(source)).metadata.num_rows for source in sources
                   if self.extracted(source).exists())

    def extracted_batches(self, sources: list[str], rows: int) -> Iterator[pd.DataFrame]:
        """The records of those of `sources` that have an extraction, checked, as stored, `rows`
        at a time: staging writes them batch by batch, so a night's records (their raw JSON
        most of all) are never in memory at once."""
        for source in sources:
            path = self.extracted(source)
            if path.exists():
                stored = pq.ParquetFile(path)
                EXTRACTED_FILE.check(pd.DataFrame(columns=stored.schema_arrow.names), f"reading {path.name}")
                for batch in stored.iter_batches(rows, columns=list(EXTRACTED_FILE.columns)):
                    yield batch.to_pandas()

    def read_source_rejects(self, source: str, columns: list[str] | None = None) -> pd.DataFrame:
        return _read(self.source_rejects(source), REJECTS_FILE, f"reading {source}'s rejects", columns, False)

    def write_stage(self, name: str, frame: pd.DataFrame) -> pd.DataFrame:
        """Write a stage file, conformed to its contract (leadrank.contracts.STAGE_FILES: cast,
        then checked); returns the frame as written."""
        frame = STAGE_FILES[name].conform(frame, f"writing {name}")
        write_frame(frame, self.stage(name))
        return frame

    def write_stage_parts(self, name: str, parts: Iterator[pd.DataFrame]) -> int:
        """A stage file written part by part as `parts` yields them, each conformed to the
        contract: the file `write_stage` would write of the parts one below the other, without
        holding them all. The rows written."""
        where = f"writing {name}"
        return write_frame_parts((STAGE_FILES[name].conform(part, where) for part in parts), self.stage(name))

    def read_stage(self, name: str, columns: list[str] | None = None, *, as_stored: bool = False,
                   objects: list[str] | None = None) -> pd.DataFrame:
        """A stage file conformed to its contract: as stage code expects it (text as objects;
        `objects`: only those columns, the others as stored), or `as_stored` (Arrow-backed
        strings, for bulk writing); `columns`: only those."""
        return _read(self.stage(name), STAGE_FILES[name], f"reading {name}", columns, as_stored, objects)


class UnreadableFile(ValueError):
    """A run file (or one of its columns) could not be read: missing, damaged or not its contract's."""


class StageColumns:
    """A stage file read a column at a time, as stored: for a caller that merges a million rows
    column by column (golden_update with the base run's leads) and so holds one stored column
    at a time, not the whole file (~0.45 GB of leads at a second night's dedupe peak). `pop` is
    a read too: nothing is held here to let go. A column that cannot be read raises
    UnreadableFile, not whatever the reader raised, so a caller can fall back on that alone."""

    def __init__(self, files: RunFiles, name: str, required: list[str]) -> None:
        self._files, self._name = files, name
        try:
            file = pq.ParquetFile(files.stage(name))
            self.columns = file.schema_arrow.names
            require(pd.DataFrame(columns=self.columns), required, f"reading {name} ({STAGE_FILES[name].name})")
        except (OSError, ValueError, KeyError) as exc:
            raise UnreadableFile(str(exc)) from exc
        self._rows = file.metadata.num_rows

    def __len__(self) -> int:
        return self._rows

    def __getitem__(self, column: str) -> pd.Series:
        return checked_column(f"{self._name}.{column}", self._rows,
                              lambda: self._files.read_stage(self._name, [column], as_stored=True)[column])

    pop = __getitem__


def checked_column(where: str, rows: int, read: Callable[[], pd.Series]) -> pd.Series:
    """A column that `read` reads from a file of `rows` rows (`where`: file.column), or
    UnreadableFile: what the reader raised, or another length (the file was replaced between two
    reads of a reader that reads a column at a time)."""
    try:
        values = read()
    except (OSError, ValueError, KeyError) as exc:
        raise UnreadableFile(f"{where}: {exc}") from exc
    if len(values) != rows:
        raise UnreadableFile(f"{where}: {len(values)} rows, {rows} before")
    return values


def _read(path: Path, contract: Contract, where: str, columns: list[str] | None, as_stored: bool,
          objects: list[str] | None = None) -> pd.DataFrame:
    """A run file conformed to its contract as stored (so a column stored with another type is
    seen), then as stage code expects it (`as_objects`, the typed columns kept) unless `as_stored`.
    `columns` the file lacks are named as the contract names them, not as the reader's error."""
    if columns is not None:
        require(pd.DataFrame(columns=pq.read_schema(path).names), columns, f"{where} ({contract.name})")
    frame = contract.conform(pd.read_parquet(path, columns=columns), where, columns)
    return frame if as_stored else as_objects(frame, only=objects, keep=contract.typed)


def is_run_id(value: str) -> bool:
    """Whether `value` can name a run: it becomes a directory under data/runs, so no path
    separator, no leading dot (`..`), nothing but letters, digits, `_`, `.` and `-`."""
    return re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", value) is not None


def has_run_files(run_id: str) -> bool:
    """Whether a run directory with extractions exists (checked without creating it, unlike RunFiles)."""
    return (data_dir() / "runs" / run_id / "extract").is_dir()


# Rows converted to Arrow at a time when a frame is written (`write_parquet`).
WRITE_SLICE_ROWS = 200_000
# Run files are read whole or by column, never filtered by value, so they are written without
# column statistics (the min and max of every row group's strings) and without dictionary pages
# (tried on every text column, and most are nearly unique). At 1.4M records resolved.parquet
# took 3.12 s to write with both and 2.14 s without; the files are 5-10 % larger (the scores,
# whose reasons repeat, 24 -> 38 MB) and read a little faster (bench/README.md, seventh round).
# LZ4 instead of the default snappy: the same sizes and write times, and reads 25-35 % faster
# (a second night's 1.4M normalised records 0.65 -> 0.5 s, its leads 0.4 -> 0.27 s; nineteenth round).
PARQUET_OPTIONS = {"write_statistics": False, "use_dictionary": False, "compression": "lz4"}


@contextmanager
def _replaced(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to, put in its place once the block ends without an
    error and removed if it raises: a failed or killed step never leaves a half-written file
    where a reader looks. Named by process and thread: two runs may write the normalisation
    cache at once, two threads of one process one file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    with _replaced(path) as tmp:
        write_parquet(frame, tmp)


def write_frame_parts(parts: Iterator[pd.DataFrame], path: Path) -> int:
    """Frames one below the other as one file, each written as it comes and let go before the
    next is asked for (a frame at once when there is only one, as `write_frame`); the file's
    schema is the first part's, the others cast to it. The rows written."""
    parts = iter(parts)
    first, second = next(parts), next(parts, None)
    if second is None:
        write_frame(first, path)
        return len(first)
    head = [first, second]  # (popped as written: no name holds a part written already)
    del first, second
    schema, rows = pa.Schema.from_pandas(head[0], preserve_index=False), 0

    def each() -> Iterator[pd.DataFrame]:
        while head:
            yield head.pop(0)
        yield from parts

    with _replaced(path) as tmp, pq.ParquetWriter(tmp, schema, **PARQUET_OPTIONS) as writer:
        for part in each():
            writer.write_table(pa.Table.from_pandas(part, preserve_index=False).cast(schema))
            rows += len(part)
            del part
    return rows


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """`frame` as one parquet file, converted to Arrow WRITE_SLICE_ROWS rows at a time.

    `DataFrame.to_parquet` first makes an Arrow copy of the whole frame: saving the dedupe
    state of 1.4M records that way was night 1's peak (2.86 -> 3.22 GB, bench/README). The
    file's schema is the first slice's, each object column typed from all its values (a column
    that slice leaves all missing, numbers that turn fractional further down). A slice that
    does not convert to that schema has the file written whole instead, as pandas writes it; so
    has a frame with attrs, which pandas keeps in the file's metadata (the scoring state's meta)."""
    if len(frame) <= WRITE_SLICE_ROWS or frame.attrs:
        frame.to_parquet(path, index=False, **PARQUET_OPTIONS)
        return
    try:
        first = pa.Table.from_pandas(frame.iloc[:WRITE_SLICE_ROWS], preserve_index=False)
        schema = first.schema
        for at, column in enumerate(schema):
            if frame[column.name].dtype == object:  # typed by all its values (a scan, no copy)
                values = frame[column.name].to_numpy()
                schema = schema.set(at, column.with_type(pa.infer_type(values, from_pandas=True)))
        with pq.ParquetWriter(path, schema, **PARQUET_OPTIONS) as writer:
            writer.write_table(first.cast(schema))
            del first
            for start in range(WRITE_SLICE_ROWS, len(frame), WRITE_SLICE_ROWS):
                writer.write_table(pa.Table.from_pandas(frame.iloc[start:start + WRITE_SLICE_ROWS], schema=schema,
                                                        preserve_index=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        frame.to_parquet(path, index=False, **PARQUET_OPTIONS)


def read_frame(path: Path, columns: list[str] | None = None, *, objects: list[str] | None = None) -> pd.DataFrame:
    """A stage file as object columns with None for missing values, the form stage code expects
    (`objects`: only those columns; the others stay as stored, text as Arrow-backed strings)."""
    return as_objects(pd.read_parquet(path, columns=columns), only=objects)


def as_objects(frame: pd.DataFrame, only: list[str] | None = None, keep: Collection[str] = ()) -> pd.DataFrame:
    """`frame`'s columns (`only` those, when given; never `keep`) as objects with None for
    missing values. Converted column by column, touching only columns that have missing values:
    a frame-wide replace() was a second or more per million rows, in every step."""
    for column in frame.columns if only is None else [c for c in only if c in frame.columns]:
        if column not in keep:
            frame[column] = column_as_objects(frame[column])
    return frame


def write_json(value: Any, path: Path) -> None:
    with _replaced(path) as tmp:
        tmp.write_text(json.dumps(value, ensure_ascii=False, default=str), encoding="utf-8")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# -- the frozen config --------------------------------------------------------------------------

def _tree_hash(tree: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(tree, sort_keys=True, default=str).encode()).hexdigest()


def _secrets(value: Any, at: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    """Where the validated config holds a secret value (SecretStr), as a path into the tree."""
    if isinstance(value, SecretStr):
        yield at
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secrets(getattr(value, name), (*at, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _secrets(item, (*at, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secrets(item, (*at, key))


def _at(tree: Any, at: list[Any]) -> Any:
    for key in at:
        tree = tree[key]
    return tree


def _where(at: list[Any]) -> str:
    return "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in at).lstrip(".")


def freeze_config(config_path: str | os.PathLike[str], run_id: str) -> Config:
    """Validate the sources file and keep it as this run's config (see the module docstring)."""
    path = Path(config_path).resolve()
    tree = read_config_tree(path)
    cfg = config_from_tree(tree, path)
    frozen = json.loads(json.dumps(tree, default=str))
    literal = []
    for at in _secrets(cfg, ()):
        try:
            written = _at(frozen, list(at))
        except (KeyError, IndexError, TypeError):
            continue
        if isinstance(written, str) and not _REFERENCE.fullmatch(written.strip()):
            _at(frozen, list(at[:-1]))[at[-1]] = None
            literal.append(list(at))
    write_json({"path": str(path), "sha256": _tree_hash(tree), "config": frozen, "literal_secrets": literal},
               RunFiles(run_id).config)
    return cfg


def run_config(run_id: str) -> Config:
    """The config frozen when the run began (its `${VAR}` expanded from today's environment)."""
    path = RunFiles(run_id).config
    if not path.exists():
        raise ConfigError(f"run {run_id} has no frozen config ({path}): it was never begun")
    frozen = read_json(path)
    tree, source = frozen["config"], Path(frozen["path"])
    if frozen["literal_secrets"]:
        current = read_config_tree(source)
        if _tree_hash(current) != frozen["sha256"]:
            settings = ", ".join(_where(at) for at in frozen["literal_secrets"])
            raise ConfigError(f"{source} changed since run {run_id} began, and its {settings} (written in the file "
                              "itself, never copied into the run) cannot be read back: put the key in an "
                              "environment variable (${VAR}) and start a new run")
        for at in frozen["literal_secrets"]:
            _at(tree, at[:-1])[at[-1]] = _at(current, at)
    return config_from_tree(tree, source)
