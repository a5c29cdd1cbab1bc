"""Access for sales on PostgreSQL: read the marts, nothing else.

`grant_sales` gives an existing role SELECT on the mart views (ranked_leads and every mart_*
view) and takes away anything else it had on the warehouse's tables, sequences and schema: no
staging, no core tables with raw pages and history, no writes. PostgreSQL checks a view's
underlying tables with the view owner's rights, so the role reads the marts without any right
on what they are built from. Run it again after `leadrank db upgrade` adds a mart.
SQLite has no roles: share a read-only copy of the file (or point sales at PostgreSQL).
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

from leadrank.warehouse.bulk import quote
from leadrank.warehouse.engine import writer


class AccessError(RuntimeError):
    pass


def mart_views(conn: Connection) -> list[str]:
    """The views sales may read, by the naming convention of the migrations."""
    rows = conn.execute(text(
        "SELECT table_name FROM information_schema.views WHERE table_schema = current_schema() "
        "AND (table_name = 'ranked_leads' OR table_name LIKE 'mart\\_%') ORDER BY table_name")).all()
    return [r[0] for r in rows]


def grant_sales(engine: Engine, role: str) -> list[str]:
    """Grant `role` read access to the marts only; returns the views granted."""
    if engine.dialect.name != "postgresql":
        raise AccessError("roles exist only on PostgreSQL; with SQLite, give sales a read-only copy of the file")
    with writer(engine).begin() as conn:
        found = conn.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
        if found is None:
            raise AccessError(f"role {role!r} does not exist; create it first, e.g. CREATE ROLE {quote(role)} LOGIN "
                              "PASSWORD '...'")
        if found[0]:
            raise AccessError(f"role {role!r} is a superuser: it can read and write everything, so it cannot be "
                              "limited to the marts; use an ordinary role")
        schema = conn.execute(text("SELECT current_schema()")).scalar()
        database = conn.execute(text("SELECT current_database()")).scalar()
        who, where = quote(role), quote(str(schema))
        conn.exec_driver_sql(f"REVOKE ALL ON ALL TABLES IN SCHEMA {where} FROM {who}")
        conn.exec_driver_sql(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {where} FROM {who}")
        conn.exec_driver_sql(f"REVOKE CREATE ON SCHEMA {where} FROM {who}")
        conn.exec_driver_sql(f"GRANT CONNECT ON DATABASE {quote(str(database))} TO {who}")
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {where} TO {who}")
        views = mart_views(conn)
        for view in views:
            conn.exec_driver_sql(f"GRANT SELECT ON {where}.{quote(view)} TO {who}")
    return views
