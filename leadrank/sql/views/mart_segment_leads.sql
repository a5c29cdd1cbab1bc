-- mart_segment_leads: the ranked list per segment (key-account team): every ranked_leads
-- column plus segment_rank, the position within the segment (1 = the team's first call).
CREATE VIEW mart_segment_leads AS
SELECT ROW_NUMBER() OVER (PARTITION BY k.segment ORDER BY k.rank) AS segment_rank, k.*
FROM ranked_leads k;
