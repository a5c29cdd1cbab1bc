"""The warehouse's views, one file each in leadrank/sql/views/, re-created after migrations.

Migrations are history (checksummed, never edited); views are the current definition: change
leadrank/sql/views/NAME.sql and the next `leadrank db upgrade` (every night starts with one)
re-creates the views. A view file holds one `CREATE VIEW NAME AS ...` named like the file; the
views it reads are found in its text, so they are created first.

`schema_views` records the checksum of every view as created. When a file changed, a view is
missing, a file was removed or a migration ran, every recorded and defined view is dropped and
re-created in one transaction, so readers see the old marts or the new ones, never none (when
migrations run, they run in that transaction too: a migration may drop the views that read a
table it replaces, see warehouse.migrate). On
PostgreSQL dropping a view drops its grants: every privilege held on a re-created view (the
`leadrank db grant-sales` roles' SELECT) is read before (before the migrations) and granted again after, and the
security barrier is restored by access.secure_marts after every upgrade. A view of someone
else's that reads a mart blocks the drop: the upgrade stops and names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError

from leadrank.paths import SQL_DIR
from leadrank.warehouse.bulk import quote
from leadrank.warehouse.sql_files import SqlText, for_dialect, split_statements, without_comments

VIEWS_DIR = SQL_DIR / "views"


class ViewError(RuntimeError):
    pass


@dataclass(frozen=True)
class View(SqlText):
    name: str
    path: Path


def defined(dialect: str) -> list[View]:
    """The views of leadrank/sql/views for `dialect`, each after the views it reads."""
    views = {stem: View(stem, path) for stem, path in for_dialect(VIEWS_DIR, dialect).items()}
    graph: dict[str, list[str]] = {}
    for name, view in views.items():
        statements = [without_comments(s).strip() for s in split_statements(view.sql())]
        if len(statements) != 1 or not re.match(rf"CREATE\s+VIEW\s+{re.escape(name)}\s+AS\b", statements[0], re.I):
            raise ViewError(f"{view.path.name}: a view file holds exactly one CREATE VIEW {name} AS ...")
        graph[name] = sorted(other for other in views
                             if other != name and re.search(rf"\b{re.escape(other)}\b", statements[0]))
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise ViewError(f"views read each other in a cycle: {' -> '.join(exc.args[1])}") from exc
    return [views[name] for name in order]


def _recorded(conn: Connection) -> dict[str, str]:
    return dict(conn.execute(text("SELECT name, checksum FROM schema_views")).all())


def _privileges(conn: Connection, names: list[str]) -> list[tuple[str, str]]:
    """(view, GRANT statement) giving back every privilege others hold on these views (PostgreSQL)."""
    rows = conn.execute(text(
        "SELECT c.relname, a.privilege_type, a.is_grantable, CASE WHEN a.grantee = 0 THEN NULL ELSE r.rolname END "
        "FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee "
        "WHERE c.relkind = 'v' AND c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(:names) "
        "AND a.grantee <> c.relowner ORDER BY 1, 4, 2"), {"names": names}).all()
    schema = quote(str(conn.execute(text("SELECT current_schema()")).scalar()))
    return [(view, f"GRANT {privilege} ON {schema}.{quote(view)} TO {'PUBLIC' if role is None else quote(role)}"
             + (" WITH GRANT OPTION" if grantable else "")) for view, privilege, grantable, role in rows]


def _drop(conn: Connection, names: list[str]) -> None:
    """Drop the views. PostgreSQL drops them in one statement (dependencies among them allowed,
    others' views on them refused); SQLite checks no dependencies."""
    if not names:
        return
    try:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"DROP VIEW IF EXISTS {', '.join(quote(n) for n in names)}")
        else:
            for name in names:
                conn.exec_driver_sql(f"DROP VIEW IF EXISTS {quote(name)}")
    except DBAPIError as exc:
        detail = str(exc.orig).strip().splitlines()
        raise ViewError("the views cannot be re-created: " + " ".join(detail[:3])) from exc


def _managed(conn: Connection) -> list[str]:
    """The views recorded or defined here that exist."""
    wanted = {v.name for v in defined(conn.dialect.name)}
    recorded = set(_recorded(conn)) if inspect(conn).has_table("schema_views") else set()
    return sorted((recorded | wanted) & set(inspect(conn).get_view_names()))


def managed_grants(conn: Connection) -> list[tuple[str, str]]:
    """What gives back the privileges others hold on the views (PostgreSQL), for
    `recreate(restore=...)` after migrations that may drop views."""
    return _privileges(conn, _managed(conn)) if conn.dialect.name == "postgresql" else []


def _drop_managed(conn: Connection) -> list[tuple[str, str]]:
    managed = _managed(conn)
    grants = _privileges(conn, managed) if conn.dialect.name == "postgresql" else []
    _drop(conn, managed)
    return grants


def recreate(conn: Connection, *, force: bool, restore: list[tuple[str, str]] | None = None) -> list[str]:
    """Re-create the views when a file differs from what was created (or `force`, after a
    migration); returns the views created, [] when all were current. `restore`: the grants held
    before migrations that may have dropped views (managed_grants), given back too. Runs in the
    caller's transaction."""
    views = defined(conn.dialect.name)
    wanted = {v.name: v.checksum() for v in views}
    if restore is None:
        recorded = _recorded(conn)
        existing = set(inspect(conn).get_view_names())
        if not force and recorded == wanted and existing >= set(wanted):
            return []
    grants = [*(restore or []), *_drop_managed(conn)]
    for view in views:
        for statement in split_statements(view.sql()):
            conn.exec_driver_sql(statement)
    conn.execute(text("DELETE FROM schema_views"))
    at = datetime.now(UTC).isoformat()
    conn.execute(text("INSERT INTO schema_views (name, checksum, created_at) VALUES (:n, :c, :t)"),
                 [{"n": name, "c": checksum, "t": at} for name, checksum in wanted.items()])
    for view, grant in grants:
        if view in wanted:
            conn.exec_driver_sql(grant)
    return [v.name for v in views]
