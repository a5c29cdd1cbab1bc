-- mart_region_tiers: per province, city and tier, how many leads and how many new tonight.
CREATE VIEW mart_region_tiers AS
SELECT k.province, k.city, k.tier,
       COUNT(*) AS leads,                                                     -- ranked leads
       SUM(CASE WHEN k.movement = 'new' THEN 1 ELSE 0 END) AS new_leads      -- first ranked tonight
FROM ranked_leads k
GROUP BY k.province, k.city, k.tier;
