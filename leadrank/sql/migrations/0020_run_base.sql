-- 0020_run_base: one publisher at a time. Each run records the published run it started from;
-- leadrank.warehouse.load.publish_run lets it publish only while that is still the latest
-- published run, so of two overlapping runs at most one publishes (the other fails cleanly
-- and can be resumed). Works the same on SQLite and PostgreSQL: the check runs inside the
-- publishing transaction, which holds the writer lock (SQLite) or an advisory lock (PostgreSQL).
ALTER TABLE pipeline_runs ADD COLUMN base_run_id TEXT;  -- latest published run when this run began (NULL: none yet)
