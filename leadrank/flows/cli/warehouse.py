"""`leadrank export` and `leadrank db ...`: the warehouse for sales and for operators."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leadrank.flows.cli.common import WarehouseOpt, console, fail

db_app = typer.Typer(help="Warehouse schema management.", no_args_is_help=True)


def export(
    output: Annotated[Path, typer.Option("-o", "--output", help="FILE.csv or FILE.xlsx")],
    warehouse: WarehouseOpt = None,
) -> None:
    """Export the ranked list to CSV (UTF-8 with BOM, opens in Excel) or XLSX."""
    from leadrank.warehouse.engine import make_engine
    from leadrank.warehouse.export import ExportError, export_ranked

    try:
        count = export_ranked(make_engine(warehouse), output)
    except ExportError as exc:
        fail(str(exc))
    console.print(f"wrote {count} leads to {output}")


@db_app.command("upgrade")
def db_upgrade(warehouse: WarehouseOpt = None) -> None:
    """Apply pending schema migrations (leadrank/sql/migrations)."""
    from leadrank.warehouse.engine import display_url, make_engine, warehouse_url
    from leadrank.warehouse.migrate import upgrade

    applied = upgrade(make_engine(warehouse))
    console.print(f"{display_url(warehouse_url(warehouse))}: applied {applied or 'nothing (up to date)'}")


