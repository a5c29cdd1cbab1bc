"""Access for sales on PostgreSQL: read the marts, nothing else.

`grant_sales` gives an existing role SELECT on the mart views (ranked_leads and every mart_*
view) and takes away anything else it had on the warehouse's tables, sequences and schema: no
staging, no core tables with raw pages and history, no writes. PostgreSQL checks a view's
underlying tables with the view owner's rights, so the role reads the marts without any right
on what they are built from. Run it again after `leadrank db upgrade` adds a mart.

Three ways around that are closed too:
- a view is no wall by itself: a cheap function in the reader's WHERE clause can be evaluated
  before the view's own filter and see every row underneath (suppressed and old leads). The
  mart views are `security_barrier` views (`secure_marts`, applied after every upgrade, so a
  view a later migration re-creates gets it back);
- a role that is a member of pg_read_all_data, pg_write_all_data (or of the role owning the
  warehouse) reads or writes everything whatever is granted here: such a role is refused;
- any role can take PostgreSQL advisory locks, and a session holding leadrank's migration or
  publish lock would stop the nights: the advisory-lock functions are revoked from PUBLIC in
  the warehouse database and granted to the role running grant-sales (the warehouse owner).
SQLite has no roles: share a read-only copy of the file (or point sales at PostgreSQL).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text

from leadrank.warehouse.bulk import quote
from leadrank.warehouse.engine import writer

# Built-in roles whose members read or write every table, whatever is granted or revoked.
ALL_DATA_ROLES = ("pg_read_all_data", "pg_write_all_data")


class AccessError(RuntimeError):
    pass


@dataclass
class Granted:
    views: list[str]
    warnings: list[str] = field(default_factory=list)


def mart_views(conn: Connection) -> list[str]:
    """The views sales may read, by the naming convention of the migrations."""
    rows = conn.execute(text(
        "SELECT table_name FROM information_schema.views WHERE table_schema = current_schema() "
        "AND (table_name = 'ranked_leads' OR table_name LIKE 'mart\\_%') ORDER BY table_name")).all()
    return [r[0] for r in rows]


def secure_marts(conn: Connection) -> list[str]:
    """Make every mart view a security barrier (PostgreSQL); returns the views changed. Only
    views lacking it are altered: ALTER VIEW locks the view, and this runs at every upgrade."""
    rows = conn.execute(text(
        "SELECT c.relname FROM pg_class c WHERE c.relkind = 'v' AND c.relnamespace = current_schema()::regnamespace "
        "AND (c.relname = 'ranked_leads' OR c.relname LIKE 'mart\\_%') "
        "AND NOT COALESCE('security_barrier=true' = ANY(c.reloptions), false) ORDER BY c.relname")).all()
    schema = quote(str(conn.execute(text("SELECT current_schema()")).scalar()))
    for (view,) in rows:
        conn.exec_driver_sql(f"ALTER VIEW {schema}.{quote(view)} SET (security_barrier = true)")
    return [r[0] for r in rows]


def _powerful_memberships(conn: Connection, role: str) -> list[str]:
    """The roles `role` is a member of (directly or not) that read or write every table here."""
    rows = conn.execute(text(
        "SELECT b.rolname FROM pg_roles b WHERE (b.rolname = ANY(:all_data) OR b.rolname = current_user "
        "OR b.oid = (SELECT nspowner FROM pg_namespace WHERE nspname = current_schema())) "
        "AND pg_has_role(:r, b.oid, 'MEMBER') ORDER BY b.rolname"), {"r": role, "all_data": list(ALL_DATA_ROLES)}).all()
    return [r[0] for r in rows]


def _revoke_advisory_locks(conn: Connection, role: str) -> list[str]:
    """Revoke the advisory-lock functions from PUBLIC in this database, keep them for the current
    role; a warning when `role` can still take them (revoking needs a superuser)."""
    functions = [r[0] for r in conn.execute(text(
        "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'pg_catalog'::regnamespace "
        "AND p.proname LIKE 'pg\\_%advisory%lock%' AND p.proname NOT LIKE '%unlock%' ORDER BY 1")).all()]
    me = quote(str(conn.execute(text("SELECT current_user")).scalar()))
    for function in functions:
        conn.exec_driver_sql(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
        conn.exec_driver_sql(f"GRANT EXECUTE ON FUNCTION {function} TO {me}")
    still = [f for f in functions if conn.execute(text("SELECT has_function_privilege(:r, :f, 'EXECUTE')"),
                                                  {"r": role, "f": f}).scalar()]
    if not still:
        return []
    return [f"role {role} can still take advisory locks ({', '.join(still[:3])}…): revoking them from PUBLIC "
            "needs a superuser. A session of it holding leadrank's lock makes the nights fail after "
            "$LEADRANK_LOCK_TIMEOUT seconds; run grant-sales as a superuser to prevent it"]


def grant_sales(engine: Engine, role: str) -> Granted:
    """Grant `role` read access to the marts only; returns the views granted and warnings."""
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
        powerful = _powerful_memberships(conn, role)
        if powerful:
            raise AccessError(f"role {role!r} is a member of {', '.join(powerful)}: it reads (or writes) every table "
                              f"whatever is granted, so it cannot be limited to the marts; "
                              f"REVOKE {', '.join(quote(p) for p in powerful)} FROM {quote(role)} first")
        schema = conn.execute(text("SELECT current_schema()")).scalar()
        database = conn.execute(text("SELECT current_database()")).scalar()
        who, where = quote(role), quote(str(schema))
        conn.exec_driver_sql(f"REVOKE ALL ON ALL TABLES IN SCHEMA {where} FROM {who}")
        conn.exec_driver_sql(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {where} FROM {who}")
        conn.exec_driver_sql(f"REVOKE CREATE ON SCHEMA {where} FROM {who}")
        conn.exec_driver_sql(f"GRANT CONNECT ON DATABASE {quote(str(database))} TO {who}")
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {where} TO {who}")
        secure_marts(conn)
        views = mart_views(conn)
        for view in views:
            conn.exec_driver_sql(f"GRANT SELECT ON {where}.{quote(view)} TO {who}")
        warnings = _revoke_advisory_locks(conn, role)
    return Granted(views, warnings)
