-- mart_runs: the published runs, newest first by published_at: when the list sales see was
-- made (run_id, started_at, published_at) and when it finished (finished_at).
CREATE VIEW mart_runs AS
SELECT r.run_id, r.started_at, r.finished_at, r.published_at
FROM pipeline_runs r
WHERE r.status = 'published';
