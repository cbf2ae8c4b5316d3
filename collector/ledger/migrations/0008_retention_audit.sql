-- smsprobe ledger, migration 8: retention (storage minimisation) and the operators' audit log.
-- Retention masks or purges message texts, MSISDNs and raw bytes (PDUs, signed records,
-- vendor exchanges) after a configured age; rows, verdicts and aggregates stay.
-- `minimised` lists what was done to the row (comma separated: text, msisdn, raw, each with
-- ":mask" or ":purge"), `minimised_at_ns` when (collector clock), so a report or an evidence
-- bundle made later shows it instead of passing a masked value for a fact.
-- records.raw_sha256: hex SHA-256 of the signed record, kept when `raw` is purged, so the
-- record an older evidence bundle quotes can still be matched to the ledger row.
ALTER TABLE records ADD COLUMN raw_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE records ADD COLUMN minimised TEXT NOT NULL DEFAULT '';
ALTER TABLE records ADD COLUMN minimised_at_ns BIGINT NOT NULL DEFAULT 0;
ALTER TABLE probes ADD COLUMN minimised TEXT NOT NULL DEFAULT '';
ALTER TABLE probes ADD COLUMN minimised_at_ns BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dlrs ADD COLUMN minimised_at_ns BIGINT NOT NULL DEFAULT 0;
CREATE INDEX probes_planned ON probes (planned_at_ns);

-- Operator actions: evidence exports, config reloads, deny-list changes, retention runs,
-- certificate issues. Kept for good (the audit trail is not subject to retention).
CREATE TABLE audit_log (
    audit_id {autoid},
    at_ns BIGINT NOT NULL,                            -- collector clock
    kind TEXT NOT NULL,                               -- evidence_export | config_reload | ...
    actor TEXT NOT NULL,                              -- OS user (and the sudo user behind it)
    host TEXT NOT NULL DEFAULT '',
    summary TEXT NOT NULL DEFAULT '',
    arguments TEXT NOT NULL DEFAULT '{}',             -- JSON object
    outcome TEXT NOT NULL DEFAULT 'ok'                -- ok | failed: <why>
);
CREATE INDEX audit_by_time ON audit_log (at_ns);
CREATE INDEX audit_by_kind ON audit_log (kind, at_ns);
