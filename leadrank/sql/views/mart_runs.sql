-- mart_runs: the published runs, newest first by published_at: when the list sales see was
-- made (run_id, started_at, published_at) and when it finished (finished_at); ranking_kept says
-- whether the run's full ranking is still stored (false once `leadrank db purge` removed it after
-- the ranking retention: the run's leads, scores and dropouts stay, its ranks and movement go).
CREATE VIEW mart_runs AS
SELECT r.run_id, r.started_at, r.finished_at, r.published_at,
       EXISTS (SELECT 1 FROM lead_ranks k WHERE k.run_id = r.run_id) AS ranking_kept
FROM pipeline_runs r
WHERE r.status = 'published';
