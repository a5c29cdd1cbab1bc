-- mart_dropped_leads: leads ranked in the previous published run that the latest one no longer
-- ranks (movement "dropped out"), with where they went; suppressed companies stay hidden.
--   lead_id, company_name   the lead that dropped out
--   prev_rank, prev_tier    its rank and tier in the previous run (prev_run_id)
--   reason                  merged | not_ranked | expired; merged_into the surviving lead when merged
--   run_id                  the latest published run
--   last_seen_at            when a source last listed the lead (for expired: how long ago)
CREATE VIEW mart_dropped_leads AS
SELECT d.lead_id, l.company_name, d.prev_rank, d.prev_tier, d.reason, d.merged_into, d.prev_run_id, d.run_id,
       CASE WHEN l.listed THEN (SELECT p.seen_at FROM latest_published_run p) ELSE l.last_seen_at END AS last_seen_at
FROM lead_dropouts d
JOIN leads l ON l.lead_id = d.lead_id
WHERE d.run_id = (SELECT p.run_id FROM latest_published_run p)
AND NOT EXISTS (SELECT 1 FROM suppressed_leads x WHERE x.lead_id = d.lead_id OR x.lead_id = d.merged_into);
