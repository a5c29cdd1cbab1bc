-- 0070_views_from_files: from this version on the views (ranked_leads, the mart_* views and
-- latest_published_run) are defined in leadrank/sql/views/, one file each, and re-created by
-- `leadrank db upgrade` after the migrations whenever a file changed (leadrank.warehouse.views).
-- The views created by 0001, 0002 and 0040 stay as history; the first upgrade past this version
-- drops them and creates them from the files (same columns, same rows).

-- schema_views: the views as last created from their files.
CREATE TABLE schema_views (
    name        TEXT PRIMARY KEY,          -- the view (and its file, leadrank/sql/views/NAME.sql)
    checksum    TEXT NOT NULL,             -- sha256 of the file as created (first 16 hex digits)
    created_at  TIMESTAMPTZ NOT NULL       -- when it was last created
);
