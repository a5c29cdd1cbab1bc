-- 0060_outcome_imports: every `leadrank outcomes import` is recorded, and the outcomes it added
-- carry its id, so `leadrank outcomes list` shows what was imported when and
-- `leadrank outcomes remove IMPORT_ID` undoes one import (outcomes stored by nightly runs from
-- configured files have no import_id and are never removed this way).

CREATE TABLE outcome_imports (
    import_id     TEXT PRIMARY KEY,        -- imp-<UTC time>-<random>
    file          TEXT NOT NULL,           -- the file's name as given
    file_sha256   TEXT NOT NULL,           -- checksum of the file's bytes: the same file imported again is recognised
    imported_at   TIMESTAMPTZ NOT NULL,
    rows_read     INTEGER NOT NULL,        -- data rows in the file
    imported      INTEGER NOT NULL,        -- new outcomes this import stored
    already       INTEGER NOT NULL,        -- matched rows whose deal was stored before
    rejected      INTEGER NOT NULL,        -- rows not used (no lead matches, unknown outcome, bad date)
    removed_at    TIMESTAMPTZ              -- set by `leadrank outcomes remove`
);

-- outcomes.import_id: the import that stored the outcome; NULL for a nightly run's configured file.
ALTER TABLE outcomes ADD COLUMN import_id TEXT;
CREATE INDEX ix_outcomes_import ON outcomes (import_id);
