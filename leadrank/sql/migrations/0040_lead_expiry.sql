-- 0040_lead_expiry: leads that no source lists any more drop out.
--
-- A source record is current while a source listed it in one of the last N nights (the config key
-- lead_expiry_nights, default 3: tonight and the two published runs before). Only current records
-- feed the golden record, so its `sources` lists only sources that still list it; a lead
-- with no current record expires: it leaves ranked_leads and is recorded once in lead_dropouts
-- with reason expired. Its records stay linked to it, so a company listed again later gets its
-- old lead ID back (status active again).
--
-- leads.status: active | merged | expired (no source has listed it for lead_expiry_nights nights).
-- lead_dropouts.reason: merged | not_ranked | expired (no source has listed it for
-- lead_expiry_nights nights; leads.last_seen_at says when one last did).

-- lead_records.expired: no source has listed the record for lead_expiry_nights nights; it no
-- longer feeds its lead (golden fields, contacts) or its source yield. Set at every publish.
ALTER TABLE lead_records ADD COLUMN expired BOOLEAN NOT NULL DEFAULT FALSE;

-- The views that read it (mart_source_yield counts only records that have not expired;
-- mart_dropped_leads adds last_seen_at) are in leadrank/sql/views/, re-created after migrations.
