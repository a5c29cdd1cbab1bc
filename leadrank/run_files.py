"""A run's working directory (data/runs/<run_id>/): where each step's files live, and the one
writer and reader of its stage files and of the run's frozen config.

Steps hand each other these files, never data in memory (leadrank.night declares who reads
and writes which). Writes are atomic, so a killed step never leaves half a file behind; reads
give object columns with None for missing values, the form stage code expects.

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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, SecretStr

from leadrank.config import Config, ConfigError, config_from_tree, read_config_tree
from leadrank.contracts import EXTRACTED_FILE, REJECTS_FILE, STAGE_FILES, Contract
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
        """A source's records (EXTRACTED) and rejects (REJECT_COLUMNS), each checked."""
        EXTRACTED_FILE.check(records, f"writing {source}'s records")
        REJECTS_FILE.check(rejects, f"writing {source}'s rejects")
        write_frame(records, self.extracted(source))
        write_frame(rejects, self.source_rejects(source))

    def read_extracted(self, source: str, *, as_stored: bool = False) -> pd.DataFrame:
        """A source's records, checked (`as_stored`: Arrow-backed, for bulk writing)."""
        path = self.extracted(source)
        return _checked(pd.read_parquet(path) if as_stored else read_frame(path), EXTRACTED_FILE, path.name)

    def read_source_rejects(self, source: str, columns: list[str] | None = None) -> pd.DataFrame:
        return _checked(read_frame(self.source_rejects(source), columns), REJECTS_FILE, f"{source}'s rejects", columns)

    def write_stage(self, name: str, frame: pd.DataFrame) -> None:
        """Write a stage file, checked against its contract (leadrank.contracts.STAGE_FILES)."""
        if name in STAGE_FILES:
            STAGE_FILES[name].check(frame, f"writing {name}")
        write_frame(frame, self.stage(name))

    def read_stage(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """A stage file as stage code expects it (read_frame), checked against its contract and
        with its boolean columns cast back (`columns`: only those, as stored)."""
        frame = read_frame(self.stage(name), columns)
        return _checked(frame, STAGE_FILES[name], name, columns) if name in STAGE_FILES else frame


def _checked(frame: pd.DataFrame, contract: Contract, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """`frame` as read from a run file, checked (when read whole) and its booleans cast."""
    if columns is None:
        contract.check(frame, f"reading {name}")
    return contract.cast(frame)


def has_run_files(run_id: str) -> bool:
    """Whether a run directory with extractions exists (checked without creating it, unlike RunFiles)."""
    return (data_dir() / "runs" / run_id / "extract").is_dir()


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # two runs may write the normalisation cache at once
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)  # a killed step never leaves a half-written file behind


def read_frame(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A stage file as object columns with None for missing values, the form stage code expects.
    Converted column by column, touching only columns that have missing values: a frame-wide
    replace() was a second or more per million rows, in every step."""
    frame = pd.read_parquet(path, columns=columns)
    for column in frame.columns:
        values = frame[column]
        if values.dtype == object and not values.hasnans:
            continue
        missing = values.isna().to_numpy()
        values = values.astype(object)
        frame[column] = values.where(~missing, None) if missing.any() else values
    return frame


def write_json(value: Any, path: Path) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)


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
