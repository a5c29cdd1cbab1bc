"""What the nightly run shows in the Prefect UI, as artifacts with stable keys (Artifacts page:
each key keeps its history, one version per run):

  nightly-run-summary      sources fetched / parsed / failed and why, leads new / merged /
                           unchanged, tiers, time per stage (also written when the run fails)
  nightly-top-leads        the first 50 rows of the published ranked list
  nightly-data-quality     fill rates, invalid codes and rejected rows with reasons, per source
  nightly-extract-progress share of sources extracted, updated while extraction runs
  nightly-failed-sources   a warning, only on nights when some sources failed, naming each and why
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

SUMMARY_KEY = "nightly-run-summary"
TOP_LEADS_KEY = "nightly-top-leads"
QUALITY_KEY = "nightly-data-quality"
PROGRESS_KEY = "nightly-extract-progress"
FAILED_SOURCES_KEY = "nightly-failed-sources"

log = logging.getLogger("leadrank.artifacts")


# Markdown that text from pages could carry into the Prefect UI: emphasis, code, links and
# images (`![x](http://tracker/)` loads a URL in every viewer's browser), table pipes,
# strikethrough. Inline HTML and autolinks are neutralised as entities.
_MARKDOWN = re.compile(r"([\\`*_\[\]|~!])")
_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def md_text(value: Any) -> str:
    """A value shown as the text it is, on one line: source reasons and errors quote pages."""
    if value is None:
        return ""
    return _MARKDOWN.sub(r"\\\1", str(value).translate(_HTML)).replace("\r", " ").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_text(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_markdown(summary: dict[str, Any], failure: str | None = None) -> str:
    """The run summary: whatever of it exists when the run ends, published or not."""
    run_id = summary.get("run_id", "?")
    parts = [f"# Nightly run {run_id}",
             f"**Failed**: {md_text(failure)}" if failure else "**Published**: the ranked list now shows this run."]
    if summary.get("resumed"):
        parts.append(f"Resumed run: {summary['resumed']} source(s) reused from the earlier attempt, not fetched again.")
    sources = summary.get("sources") or []
    if sources:
        parts += ["## Sources", _table(
            ["source", "kind", "status", "pages fetched", "rows parsed", "records kept", "rejected", "seconds", "reason"],
            [[r["source"], r["kind"], r["status"] + (" (reused)" if r.get("reused") else ""), r["pages"],
              r["records"] + r["rejected"], r["records"], r["rejected"], r["seconds"], r.get("reason") or ""]
             for r in sources])]
    leads, resolution = summary.get("leads"), summary.get("resolution")
    if leads:
        parts += ["## Leads", _table(["new", "merged", "updated", "unchanged", "records", "leads"], [[
            leads["new"], leads["merged"], leads["updated"], leads["unchanged"],
            (resolution or {}).get("records", ""), (resolution or {}).get("leads", "")]])]
    records = summary.get("records")
    if records:
        parts += ["## Records", "Every record extracted tonight is published (one per lead), merged into a lead with "
                  "another of tonight's records, or rejected with its reason.", _table(
                      ["extracted", "published", "merged", "rejected"],
                      [[records["extracted"], records["published"], records["merged"], records["rejected"]]])]
    scoring = summary.get("scoring")
    if scoring:
        parts += ["## Tiers", _table(["A", "B", "C", "D", "with financials", "model"], [[
            *(scoring.get(f"tier_{t}", 0) for t in "ABCD"), scoring.get("with_financials", ""),
            scoring.get("model", "")]])]
        if scoring.get("model_reason"):
            parts.append(f"**Model** ({scoring.get('model', '')}): {scoring['model_reason']}")
    seconds = summary.get("seconds") or {}
    if seconds:
        parts += ["## Time per stage", _table(["stage", "seconds"], [[k, f"{v:.2f}"] for k, v in seconds.items()])]
    return "\n\n".join(parts)


def failed_sources_markdown(run_id: str, failed: list[dict[str, Any]], total: int) -> str:
    rows = [[r["source"], r["kind"], r.get("reason") or "unknown"] for r in failed]
    return "\n\n".join([
        f"# ⚠ {len(failed)} of {total} sources failed in run {run_id}",
        "The run went on with the other sources; these sources' leads are as of their last good night.",
        _table(["source", "kind", "reason"], rows),
    ])


def _safely(what: str, make: Callable[[], Any]) -> Any:
    """Artifacts inform; failing to write one must not fail a run that has already published."""
    try:
        return make()
    except Exception as exc:  # noqa: BLE001
        log.warning("could not create the %s artifact: %s: %s", what, type(exc).__name__, exc)
        return None


def run_summary(summary: dict[str, Any], failure: str | None = None) -> None:
    _safely(SUMMARY_KEY, lambda: create_markdown_artifact(
        summary_markdown(summary, failure), key=SUMMARY_KEY,
        description=f"Run {summary.get('run_id')}: {'failed' if failure else 'published'}"))


def failed_sources(run_id: str, failed: list[dict[str, Any]], total: int) -> None:
    _safely(FAILED_SOURCES_KEY, lambda: create_markdown_artifact(
        failed_sources_markdown(run_id, failed, total), key=FAILED_SOURCES_KEY,
        description=f"Warning: {', '.join(r['source'] for r in failed)} failed in run {run_id}"))


def top_leads(run_id: str, rows: list[dict[str, Any]]) -> None:
    _safely(TOP_LEADS_KEY, lambda: create_table_artifact(
        rows, key=TOP_LEADS_KEY, description=f"Top {len(rows)} leads published by run {run_id}"))


def data_quality(run_id: str, rows: list[dict[str, Any]]) -> None:
    _safely(QUALITY_KEY, lambda: create_table_artifact(
        rows, key=QUALITY_KEY, description=f"Data quality of run {run_id}: fill rates, invalid codes, rejected rows"))


class ExtractionProgress:
    """The progress artifact of extraction: created at the start, updated as each source ends."""

    def __init__(self, total: int, done: int = 0):
        self.total, self.done = total, done
        self.artifact_id: UUID | None = _safely(PROGRESS_KEY, lambda: create_progress_artifact(
            self._percent(), key=PROGRESS_KEY, description=self._describe("extracting")))

    def _percent(self) -> float:
        return 100.0 if not self.total else round(100.0 * self.done / self.total, 1)

    def _describe(self, latest: str) -> str:
        return f"{self.done} of {self.total} sources extracted; {latest}"

    def source_done(self, report: dict[str, Any]) -> None:
        self.done += 1
        if self.artifact_id is None:
            return
        artifact_id = self.artifact_id
        latest = f"{report['source']}: {report['status']}, {report['records']} records"
        _safely(PROGRESS_KEY, lambda: update_progress_artifact(
            artifact_id, self._percent(), description=self._describe(latest)))
