-- mart_segment_tiers: per segment and tier, how many leads, how many new tonight, how many key
-- accounts, and their mean priority (the "tier counts by segment" chart).
CREATE VIEW mart_segment_tiers AS
SELECT k.segment, k.tier,
       COUNT(*) AS leads,                                                     -- ranked leads
       SUM(CASE WHEN k.movement = 'new' THEN 1 ELSE 0 END) AS new_leads,     -- first ranked tonight
       SUM(CASE WHEN k.key_account THEN 1 ELSE 0 END) AS key_accounts,       -- meeting the threshold
       AVG(k.priority) AS mean_priority                                      -- mean 0..1 priority
FROM ranked_leads k
GROUP BY k.segment, k.tier;
