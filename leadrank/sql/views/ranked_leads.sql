-- ranked_leads (mart): the latest published run's ranked list without suppressed leads; its
-- name and columns are a published contract (what sales read).
--   rank               position in the run's ranking, 1 = call first (a suppressed lead leaves a gap)
--   lead_id            stable lead ID
--   company_name       display name (Chinese when known), company_name_en the English one
--   segment            key-account segment (customer type: government, bank_finance, telecom, listed, ...)
--   product_line       what the company makes or sells, for the product team
--   province, city     where it is
--   website, phone, email  the best contacts (survivorship: most trusted source, company email first)
--   priority, tier     0..1 combined score and its tier A-D; fit_score, model_score its two parts
--   top_reasons        the strongest reasons in Chinese and English; reasons_for / reasons_against as JSON
--   movement, prev_rank    new | up | down | unchanged | returned against the previously published run, and
--                      the rank there (returned: seen before, but not ranked there: it had expired or been suppressed)
--   key_account, est_monthly_volume  meets the key-account threshold; estimated purchases a month (yuan)
--   uscc               统一社会信用代码
--   sources            ';'-joined source names that list it
--   first_seen_at      when leadrank first saw the company
--   run_id             the published run
--   prev_tier          tier in the previously published run
--   channel            end_user | channel (reseller)
--   phone_type         mobile | landline | ...
--   address            best address
--   other_phones, other_emails  further contacts from other source records
--   n_sources, source_kinds     how many sources list it, and their kinds
--   first_seen_run     the run that first saw it
--   last_seen_at       when a source last listed it
--   industry           industry as a source gave it
-- Built from the run's ranking (lead_ranks), the score versions it ranked by and, for movement,
-- prev_rank and prev_tier, the ranking of the run published before it (its base_run_id).
CREATE VIEW ranked_leads AS
SELECT
    k.rank, k.lead_id, l.company_name, l.company_name_en, v.customer_type AS segment, v.product_line,
    l.province, l.city, l.website, l.phone, l.email, v.priority, k.tier, v.fit_score, v.model_score,
    v.top_reasons, v.reasons_for, v.reasons_against,
    CASE WHEN b.rank IS NULL AND l.first_seen_run = k.run_id THEN 'new' WHEN b.rank IS NULL THEN 'returned'
         WHEN k.rank < b.rank THEN 'up' WHEN k.rank > b.rank THEN 'down'
         ELSE 'unchanged' END AS movement,
    b.rank AS prev_rank, v.key_account, v.est_monthly_volume, l.uscc, l.sources, l.first_seen_at, k.run_id,
    b.tier AS prev_tier, v.channel, l.phone_type, l.address, l.other_phones, l.other_emails, l.n_sources,
    l.source_kinds, l.first_seen_run,
    CASE WHEN l.listed THEN (SELECT p.seen_at FROM latest_published_run p) ELSE l.last_seen_at END AS last_seen_at,
    l.industry
FROM lead_ranks k
JOIN score_versions v ON v.version_id = k.version_id
JOIN leads l ON l.lead_id = k.lead_id
LEFT JOIN lead_ranks b ON b.run_id = (SELECT p.base_run_id FROM latest_published_run p) AND b.lead_id = k.lead_id
WHERE k.run_id = (SELECT p.run_id FROM latest_published_run p)
AND NOT EXISTS (SELECT 1 FROM suppressed_leads x WHERE x.lead_id = k.lead_id);
