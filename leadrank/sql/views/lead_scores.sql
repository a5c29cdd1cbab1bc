-- lead_scores: every lead's scores in every published run, in the columns of the table it
-- replaced (migration 0080): history for audits and whatever read that table. Not a mart (not
-- granted to sales). A run stores only its ranking (lead_ranks); the scores are the version it
-- ranked by (score_versions), and prev_rank, prev_tier and movement come from the ranking of the
-- run published before it (pipeline_runs.base_run_id); 'returned' is a lead first seen by an
-- earlier run but not ranked by that one (it had expired or been suppressed). Read one run at a time (WHERE run_id = ...).
-- A run's ranking is purged after the ranking retention (`leadrank db purge --rank-days`, default 90 days):
-- such a run has no rows here; what its leads scored stays in score_versions.
CREATE VIEW lead_scores AS
SELECT
    k.run_id, k.lead_id, k.rank, k.tier, v.priority, v.fit_score, v.model_score, v.customer_type, v.channel,
    v.product_line, v.key_account, v.est_monthly_volume, v.segment_score, v.ratio_score, v.ratio_coverage,
    v.current_asset_ratio, v.net_margin, v.roa, v.collection_days, v.inventory_days, v.revenue_growth, v.fin_year,
    v.risk_flags, v.reasons_for, v.reasons_against, v.top_reasons, b.rank AS prev_rank,
    CASE WHEN b.rank IS NULL AND l.first_seen_run = k.run_id THEN 'new' WHEN b.rank IS NULL THEN 'returned'
         WHEN k.rank < b.rank THEN 'up' WHEN k.rank > b.rank THEN 'down'
         ELSE 'unchanged' END AS movement,
    b.tier AS prev_tier
FROM lead_ranks k
JOIN score_versions v ON v.version_id = k.version_id
JOIN pipeline_runs r ON r.run_id = k.run_id
JOIN leads l ON l.lead_id = k.lead_id
LEFT JOIN lead_ranks b ON b.run_id = r.base_run_id AND b.lead_id = k.lead_id;
