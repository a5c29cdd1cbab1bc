-- 0001_initial: the warehouse, staging → core → marts (dbt-style naming).
-- Portable DDL: the same statements run on SQLite and PostgreSQL (SQLite reads TIMESTAMPTZ,
-- BOOLEAN and DOUBLE PRECISION by affinity; timestamps are ISO-8601 UTC strings there).
-- Every table and column is documented here, beside its definition.

-- pipeline_runs: one row per nightly run. The published marts show the latest run whose
-- status is 'published'; a run that failed or was killed never reaches that status.
CREATE TABLE pipeline_runs (
    run_id        TEXT PRIMARY KEY,        -- 'YYYYmmddTHHMMSSZ-xxxxxx', sortable by start time
    started_at    TIMESTAMPTZ NOT NULL,    -- when the run began
    finished_at   TIMESTAMPTZ,             -- when it published or failed
    status        TEXT NOT NULL,           -- running | published | failed
    published_at  TIMESTAMPTZ,             -- when its marts became the published ones
    config_hash   TEXT,                    -- fingerprint of the sources file used
    flow_run_id   TEXT,                    -- Prefect flow run id, to find the run in the UI
    summary       TEXT                     -- JSON: per-source counts, lead counts, stage times
);

-- stg_source_runs: what each source did in a run (fetched, parsed, failed and why).
CREATE TABLE stg_source_runs (
    run_id        TEXT NOT NULL,           -- pipeline_runs.run_id
    source        TEXT NOT NULL,           -- source name from the sources file
    source_kind   TEXT NOT NULL,           -- exhibition | association | websearch
    status        TEXT NOT NULL,           -- ok | partial | failed | disabled
    pages         INTEGER NOT NULL,        -- documents fetched
    records       INTEGER NOT NULL,        -- records extracted and kept
    rejected      INTEGER NOT NULL,        -- rows quarantined (see stg_rejects)
    reason        TEXT,                    -- why it failed, in words
    seconds       DOUBLE PRECISION,        -- wall time of the source
    PRIMARY KEY (run_id, source)
);

-- stg_prospects: every record every source yielded in a run, values as found, with provenance.
CREATE TABLE stg_prospects (
    run_id           TEXT NOT NULL,        -- pipeline_runs.run_id
    record_key       TEXT NOT NULL,        -- stable identity of the source record across nights
    source           TEXT NOT NULL,        -- source name
    source_kind      TEXT NOT NULL,        -- exhibition | association | websearch
    url              TEXT,                 -- page or API URL the record came from (secrets redacted)
    fetched_at       TIMESTAMPTZ,          -- when that page was fetched
    company_name     TEXT,                 -- name as found
    company_name_alt TEXT,                 -- second name as found (alias / other language)
    website          TEXT,
    phone            TEXT,
    email            TEXT,
    address          TEXT,
    country          TEXT,
    province         TEXT,
    city             TEXT,
    uscc             TEXT,                 -- 统一社会信用代码 as found
    booth            TEXT,
    hall             TEXT,
    products         TEXT,
    member_level     TEXT,                 -- association membership level
    industry         TEXT,
    raw              TEXT,                 -- JSON of every value the source held for the row
    PRIMARY KEY (run_id, record_key)
);

-- stg_rejects: rows that could not be used, with the stage and the reason (nothing is lost silently).
CREATE TABLE stg_rejects (
    run_id        TEXT NOT NULL,           -- pipeline_runs.run_id
    source        TEXT,                    -- source, financials or outcomes file
    stage         TEXT NOT NULL,           -- extract | normalise | financials | outcomes | ...
    row_ref       TEXT,                    -- where: URL and row number, or file:line
    reason        TEXT NOT NULL,           -- why, in words
    raw           TEXT                     -- the row as found (truncated)
);
CREATE INDEX ix_stg_rejects_run ON stg_rejects (run_id);

-- leads: golden records, one per real company, with IDs that never change except by a
-- recorded merge (status 'merged', merged_into the survivor) or split (lead_events).
CREATE TABLE leads (
    lead_id          TEXT PRIMARY KEY,     -- 'L' + 12 hex characters, stable for the lead's life
    status           TEXT NOT NULL,        -- active | merged
    merged_into      TEXT,                 -- survivor lead_id when status = 'merged'
    company_name     TEXT,                 -- display name (Chinese when known)
    company_name_zh  TEXT,
    company_name_en  TEXT,
    name_core        TEXT,                 -- name without legal form and region, for matching
    legal_form       TEXT,                 -- 有限公司, co., ltd, gmbh, ...
    is_branch        BOOLEAN,              -- 分公司 / branch office
    uscc             TEXT,                 -- best 统一社会信用代码 (valid preferred)
    uscc_valid       BOOLEAN,              -- passes the GB 32100-2015 check
    domain           TEXT,                 -- registered domain of the company website
    website          TEXT,
    phone            TEXT,                 -- E.164
    phone_type       TEXT,                 -- mobile | landline | ...
    email            TEXT,                 -- company email preferred over free-mail
    address          TEXT,
    country          TEXT,                 -- ISO 3166 alpha-2
    province         TEXT,
    city             TEXT,
    industry         TEXT,
    products         TEXT,
    member_level     TEXT,
    sources          TEXT,                 -- ';'-joined source names
    source_kinds     TEXT,
    n_sources        INTEGER,
    n_records        INTEGER,
    exhibitions      INTEGER,              -- how many exhibition sources list it
    record_hash      TEXT,                 -- hash of the golden fields: detects updated leads
    first_seen_run   TEXT,                 -- run that created the lead
    last_seen_run    TEXT,                 -- latest run in which a source listed it
    first_seen_at    TIMESTAMPTZ,
    last_seen_at     TIMESTAMPTZ,
    updated_run      TEXT                  -- latest run that changed the golden record
);

-- lead_records: every source record ever seen, linked to its lead, with the normalised fields
-- that matching needs (so tonight's records can match leads not seen tonight).
CREATE TABLE lead_records (
    record_key       TEXT PRIMARY KEY,     -- stg_prospects.record_key
    lead_id          TEXT NOT NULL,        -- leads.lead_id
    source           TEXT NOT NULL,
    source_kind      TEXT NOT NULL,
    url              TEXT,
    fetched_at       TIMESTAMPTZ,          -- when the record was last fetched
    first_seen_run   TEXT NOT NULL,
    last_seen_run    TEXT NOT NULL,
    match_evidence   TEXT,                 -- which evidence joined it to its lead, with the score
    company_name     TEXT, company_name_alt TEXT, website TEXT, phone TEXT, email TEXT,
    address          TEXT, country TEXT, province TEXT, city TEXT, uscc TEXT, booth TEXT,
    hall             TEXT, products TEXT, member_level TEXT, industry TEXT,
    name_norm        TEXT, name_core TEXT, name_alt_core TEXT, name_lang TEXT, legal_form TEXT,
    is_branch        BOOLEAN,
    uscc_norm        TEXT, uscc_valid BOOLEAN,
    phone_e164       TEXT, phone_type TEXT,
    email_norm       TEXT, email_domain TEXT, email_free BOOLEAN,
    domain           TEXT, country_iso2 TEXT, province_norm TEXT, city_norm TEXT, address_norm TEXT,
    flags            TEXT                  -- data-quality flags (uscc_invalid, phone_invalid, ...)
);
CREATE INDEX ix_lead_records_lead ON lead_records (lead_id);

-- lead_events: history of merges and splits, so that an absorbed ID still resolves.
CREATE TABLE lead_events (
    event_id       TEXT PRIMARY KEY,       -- hash of run, kind and both IDs
    run_id         TEXT NOT NULL,
    kind           TEXT NOT NULL,          -- merge | split
    lead_id        TEXT NOT NULL,          -- merge: the survivor; split: the lead split from
    other_lead_id  TEXT NOT NULL,          -- merge: the absorbed ID; split: the new lead
    records        INTEGER,                -- how many records moved
    evidence       TEXT,                   -- the evidence that joined (or no longer joins) them
    at             TIMESTAMPTZ NOT NULL
);

-- lead_scores: every lead's scores in every run (history for movement and audits).
CREATE TABLE lead_scores (
    run_id              TEXT NOT NULL,
    lead_id             TEXT NOT NULL,
    rank                INTEGER NOT NULL,  -- 1 = call first
    tier                TEXT NOT NULL,     -- A | B | C | D
    priority            DOUBLE PRECISION NOT NULL,  -- 0..1, fit and model combined
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
    top_reasons         TEXT,              -- the same in words, Chinese and English
    prev_rank           INTEGER,           -- rank in the previously published run
    movement            TEXT,              -- new | up | down | unchanged
    PRIMARY KEY (run_id, lead_id)
);

-- outcomes: what sales reported (won, lost, contacted), matched to leads; the model learns from it.
CREATE TABLE outcomes (
    outcome_id    TEXT PRIMARY KEY,        -- hash of lead, outcome, date and source file
    lead_id       TEXT NOT NULL,
    outcome       TEXT NOT NULL,           -- won | lost | contacted
    outcome_date  TEXT,                    -- YYYY-MM-DD
    owner         TEXT,                    -- salesperson
    company_name  TEXT,                    -- as given in the CRM file
    uscc          TEXT,
    source_file   TEXT,
    imported_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_outcomes_lead ON outcomes (lead_id);

-- model_versions: every trained model with its validation metrics and training summary.
CREATE TABLE model_versions (
    model_id      TEXT PRIMARY KEY,
    run_id        TEXT,                    -- run that trained it
    trained_at    TIMESTAMPTZ NOT NULL,
    status        TEXT NOT NULL,           -- trained | cold_start
    metrics       TEXT,                    -- JSON: auc, precision_at_10pct, brier, validation, counts
    reason        TEXT                     -- why there is no model (cold start), in words
);

-- ranked_leads (mart): the latest published run's ranked list, what sales read.
CREATE VIEW ranked_leads AS
SELECT
    s.rank, s.lead_id, l.company_name, l.company_name_en, s.customer_type AS segment, s.product_line,
    l.province, l.city, l.website, l.phone, l.email, s.priority, s.tier, s.fit_score, s.model_score,
    s.top_reasons, s.reasons_for, s.reasons_against, s.movement, s.prev_rank, s.key_account,
    s.est_monthly_volume, l.uscc, l.sources, l.first_seen_at, s.run_id
FROM lead_scores s
JOIN leads l ON l.lead_id = s.lead_id
WHERE s.run_id = (
    SELECT r.run_id FROM pipeline_runs r
    WHERE r.status = 'published'
    ORDER BY r.published_at DESC, r.run_id DESC
    LIMIT 1
);
