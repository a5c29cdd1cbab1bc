"""Stage 5, load: the SQL warehouse (SQLite embedded by default, PostgreSQL in production).

`engine` resolves and opens the warehouse, `migrate` applies the versioned SQL under
leadrank/sql, `load` stages a run and publishes it atomically, `read` serves sales.
"""
