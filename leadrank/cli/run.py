"""`leadrank run` and `leadrank top`: the nightly refresh and the ranked list."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.table import Table

from leadrank.cli.check import checked_config
from leadrank.cli.common import (
    DEFAULT_CONFIG,
    ConfigOpt,
    WarehouseOpt,
    auc_in_words,
    console,
    fail,
    plain,
    prefect_defaults,
    warehouse_for_flow,
)


def run(
    config: ConfigOpt = DEFAULT_CONFIG,
    warehouse: WarehouseOpt = None,
    resume: Annotated[str | None, typer.Option(
        "--resume", metavar="RUN_ID", show_default=False,
        help="Resume a run that did not publish (crashed, failed or interrupted): sources it already extracted "
             "are not fetched again. Use the same --config; the run id is in the failed run's summary.")] = None,
) -> None:
    """Run one nightly refresh: extract every source, normalise, deduplicate, score, publish.

    Runs as the Prefect flow `nightly-refresh`: against the server at PREFECT_API_URL when set,
    else in Prefect's ephemeral mode (no server needed). Ends with a summary of the run.
    """
    prefect_defaults()
    checked_config(config, sources=False)  # the config and its data files, before anything starts
    try:
        from leadrank.flows.nightly import nightly_refresh
    except ValueError as exc:  # e.g. LEADRANK_TASK_RUNNER set to something unknown
        fail(str(exc))

    started = time.perf_counter()
    try:
        warehouse_for_flow(warehouse)
        summary = nightly_refresh(config=str(config), resume=resume)
    except Exception as exc:  # the flow has already marked the run failed
        run_id = getattr(exc, "run_id", None)
        fail(f"the run failed: {exc}" + (f"\nafter fixing the cause, resume it: leadrank run --resume {run_id}"
                                         if run_id and getattr(exc, "step", "begin") != "begin" else ""))
    print_summary(summary, time.perf_counter() - started)


def print_summary(summary: dict[str, Any], seconds: float) -> None:
    sources = Table(title="Sources", show_lines=False)
    for column in ("source", "kind", "status", "pages", "records", "rejected", "seconds", "reason"):
        sources.add_column(column, overflow="fold")
    for r in summary["sources"]:
        style = {"ok": "green", "partial": "yellow", "failed": "red"}.get(r["status"], "")
        sources.add_row(r["source"], r["kind"], f"[{style}]{r['status']}[/]" + (" (reused)" if r.get("reused") else ""), str(r["pages"]), str(r["records"]),
                        str(r["rejected"]), f"{r['seconds']:.2f}", plain(r["reason"]))
    console.print(sources)
    leads = summary["leads"]
    res = summary["resolution"]
    scoring = summary["scoring"]
    console.print(
        f"[bold]Leads[/]: {leads['new']} new, {leads['updated']} updated, {leads['unchanged']} unchanged, "
        f"{leads['merged']} merged, {leads.get('dropped', 0)} dropped out  "
        f"({res['records']} records → {res['leads']} leads)"
    )
    if records := summary.get("records"):
        console.print(f"[bold]Records[/]: {records['extracted']} extracted = {records['published']} published + "
                      f"{records['merged']} merged + {records['rejected']} rejected (reasons in stg_rejects)")
    tiers = ", ".join(f"{t}: {scoring.get(f'tier_{t}', 0)}" for t in "ABCD")
    model = scoring["model"]
    model_note = (f"trained, AUC {auc_in_words(scoring.get('model_auc'), scoring.get('model_validation'))}"
                  if model == "trained" else scoring.get("model_reason"))
    console.print(f"[bold]Scoring[/]: tiers {tiers}; {scoring['with_financials']} with financials; model: {model_note}")
    console.print(f"[bold]Against the last published run[/]: "
                  f"dedupe {_mode(res, 're_resolved', 'records_total', 'records re-resolved')}; "
                  f"scoring {_mode(scoring, 'leads_scored', 'leads_ranked', 'leads re-scored')}")
    times = ", ".join(f"{k} {v:.2f}s" for k, v in summary["seconds"].items())
    console.print(f"[bold]Run[/] {summary['run_id']} (flow run {summary.get('flow_run_id') or '-'}) in {seconds:.1f}s: {times}")


def _mode(stats: dict[str, Any], done: str, of: str, what: str) -> str:
    """How a step used the base run's state: 'incremental, N of M <what>' or 'full (why)'."""
    if stats.get("mode") == "incremental":
        return f"incremental, {stats.get(done, 0):,} of {stats.get(of, 0):,} {what}"
    return f"full ({plain(stats.get('reason') or 'every row computed')})"


def top(
    n: Annotated[int, typer.Option("-n", "--limit", help="How many leads to show.", min=1)] = 20,
    segment: Annotated[str | None, typer.Option("--segment", help="Only this customer type, ranked within it: one key-account team's list. A code or name in English or Chinese, any case (government, Government, 政府; bank_finance, 金融; telecom, listed, multinational, large_enterprise, retail_chain, wholesaler, sme).")] = None,
    tier: Annotated[list[str] | None, typer.Option("--tier", metavar="TIER", help="Only this tier (A, B, C or D); repeat for several: --tier A --tier B.", show_default=False)] = None,
    city: Annotated[str | None, typer.Option("--city", help="Only leads in this city (深圳, 深圳市 or Shenzhen).")] = None,
    province: Annotated[str | None, typer.Option("--province", help="Only leads in this province (广东, 广东省 or Guangdong).")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Show the current ranked list (the latest published run), with each lead's top reasons for
    and against in Chinese and English. Filters combine; with --segment the first column is the
    rank within the segment and the overall rank is shown beside it."""
    from leadrank.warehouse.engine import make_engine
    from leadrank.warehouse.models import run_model
    from leadrank.warehouse.read import latest_run
    from leadrank.warehouse.selection import SelectionError, resolve, select

    engine = make_engine(warehouse)
    try:
        run_info = latest_run(engine)
        chosen = resolve(engine, segment=segment, tiers=tier, city=city, province=province) if run_info else None
        frame = select(engine, n, chosen) if chosen else None
    except SelectionError as exc:
        fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - e.g. no tables yet
        fail(f"cannot read the ranked list ({type(exc).__name__}); has `leadrank run` published a run yet?")
    if run_info is None or chosen is None or frame is None:
        fail("no published run yet: run `leadrank run` first")
    if frame.empty:
        fail(f"no leads match {chosen.describe()} in the latest run" if chosen.describe()
             else "the latest run published no leads")
    within = f" ({chosen.describe()})" if chosen.describe() else ""
    console.print(top_table(frame, f"Top {len(frame)} leads{within} — run {run_info['run_id']}", console.width,
                            by_segment=chosen.segment is not None))
    console.print(model_note(run_model(engine, str(run_info["run_id"]))))


WIDE_TABLE_COLUMNS = 140  # below this the reasons get a column a few words wide: stack them instead


def top_table(frame: Any, title: str, width: int, *, by_segment: bool = False) -> Table:
    """The ranked list as a table: one column per field on a wide terminal; on a narrow one the
    company, its segment, city and phone, and its reasons stacked in one cell, so that the
    reasons read as sentences rather than a column three words wide. `by_segment`: the first
    column is the rank within the segment, the overall rank follows it."""
    from leadrank.warehouse.formats import phone

    table = Table(title=title)
    wide = width >= WIDE_TABLE_COLUMNS
    columns = ["#", "tier", "company", "segment", "city", "priority", "phone", "why"] if wide else ["#", "tier", "lead", "priority"]
    if by_segment:
        columns.insert(1, "overall")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in frame.itertuples():
        ranks = [str(row.segment_rank), str(row.rank)] if by_segment else [str(row.rank)]
        if wide:
            table.add_row(*ranks, row.tier, plain(row.company_name), plain(row.segment), plain(row.city),
                          f"{row.priority:.3f}", plain(phone(row.phone)), plain(row.top_reasons))
            continue
        details = " · ".join(plain(v) for v in (row.segment, row.city, phone(row.phone)) if isinstance(v, str) and v)
        lead = f"[bold]{plain(row.company_name)}[/]\n[dim]{details}[/]\n{plain(row.top_reasons)}"
        table.add_row(*ranks, row.tier, lead, f"{row.priority:.3f}")
    return table


def model_note(model: dict[str, Any] | None) -> str:
    """One line on what the priority rests on: an outcome model (and how good) or the fit alone."""
    if model is None:
        return ""
    metrics = model["metrics"]
    if model["status"] in {"trained", "reused"}:
        return (f"Priority = fit score and outcome model ({model['status']}; AUC {metrics.get('auc')}, "
                f"{metrics.get('validation')}, {metrics.get('n_rows')} outcomes).")
    return f"[yellow]No outcome model: priority is the fit score only.[/] {plain(model['reason'])}"
