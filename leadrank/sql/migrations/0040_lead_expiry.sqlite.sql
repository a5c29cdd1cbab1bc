-- 0040_lead_expiry: leads that no source lists any more drop out. SQLite twin: no CREATE OR
-- REPLACE VIEW, so the two views are dropped and re-created.
--
-- A source record is current while a source listed it in one of the last N nights (the config key
-- lead_expiry_nights, default 3: tonight and the two published runs before). Only current records
-- feed the golden record, so its `sources` lists only sources that still list it; a lead
-- with no current record expires: it leaves ranked_leads and is recorded once in lead_dropouts
-- with reason expired. Its records stay linked to it, so a company listed again later gets its
-- old lead ID back (status active again).
--
-- leads.status: active | merged | expired (no source has listed it for lead_expiry_nights nights).
-- lead_dropouts.reason: merged | not_ranked | expired (no source has listed it for
-- lead_expiry_nights nights; leads.last_seen_at says when one last did).

-- lead_records.expired: no source has listed the record for lead_expiry_nights nights; it no
-- longer feeds its lead (golden fields, contacts) or its source yield. Set at every publish.
ALTER TABLE lead_records ADD COLUMN expired BOOLEAN NOT NULL DEFAULT FALSE;

-- mart_source_yield: as in 0002, counting only records that have not expired, so a source
-- removed from the config leaves the yield once its records expire.
DROP VIEW mart_source_yield;
CREATE VIEW mart_source_yield AS
SELECT r.source, r.source_kind,
       COUNT(*) AS records,
       SUM(CASE WHEN r.last_seen_run = k.run_id THEN 1 ELSE 0 END) AS records_tonight,
       COUNT(DISTINCT r.lead_id) AS leads,
       COUNT(DISTINCT CASE WHEN k.tier = 'A' THEN r.lead_id END) AS tier_a,
       COUNT(DISTINCT CASE WHEN k.tier = 'B' THEN r.lead_id END) AS tier_b,
       COUNT(DISTINCT CASE WHEN k.tier = 'C' THEN r.lead_id END) AS tier_c,
       COUNT(DISTINCT CASE WHEN k.tier = 'D' THEN r.lead_id END) AS tier_d,
       COUNT(DISTINCT CASE WHEN k.movement = 'new' THEN r.lead_id END) AS new_leads
FROM lead_records r
JOIN ranked_leads k ON k.lead_id = r.lead_id
WHERE NOT r.expired
GROUP BY r.source, r.source_kind;

-- mart_dropped_leads: as in 0002 (reason now merged | not_ranked | expired), plus
--   last_seen_at            when a source last listed the lead (for expired: how long ago)
DROP VIEW mart_dropped_leads;
CREATE VIEW mart_dropped_leads AS
SELECT d.lead_id, l.company_name, d.prev_rank, d.prev_tier, d.reason, d.merged_into, d.prev_run_id, d.run_id,
       l.last_seen_at
FROM lead_dropouts d
JOIN leads l ON l.lead_id = d.lead_id
WHERE d.run_id = (
    SELECT r.run_id FROM pipeline_runs r
    WHERE r.status = 'published'
    ORDER BY r.published_at DESC, r.run_id DESC
    LIMIT 1
)
AND NOT EXISTS (SELECT 1 FROM suppressed_leads x WHERE x.lead_id = d.lead_id OR x.lead_id = d.merged_into);
