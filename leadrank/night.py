"""The nightly run, declared once: its steps in order, what each reads and writes, and how it is
called. The Prefect flow (leadrank.flows.nightly), the tests' runs (tests/helpers.py) and the
benchmark (bench/night.py) all go through STEPS, so the order cannot drift between them.

`begin` freezes the run's config (runs/<run_id>/config.json, leadrank.run_files) and every
later step reads that, never the sources file. `extract` runs once per source (the flow runs
them concurrently). The steps after it take a `Night` and return small dicts of counts; the
data stays in the run directory and the warehouse. A step with `joins_at` needs nothing the
steps between it and that step write, and they need nothing it writes: the flow runs it beside
them and waits for it before `joins_at` (staging tonight's records, 15 s a night at a million
companies, beside normalise → dedupe → score); `run_steps` runs every step in order. Each call
looks its function up in leadrank.pipeline when it runs, so that a test can patch a step. No
Prefect import here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from leadrank import pipeline, reconcile
from leadrank.memory import release_after_step


@dataclass(frozen=True)
class Night:
    """What the steps after `begin` are given: the run, its warehouse and tonight's sources."""

    run_id: str
    warehouse: str | None
    sources: tuple[str, ...] = ()
    summary: dict[str, Any] = field(default_factory=dict)  # what publish records with the run


@dataclass(frozen=True)
class Step:
    name: str  # in timings, alerts and `leadrank run`'s output
    task: str  # the Prefect task's name in the UI
    summary_key: str  # where the run summary keeps what the step returned
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    call: Callable[[Night], Any] | None = None  # None: begin and extract, called with their own arguments
    joins_at: str | None = None  # the flow runs it beside the next steps, finished before this one

    def run(self, night: Night) -> Any:
        if self.call is None:
            raise ValueError(f"step {self.name} takes its own arguments: call it directly")
        try:
            return self.call(night)
        finally:
            release_after_step()  # the next step may run in this process (the flow's threads)


STEPS: tuple[Step, ...] = (
    Step("begin", "begin-run", "begin", reads=("the sources file", "warehouse: runs"),
         writes=("config.json", "warehouse: runs")),
    Step("extract", "extract-{source}", "sources", reads=("config.json", "the sources' sites and files"),
         writes=("extract/<source>.parquet", "extract/<source>.rejects.parquet", "extract/<source>.report.json",
                 "raw/")),
    Step("stage", "stage-records", "staged", reads=("extract/*",), writes=("warehouse: stg_prospects, stg_rejects, stg_source_runs",),
         call=lambda n: pipeline.stage_step(n.run_id, list(n.sources), n.warehouse), joins_at="publish"),
    Step("normalise", "normalise-records", "normalised", reads=("extract/<source>.parquet", "cache/normalised-*"),
         writes=("normalised.parquet", "normalise_rejects.parquet", "cache/normalised-*"),
         call=lambda n: pipeline.normalise_step(n.run_id, list(n.sources))),
    Step("dedupe", "dedupe-leads", "resolution",
         reads=("config.json", "normalised.parquet", "warehouse: lead history",
                "the base run's state/resolution*.parquet and leads.parquet"),
         writes=("resolved.parquet", "leads.parquet", "leads_rebuilt.parquet", "events.parquet",
                 "state/resolution*.parquet"),
         call=lambda n: pipeline.resolve_step(n.run_id, n.warehouse)),
    Step("score", "score-leads", "scoring",
         reads=("config.json", "leads.parquet", "events.parquet", "financials and outcomes files",
                "warehouse: outcomes, models, base run", "<base run>/state/scores.parquet", "<base run>/model.skops"),
         writes=("scores.parquet", "outcomes.parquet", "score_rejects.parquet", "model.json", "model.skops",
                 "state/scores.parquet"),
         call=lambda n: pipeline.score_step(n.run_id, n.warehouse)),
    Step("reconcile", "reconcile-records", "records",
         reads=("extract/<source>.report.json", "extract/<source>.rejects.parquet", "normalise_rejects.parquet",
                "resolved.parquet", "scores.parquet"), writes=(),
         call=lambda n: reconcile.reconcile(n.run_id, list(n.sources))),
    Step("publish", "publish-marts", "leads",
         reads=("resolved.parquet", "leads.parquet", "leads_rebuilt.parquet", "events.parquet", "scores.parquet",
                "outcomes.parquet", "normalise_rejects.parquet", "score_rejects.parquet", "model.json"),
         writes=("warehouse: the run's records, leads, scores and marts",),
         call=lambda n: pipeline.publish_step(n.run_id, n.warehouse, n.summary)),
)
NAMES = tuple(step.name for step in STEPS)
AFTER_EXTRACT = STEPS[NAMES.index("extract") + 1:]


def step(name: str) -> Step:
    return STEPS[NAMES.index(name)]


def steps(first: str, last: str) -> tuple[Step, ...]:
    """The declared steps from `first` to `last`, both included, in order."""
    return STEPS[NAMES.index(first):NAMES.index(last) + 1]


def run_steps(night: Night, first: str, last: str) -> dict[str, Any]:
    """Run the declared steps from `first` to `last` (after extract) in order, in this process;
    what each returned, under its summary key."""
    done: dict[str, Any] = {}
    for each in steps(first, last):
        summary = {**night.summary, **done}
        done[each.summary_key] = each.run(Night(night.run_id, night.warehouse, night.sources, summary))
    return done
