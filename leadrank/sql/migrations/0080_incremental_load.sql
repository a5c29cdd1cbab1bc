-- 0080_incremental_load: a night writes what changed, not a copy of everything.
--
-- Until now every publish rewrote every lead and every record a source listed (to move their
-- last-seen run) and stored a full copy of every lead’s scores in lead_scores: 1.4 million wide
-- rows a night at a million companies, most of them equal to the night before. From this
-- version on (leadrank.warehouse.load):
--   * leads and lead_records carry a hash of the values a publish writes (content_hash); a row
--     whose hash is unchanged is not written again;
--   * "listed by the latest published run" is a flag (listed) that is written only when it
--     turns on or off; last_seen_run (and leads.last_seen_at) are stored when a row stops being
--     listed, and read through the views as the latest published run’s while it is listed;
--   * scores are versions (score_versions: a lead’s scored values, stored when one of them
--     changed, with the run it took effect, and a tombstone when the lead drops out), and each
--     run keeps only the narrow ranking that moves for most leads whenever one lead enters near
--     the top (lead_ranks: rank, tier and the version). prev_rank, prev_tier and movement are
--     computed by the views from the previous run’s ranking, and the view lead_scores
--     (leadrank/sql/views/lead_scores.sql) gives every run’s rows in the columns of the old table.
-- Existing history migrates: every lead_scores row becomes a version (its run is the one it
-- took effect; without a hash, so the first night after the upgrade stores one new version per
-- lead, and sets the listed flags, once), every lead_dropouts row a tombstone.

-- pipeline_runs.seen_at: when the run recorded what its sources listed (the last_seen_at of the
-- leads it listed; NULL for runs before this version, whose leads store it).
ALTER TABLE pipeline_runs ADD COLUMN seen_at TIMESTAMPTZ;

-- Runs published before 0020 have no base_run_id; a published run’s base is the run published
-- before it (what its movement was computed against), which the views now read.
UPDATE pipeline_runs SET base_run_id = (
    SELECT p.run_id FROM pipeline_runs p
    WHERE p.status = 'published' AND (p.published_at < pipeline_runs.published_at
        OR (p.published_at = pipeline_runs.published_at AND p.run_id < pipeline_runs.run_id))
    ORDER BY p.published_at DESC, p.run_id DESC LIMIT 1)
WHERE status = 'published' AND base_run_id IS NULL;

-- leads.content_hash: hash of every value a publish writes to the row but the run bookkeeping
-- (golden fields, other contacts, status); NULL forces the next publish to write the row.
-- leads.listed: a source listed the lead in the latest published run; then its last_seen_run and
-- last_seen_at are that run’s (run_id, seen_at), else the stored columns say when one last did.
ALTER TABLE leads ADD COLUMN content_hash BIGINT;
ALTER TABLE leads ADD COLUMN listed BOOLEAN NOT NULL DEFAULT FALSE;

-- lead_records.content_hash: hash of the record’s stored values but fetched_at (which moves at
-- every fetch: it is the fetch time of the values stored, stg_prospects keeps every night’s).
-- lead_records.listed: a source listed the record in the latest published run (then its
-- last_seen_run is that run; else the stored column).
ALTER TABLE lead_records ADD COLUMN content_hash BIGINT;
ALTER TABLE lead_records ADD COLUMN listed BOOLEAN NOT NULL DEFAULT FALSE;

-- score_versions: a lead’s scored values, one row per change. A run’s score of a lead is the
-- version its lead_ranks row names; the latest version of a lead (highest version_id) is its
-- current one, or a tombstone (dropped) when it left the list.
CREATE TABLE score_versions (
    version_id          BIGINT PRIMARY KEY,  -- increasing with every version stored
    lead_id             TEXT NOT NULL,
    since_run           TEXT NOT NULL,     -- the run it took effect
    dropped             BOOLEAN NOT NULL DEFAULT FALSE,  -- tombstone: not ranked from since_run on (values NULL)
    score_hash          BIGINT,            -- hash of the values below: an equal one is not stored again
    priority            DOUBLE PRECISION,  -- 0..1, fit and model combined
    fit_score           DOUBLE PRECISION,  -- ratios and segment, 0..1
    model_score         DOUBLE PRECISION,  -- probability of winning; NULL at cold start
    customer_type       TEXT,              -- government | bank_finance | telecom | listed | ...
    channel             TEXT,              -- end_user | channel
    product_line        TEXT,
    key_account         BOOLEAN,           -- estimated monthly volume reaches the threshold
    est_monthly_volume  DOUBLE PRECISION,  -- yuan a month
    segment_score       DOUBLE PRECISION,
    ratio_score         DOUBLE PRECISION,
    ratio_coverage      DOUBLE PRECISION,  -- share of ratio weight backed by data
    current_asset_ratio DOUBLE PRECISION,  -- 流动资产率
    net_margin          DOUBLE PRECISION,  -- 净利润率
    roa                 DOUBLE PRECISION,  -- 资产回报率
    collection_days     DOUBLE PRECISION,  -- 回款周期
    inventory_days      DOUBLE PRECISION,  -- 存货周期
    revenue_growth      DOUBLE PRECISION,
    fin_year            INTEGER,           -- year of the statements used
    risk_flags          TEXT,
    reasons_for         TEXT,              -- JSON: top factors for, {factor, zh, en, impact}
    reasons_against     TEXT,              -- JSON: top factors against
    top_reasons         TEXT               -- the same in words, Chinese and English
);
CREATE UNIQUE INDEX ux_score_versions_lead_run ON score_versions (lead_id, since_run);

-- lead_ranks: every run’s ranked list, narrow: what changes for most leads from one night to
-- the next. The previous run’s rank and tier (prev_rank, prev_tier, movement) are read from its
-- own rows (the run’s base_run_id: the run published before it).
CREATE TABLE lead_ranks (
    run_id      TEXT NOT NULL,
    lead_id     TEXT NOT NULL,
    rank        INTEGER NOT NULL,          -- 1 = call first
    tier        TEXT NOT NULL,             -- A | B | C | D
    version_id  BIGINT NOT NULL,      -- score_versions.version_id: the scores it ranked by
    PRIMARY KEY (run_id, lead_id)
);
CREATE INDEX ix_lead_ranks_run_rank ON lead_ranks (run_id, rank);

INSERT INTO score_versions (version_id, lead_id, since_run, dropped, score_hash, priority, fit_score, model_score,
    customer_type, channel, product_line, key_account, est_monthly_volume, segment_score, ratio_score,
    ratio_coverage, current_asset_ratio, net_margin, roa, collection_days, inventory_days, revenue_growth,
    fin_year, risk_flags, reasons_for, reasons_against, top_reasons)
SELECT ROW_NUMBER() OVER (ORDER BY s.run_id, s.lead_id), s.lead_id, s.run_id, FALSE, NULL, s.priority, s.fit_score,
    s.model_score, s.customer_type, s.channel, s.product_line, s.key_account, s.est_monthly_volume, s.segment_score,
    s.ratio_score, s.ratio_coverage, s.current_asset_ratio, s.net_margin, s.roa, s.collection_days,
    s.inventory_days, s.revenue_growth, s.fin_year, s.risk_flags, s.reasons_for, s.reasons_against, s.top_reasons
FROM lead_scores s;

INSERT INTO score_versions (version_id, lead_id, since_run, dropped)
SELECT (SELECT COUNT(*) FROM lead_scores) + ROW_NUMBER() OVER (ORDER BY d.run_id, d.lead_id), d.lead_id, d.run_id, TRUE
FROM lead_dropouts d;

INSERT INTO lead_ranks (run_id, lead_id, rank, tier, version_id)
SELECT s.run_id, s.lead_id, s.rank, s.tier, v.version_id
FROM lead_scores s JOIN score_versions v ON v.lead_id = s.lead_id AND v.since_run = s.run_id;

-- The full copies go; leadrank/sql/views/lead_scores.sql reads the history in their columns. The
-- views that read them go first (all views are re-created from their files after the migrations,
-- with the grants they had).
DROP VIEW IF EXISTS mart_segment_leads;
DROP VIEW IF EXISTS mart_region_leads;
DROP VIEW IF EXISTS mart_segment_tiers;
DROP VIEW IF EXISTS mart_region_tiers;
DROP VIEW IF EXISTS mart_source_yield;
DROP VIEW IF EXISTS ranked_leads;
DROP TABLE lead_scores;
