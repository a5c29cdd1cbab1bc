-- latest_published_run: the one run whose marts sales see, the newest by published_at (run_id
-- breaks a tie). Every mart reads its run through this view, so "which run is published" is
-- written once. Not a mart (not granted to sales): the marts read it with their owner's rights.
--   run_id                  the run
--   started_at, published_at  when it began and when its marts became the published ones
CREATE VIEW latest_published_run AS
SELECT r.run_id, r.started_at, r.published_at
FROM pipeline_runs r
WHERE r.status = 'published'
ORDER BY r.published_at DESC, r.run_id DESC
LIMIT 1;
