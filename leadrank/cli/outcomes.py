"""`leadrank outcomes import FILE`: what sales did with the leads, fed back to the model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from leadrank.cli.common import WarehouseOpt, command_group, console, err, fail, parse_maps, plain

outcomes_app = command_group("Outcome feedback (won / lost / contacted) from CRM exports.")
SHOWN = 20


@outcomes_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CRM export, .csv (UTF-8 or GB18030) or .xlsx.")],
    map_: Annotated[list[str], typer.Option("--map", help="HEADER=FIELD when a header is not recognised, e.g. --map '签约结果=outcome'. Fields: lead_id, company_name, uscc, outcome, outcome_date, owner.")] = [],  # noqa: B006
    unmatched: Annotated[Path | None, typer.Option("--unmatched", help="Also write the rows that could not be used, with reasons, to this CSV.")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Import won / lost / contacted outcomes (成交 / 丢单 / 已联系, yes / no and 1 / 0 too) from a CRM export.

    Each row names its lead by lead_id, or by 统一社会信用代码 and/or company name; dates may be
    2026-03-01, 2026/3/1 or 2026年3月1日, under a header such as 日期, 成交日期, 签约日期 or close
    date (another date column is named in a warning). Rows that match no lead, or whose outcome or
    date cannot be read, are listed with their row number and reason; duplicate rows count once;
    importing the same file again adds nothing, and a deal stored without a date is not counted
    again when its date arrives. `leadrank outcomes list` shows the imports and
    `leadrank outcomes remove IMPORT_ID` undoes one. The next nightly run trains on what is stored.
    """
    from leadrank.warehouse.engine import make_engine
    from leadrank.warehouse.export import ExportError, write_atomically
    from leadrank.warehouse.feedback import FeedbackError, import_outcomes

    try:
        with console.status(f"importing {file.name}"):
            headers = {field: header for header, field in parse_maps(map_, "HEADER")}
            report = import_outcomes(make_engine(warehouse), file, headers)
    except FeedbackError as exc:
        fail(str(exc))
    columns = ", ".join(f"{field}={header!r}" for field, header in report.columns.items())
    console.print(f"{report.file}: {report.rows} rows (columns {columns}); import {report.import_id}")
    for warning in report.warnings:
        err.print(f"[yellow]warning:[/] {plain(warning)}")
    if report.previous:
        console.print(f"this file was imported before as {report.previous}")
    console.print(f"[green]{report.imported} outcomes imported[/], {report.already} already imported, "
                  f"{len(report.duplicates)} duplicate rows, [{'red' if len(report.rejected) else 'green'}]"
                  f"{len(report.rejected)} rows not used[/]")
    if report.superseded:
        console.print(f"{report.superseded} outcomes stored without a date were these dated deals: replaced by them")
    if report.moved:
        console.print(f"{report.moved} outcomes stored before under another lead are rows of this file that match "
                      "another lead now: moved to it (each deal counts once)")
    for row, original in report.duplicates[:SHOWN]:
        console.print(f"  duplicate: row {row} repeats row {original}")
    if len(report.rejected):
        table = Table(title=f"Rows not used ({len(report.rejected)})")
        table.add_column("row")
        table.add_column("reason", overflow="fold")
        for row in report.rejected.head(SHOWN).itertuples(index=False):
            table.add_row(plain(row.row_ref), plain(row.reason))
        console.print(table)
        if len(report.rejected) > SHOWN and unmatched is None:
            err.print(f"{len(report.rejected) - SHOWN} more: use --unmatched FILE.csv to get them all")
    if unmatched is not None:
        try:
            rows = report.rejected.drop(columns=["run_id"])  # the one reject shape; an import belongs to no run
            write_atomically(unmatched, lambda tmp: rows.to_csv(tmp, index=False, encoding="utf-8-sig"))
        except ExportError as exc:
            fail(str(exc))
        console.print(f"wrote {len(report.rejected)} rows not used to {unmatched}")


@outcomes_app.command("list")
def list_(
    n: Annotated[int, typer.Option("-n", "--limit", help="How many imports to show.", min=1)] = 20,
    warehouse: WarehouseOpt = None,
) -> None:
    """The latest outcome imports, newest first: file, when, rows read, outcomes added (and still
    stored), rows already stored or not used, and whether the import was removed."""
    from leadrank.warehouse.engine import make_engine
    from leadrank.warehouse.feedback import list_imports

    frame = list_imports(make_engine(warehouse), limit=n)
    if frame.empty:
        fail("no outcome imports yet: `leadrank outcomes import FILE` adds one")
    table = Table(title="Outcome imports")
    for column in ("import_id", "file", "imported_at", "rows", "imported", "stored", "already", "not used", "removed"):
        table.add_column(column, overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(row.import_id, plain(str(row.file)), str(row.imported_at)[:19], str(row.rows_read),
                      str(row.imported), str(row.stored), str(row.already), str(row.rejected),
                      str(row.removed_at)[:19] if row.removed_at is not None else "")
    console.print(table)


@outcomes_app.command("remove")
def remove(
    import_id: Annotated[str, typer.Argument(help="The import to undo, as `leadrank outcomes list` shows it.")],
    warehouse: WarehouseOpt = None,
) -> None:
    """Undo one import: delete the outcomes it added (the next nightly run trains without them).
    Outcomes that nightly runs stored from configured files are not touched."""
    from leadrank.warehouse.engine import make_engine
    from leadrank.warehouse.feedback import FeedbackError, remove_import

    try:
        removed = remove_import(make_engine(warehouse), import_id)
    except FeedbackError as exc:
        fail(str(exc))
    console.print(f"import {import_id} removed: {removed} outcomes deleted")
