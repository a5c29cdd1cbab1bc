"""Test harness only: run the `leadrank` command line with a kill point armed.

    python tests/kill_points.py POINT MARKER [leadrank arguments...]

patches one function of the real pipeline so that, when the run reaches POINT, it writes its pid
to the file MARKER and sleeps; the test then kills it with SIGKILL. Nothing here is imported by
leadrank: the patches are applied in this wrapper's process only, before the command runs.
With POINT `barrier:N`, the run instead waits at the start of publishing until N processes have
reached it (MARKER is a directory they meet in), then all publish at once.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from leadrank import pipeline
from leadrank.extractors import fetch
from leadrank.warehouse import load


def _ready(marker: str) -> None:
    """Say where we are, then wait to be killed."""
    Path(marker).write_text(str(os.getpid()), encoding="utf-8")
    time.sleep(3600)
    raise SystemExit("kill point reached but nobody killed the run")


def arm(point: str, marker: str) -> None:
    """Install the patch for `point` (see POINTS)."""
    if point.startswith("barrier:"):
        _barrier(int(point.split(":", 1)[1]), Path(marker))
        return
    POINTS[point](marker)


def _during_extraction(marker: str) -> None:
    get = fetch.Fetcher.get

    def get_then_hang(self: fetch.Fetcher, url: str, **kwargs: Any) -> fetch.FetchResult:
        if url.endswith("exhibitors-2.html"):  # the exhibition's second page: its first is already stored
            _ready(marker)
        return get(self, url, **kwargs)

    fetch.Fetcher.get = get_then_hang  # type: ignore[method-assign]


def _after_normalisation(marker: str) -> None:
    normalise = pipeline.normalise_step

    def normalise_then_hang(*args: Any, **kwargs: Any) -> Any:
        normalise(*args, **kwargs)
        _ready(marker)

    pipeline.normalise_step = normalise_then_hang


def _mid_staging(marker: str) -> None:
    insert = load.insert_batches

    def insert_then_hang(conn: Any, table: str, batches: Any) -> int:
        count = insert(conn, table, batches)
        if table == "stg_prospects":  # tonight's records sent, the staging transaction still open
            _ready(marker)
        return count

    load.insert_batches = insert_then_hang


def _mid_publish(marker: str) -> None:
    write_records = load._write_records

    def records_then_hang(*args: Any, **kwargs: Any) -> None:
        write_records(*args, **kwargs)  # leads and their records written, not committed
        _ready(marker)

    load._write_records = records_then_hang


def _before_publish(marker: str) -> None:
    def hang(*_args: Any, **_kwargs: Any) -> Any:  # scored, everything on disk, no transaction begun
        _ready(marker)

    load.publish_run = hang


def _at_commit(marker: str) -> None:
    """Every row of the publish written, the run marked published, COMMIT not yet sent."""

    @event.listens_for(Engine, "before_cursor_execute")
    def spot(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("UPDATE pipeline_runs SET status = 'published'"):
            conn.info["publishing"] = True

    @event.listens_for(Engine, "commit")
    def hang(conn: Any) -> None:
        if conn.info.pop("publishing", False):
            _ready(marker)


def _after_commit(marker: str) -> None:
    publish = load.publish_run

    def publish_then_hang(*args: Any, **kwargs: Any) -> Any:
        publish(*args, **kwargs)  # committed: the run is published; its summary and artifacts are not written
        _ready(marker)

    load.publish_run = publish_then_hang


POINTS = {
    "during extraction": _during_extraction,
    "after normalisation": _after_normalisation,
    "mid-load (staging)": _mid_staging,
    "mid-load (publishing)": _mid_publish,
    "just before publish": _before_publish,
    "during publish (before COMMIT)": _at_commit,
    "after publish (COMMIT done)": _after_commit,
}


def _barrier(parties: int, directory: Path) -> None:
    publish_step = pipeline.publish_step

    def meet_then_publish(*args: Any, **kwargs: Any) -> Any:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / str(os.getpid())).touch()
        deadline = time.monotonic() + 300
        while len(list(directory.iterdir())) < parties and time.monotonic() < deadline:
            time.sleep(0.05)
        return publish_step(*args, **kwargs)

    pipeline.publish_step = meet_then_publish


if __name__ == "__main__":
    arm(sys.argv[1], sys.argv[2])
    from leadrank.cli import main

    sys.argv = ["leadrank", *sys.argv[3:]]
    main()
