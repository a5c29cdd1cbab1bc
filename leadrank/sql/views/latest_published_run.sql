-- latest_published_run: the one run whose marts sales see, the newest by published_at (run_id
-- breaks a tie). Every mart reads its run through this view, so "which run is published" is
-- written once. Not a mart (not granted to sales): the marts read it with their owner's rights.
--   run_id                  the run
--   started_at, published_at  when it began and when its marts became the published ones
--   base_run_id             the run published before it: what its movement is measured against
--   seen_at                 when it recorded what its sources listed (the last_seen_at of what it listed)
CREATE VIEW latest_published_run AS
SELECT r.run_id, r.started_at, r.published_at, r.base_run_id, r.seen_at
FROM pipeline_runs r
WHERE r.status = 'published'
ORDER BY r.published_at DESC, r.run_id DESC
LIMIT 1;
