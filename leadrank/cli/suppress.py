"""`leadrank suppress add|list|remove`: do-not-contact entries."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.table import Table

from leadrank.cli.common import WarehouseOpt, command_group, console, err, fail, plain

suppress_app = command_group(
    "Do-not-contact suppression by 统一社会信用代码 (code), domain, email, phone or company name. "
    "Suppressed leads never appear in the marts, exports or reports."
)
SHOWN = 20


def _engine(warehouse: str | None):  # type: ignore[no-untyped-def]
    from leadrank.warehouse.engine import make_engine
    from leadrank.warehouse.migrate import upgrade

    engine = make_engine(warehouse)
    upgrade(engine)
    return engine


@suppress_app.command("add")
def add(
    kind: Annotated[str, typer.Argument(help="code | domain | email | phone | name")],
    value: Annotated[str, typer.Argument(help="e.g. 91440300MA5XXXXXXX, huaqiang.com.cn, li@x.cn, 0755-8888 8888, 华强电子有限公司")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (kept with the entry), e.g. 'asked not to be called'.")],
    by: Annotated[str | None, typer.Option("--by", help="Who asked for it (default: your user name).")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Suppress every lead matching KIND VALUE, now and in later runs. A name matches the
    company name without legal form and region (华强电子 matches 深圳市华强电子有限公司)."""
    from leadrank.warehouse.suppress import SuppressionError
    from leadrank.warehouse.suppress import add as add_entry

    try:
        entry, is_new, leads = add_entry(_engine(warehouse), kind.strip().lower(), value, reason, by or getpass.getuser())
    except SuppressionError as exc:
        fail(str(exc))
    if not is_new:
        console.print(f"{plain(kind)} {plain(repr(value))} is already suppressed as {entry.suppression_id} (reason: {plain(entry.reason)}); "
                      "nothing changed")
    else:
        console.print(f"added {entry.suppression_id}: {entry.kind} {plain(repr(entry.value))} (matched as {plain(repr(entry.value_norm))})")
    if leads.empty:
        err.print(f"[yellow]warning:[/] no lead matches {plain(kind)} {plain(repr(value))} yet; the entry is kept and will hide any "
                  "lead that matches it in a later run")
        return
    console.print(f"{len(leads)} lead(s) suppressed:")
    for row in leads.head(SHOWN).itertuples(index=False):
        console.print(f"  {row.lead_id}  {plain(row.company_name)}  {plain(row.city)}")
    if len(leads) > SHOWN:
        console.print(f"  ... and {len(leads) - SHOWN} more")


@suppress_app.command("list")
def list_(warehouse: WarehouseOpt = None) -> None:
    """Every entry, with its reason and how many leads it hides."""
    from leadrank.warehouse.suppress import entries

    frame = entries(_engine(warehouse))
    if frame.empty:
        console.print("no suppression entries")
        return
    table = Table(title=f"Suppression entries ({len(frame)})")
    for column in ("id", "kind", "value", "reason", "by", "added", "leads"):
        table.add_column(column, overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(row.suppression_id, row.kind, plain(row.value), plain(row.reason), plain(row.added_by), str(row.added_at)[:19],
                      str(row.leads))
    console.print(table)


@suppress_app.command("remove")
def remove(
    suppression_id: Annotated[str, typer.Argument(help="The entry's id (see `leadrank suppress list`).")],
    warehouse: WarehouseOpt = None,
) -> None:
    """Remove an entry: the leads it hid come back in the marts (unless another entry hides them)."""
    from leadrank.warehouse.suppress import SuppressionError
    from leadrank.warehouse.suppress import remove as remove_entry

    try:
        entry, freed = remove_entry(_engine(warehouse), suppression_id)
    except SuppressionError as exc:
        fail(str(exc))
    console.print(f"removed {entry.suppression_id} ({entry.kind} {plain(repr(entry.value))}); {freed} lead match(es) lifted")
