-- mart_region_leads: the ranked list per province and city: every ranked_leads column plus
-- province_rank and city_rank, the position within the province and within the city.
CREATE VIEW mart_region_leads AS
SELECT ROW_NUMBER() OVER (PARTITION BY k.province ORDER BY k.rank) AS province_rank,
       ROW_NUMBER() OVER (PARTITION BY k.province, k.city ORDER BY k.rank) AS city_rank, k.*
FROM ranked_leads k;
