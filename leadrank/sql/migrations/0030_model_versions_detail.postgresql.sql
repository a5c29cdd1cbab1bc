-- 0030_model_versions_detail: model versions that can be reused and audited. Each version now
-- keeps the fitted pipeline, what it was trained on and where it came from, so the weekly
-- retrain's model serves the nightly runs and every score can be traced to its model.
-- (Twin files for SQLite and PostgreSQL differ only in the binary type: BLOB / BYTEA.)

ALTER TABLE model_versions ADD COLUMN source TEXT;            -- nightly | retrain: what trained it
ALTER TABLE model_versions ADD COLUMN classifier TEXT;        -- the estimator in words
ALTER TABLE model_versions ADD COLUMN training_summary TEXT;  -- JSON: rows, won, lost, date range, features
ALTER TABLE model_versions ADD COLUMN artifact BYTEA;         -- the fitted scikit-learn pipeline (pickle); NULL at cold start
ALTER TABLE model_versions ADD COLUMN artifact_sha256 TEXT;   -- checksum of artifact, verified before loading
ALTER TABLE model_versions ADD COLUMN used_model_id TEXT;     -- nightly runs that reused a stored model: which one
