-- 0002_marts_suppression: the marts sales read, movement with dropped-out leads, suppression.
--
-- Naming: stg_* are staging (what a run loaded, purged after the retention period); leads,
-- lead_records, lead_events, lead_scores, lead_dropouts, outcomes, model_versions, suppressions
-- and suppressed_leads are the core (history, never shown to sales directly); the marts are
-- views: ranked_leads (its name is a published contract) and mart_*. Marts show only the
-- latest published run and never a suppressed lead. `leadrank db grant-sales ROLE` grants
-- SELECT on exactly these views (ranked_leads and every mart_* view) on PostgreSQL.
-- Portable DDL, as in 0001. Every table, view and column is documented beside its definition.

-- outcomes.outcome_id: from this version on the hash of lead, outcome and date only (not the
-- source file), so the same outcome reported by two CRM exports is stored once.

-- lead_scores.prev_tier: the lead's tier in the previously published run (NULL when new).
ALTER TABLE lead_scores ADD COLUMN prev_tier TEXT;

-- Run-ordered access to one run's ranked list (the marts read the latest run in rank order).
CREATE INDEX ix_lead_scores_run_rank ON lead_scores (run_id, rank);

-- leads.other_phones / other_emails: the lead's further contacts from its other source
-- records, ';'-joined, most frequent first (the best ones are leads.phone and leads.email).
ALTER TABLE leads ADD COLUMN other_phones TEXT;
ALTER TABLE leads ADD COLUMN other_emails TEXT;

-- lead_dropouts: leads that were in the previously published run's list and are not in this
-- run's (the "dropped out" movement), so the history says where each lead went.
CREATE TABLE lead_dropouts (
    run_id        TEXT NOT NULL,           -- the run whose list the lead is missing from
    lead_id       TEXT NOT NULL,           -- the lead that dropped out
    prev_run_id   TEXT NOT NULL,           -- the previously published run it was ranked in
    prev_rank     INTEGER,                 -- its rank there
    prev_tier     TEXT,                    -- its tier there
    reason        TEXT NOT NULL,           -- merged (into merged_into) | not_ranked (no longer scored)
    merged_into   TEXT,                    -- the surviving lead when reason = merged
    PRIMARY KEY (run_id, lead_id)
);

-- suppressions: do-not-contact entries. A lead matching any entry never appears in a mart,
-- an export or a report, and the entry keeps why.
CREATE TABLE suppressions (
    suppression_id TEXT PRIMARY KEY,       -- 'S' + 10 hex characters of kind and normalised value
    kind           TEXT NOT NULL,          -- code (统一社会信用代码) | domain | email | phone | name
    value          TEXT NOT NULL,          -- the value as entered
    value_norm     TEXT NOT NULL,          -- normalised the way lead records are: what matching compares
    reason         TEXT NOT NULL,          -- why the company must not be contacted
    added_by       TEXT,                   -- who entered it
    added_at       TIMESTAMPTZ NOT NULL    -- when
);
CREATE UNIQUE INDEX ux_suppressions_kind_value ON suppressions (kind, value_norm);

-- suppressed_leads: which leads the entries match, recomputed when an entry is added or
-- removed and at every publish (tonight's new records may match an old entry).
CREATE TABLE suppressed_leads (
    lead_id        TEXT NOT NULL,          -- leads.lead_id
    suppression_id TEXT NOT NULL,          -- suppressions.suppression_id
    matched_at     TIMESTAMPTZ NOT NULL,   -- when the match was computed
    PRIMARY KEY (lead_id, suppression_id)
);

-- ranked_leads (mart): the latest published run's ranked list without suppressed leads. The
-- first 26 columns are those of 0001 (unchanged meaning); the rest were added here.
--   rank               position in the run's ranking, 1 = call first (a suppressed lead leaves a gap)
--   lead_id            stable lead ID
--   company_name       display name (Chinese when known), company_name_en the English one
--   segment            key-account segment (customer type: government, bank_finance, telecom, listed, ...)
--   product_line       what the company makes or sells, for the product team
--   province, city     where it is
--   website, phone, email  the best contacts (survivorship: most trusted source, company email first)
--   priority, tier     0..1 combined score and its tier A-D; fit_score, model_score its two parts
--   top_reasons        the strongest reasons in Chinese and English; reasons_for / reasons_against as JSON
--   movement, prev_rank    new | up | down | unchanged against the previously published run, and the rank there
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
DROP VIEW ranked_leads;
CREATE VIEW ranked_leads AS
SELECT
    s.rank, s.lead_id, l.company_name, l.company_name_en, s.customer_type AS segment, s.product_line,
    l.province, l.city, l.website, l.phone, l.email, s.priority, s.tier, s.fit_score, s.model_score,
    s.top_reasons, s.reasons_for, s.reasons_against, s.movement, s.prev_rank, s.key_account,
    s.est_monthly_volume, l.uscc, l.sources, l.first_seen_at, s.run_id,
    s.prev_tier, s.channel, l.phone_type, l.address, l.other_phones, l.other_emails, l.n_sources,
    l.source_kinds, l.first_seen_run, l.last_seen_at, l.industry
FROM lead_scores s
JOIN leads l ON l.lead_id = s.lead_id
WHERE s.run_id = (
    SELECT r.run_id FROM pipeline_runs r
    WHERE r.status = 'published'
    ORDER BY r.published_at DESC, r.run_id DESC
    LIMIT 1
)
AND NOT EXISTS (SELECT 1 FROM suppressed_leads x WHERE x.lead_id = s.lead_id);

-- mart_segment_leads: the ranked list per segment (key-account team): every ranked_leads
-- column plus segment_rank, the position within the segment (1 = the team's first call).
CREATE VIEW mart_segment_leads AS
SELECT ROW_NUMBER() OVER (PARTITION BY k.segment ORDER BY k.rank) AS segment_rank, k.*
FROM ranked_leads k;

-- mart_region_leads: the ranked list per province and city: every ranked_leads column plus
-- province_rank and city_rank, the position within the province and within the city.
CREATE VIEW mart_region_leads AS
SELECT ROW_NUMBER() OVER (PARTITION BY k.province ORDER BY k.rank) AS province_rank,
       ROW_NUMBER() OVER (PARTITION BY k.province, k.city ORDER BY k.rank) AS city_rank, k.*
FROM ranked_leads k;

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

-- mart_region_tiers: per province, city and tier, how many leads and how many new tonight.
CREATE VIEW mart_region_tiers AS
SELECT k.province, k.city, k.tier,
       COUNT(*) AS leads,                                                     -- ranked leads
       SUM(CASE WHEN k.movement = 'new' THEN 1 ELSE 0 END) AS new_leads      -- first ranked tonight
FROM ranked_leads k
GROUP BY k.province, k.city, k.tier;

-- mart_source_yield: what each source contributes to the current list: its records behind
-- ranked leads (records), those it listed in the published run (records_tonight), the distinct
-- leads they belong to (leads), per tier (tier_a .. tier_d) and new tonight (new_leads).
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
GROUP BY r.source, r.source_kind;

-- mart_dropped_leads: leads ranked in the previous published run that the latest one no longer
-- ranks (movement "dropped out"), with where they went; suppressed companies stay hidden.
--   lead_id, company_name   the lead that dropped out
--   prev_rank, prev_tier    its rank and tier in the previous run (prev_run_id)
--   reason                  merged | not_ranked; merged_into the surviving lead when merged
--   run_id                  the latest published run
CREATE VIEW mart_dropped_leads AS
SELECT d.lead_id, l.company_name, d.prev_rank, d.prev_tier, d.reason, d.merged_into, d.prev_run_id, d.run_id
FROM lead_dropouts d
JOIN leads l ON l.lead_id = d.lead_id
WHERE d.run_id = (
    SELECT r.run_id FROM pipeline_runs r
    WHERE r.status = 'published'
    ORDER BY r.published_at DESC, r.run_id DESC
    LIMIT 1
)
AND NOT EXISTS (SELECT 1 FROM suppressed_leads x WHERE x.lead_id = d.lead_id OR x.lead_id = d.merged_into);

-- mart_runs: the published runs, newest first by published_at: when the list sales see was
-- made (run_id, started_at, published_at) and when it finished (finished_at).
CREATE VIEW mart_runs AS
SELECT r.run_id, r.started_at, r.finished_at, r.published_at
FROM pipeline_runs r
WHERE r.status = 'published';
