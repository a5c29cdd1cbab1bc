-- mart_source_yield: what each source contributes to the current list: its records behind
-- ranked leads (records), those it listed in the published run (records_tonight), the distinct
-- leads they belong to (leads), per tier (tier_a .. tier_d) and new tonight (new_leads). Only
-- records that have not expired count, so a source removed from the config leaves the yield
-- once its records expire. A record listed by the published run has `listed` set (or, stored
-- before migration 0080, that run as its last_seen_run).
CREATE VIEW mart_source_yield AS
SELECT r.source, r.source_kind,
       COUNT(*) AS records,
       SUM(CASE WHEN r.listed OR r.last_seen_run = k.run_id THEN 1 ELSE 0 END) AS records_tonight,
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
