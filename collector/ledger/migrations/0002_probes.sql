-- smsprobe ledger, migration 2: probes, submissions, DLRs, verdicts and their revisions,
-- cursors (time-series high-water marks) and alerts. Same tokens as 0001.

CREATE TABLE probes (
    probe_id TEXT PRIMARY KEY,
    vendor TEXT NOT NULL,
    msisdn TEXT NOT NULL,
    carrier TEXT NOT NULL DEFAULT '',
    mvno TEXT NOT NULL DEFAULT '',
    region TEXT NOT NULL DEFAULT '',
    site TEXT NOT NULL DEFAULT '',
    agent_id TEXT NOT NULL DEFAULT '',
    modem_imei TEXT NOT NULL DEFAULT '',
    iccid TEXT NOT NULL DEFAULT '',
    profile TEXT NOT NULL,
    band TEXT NOT NULL DEFAULT '',
    token TEXT NOT NULL,
    body TEXT NOT NULL,                               -- text submitted (template rendered)
    signature TEXT NOT NULL DEFAULT '',
    expected_text TEXT NOT NULL,                      -- what a faithful route delivers
    parts INTEGER NOT NULL DEFAULT 1,                 -- billed parts (70/67 rule, signature included)
    cost {double} NOT NULL DEFAULT 0,
    planned_at_ns BIGINT NOT NULL,                    -- collector clock
    submit_status TEXT NOT NULL DEFAULT 'planned',    -- planned | accepted | rejected | ambiguous
    submitted_at_ns BIGINT NOT NULL DEFAULT 0,        -- collector clock, request sent
    answered_at_ns BIGINT NOT NULL DEFAULT 0,         -- collector clock, response received
    vendor_message_ids TEXT NOT NULL DEFAULT '',      -- newline separated, one per part where given
    error_kind TEXT NOT NULL DEFAULT '',
    error_detail TEXT NOT NULL DEFAULT '',
    raw_request {blob},
    raw_response {blob},
    final INTEGER NOT NULL DEFAULT 0                  -- 1: past the DLR window, verdict fixed
);
CREATE INDEX probes_by_msisdn ON probes (msisdn, submitted_at_ns);
CREATE INDEX probes_open ON probes (final, submitted_at_ns);
CREATE INDEX probes_by_vendor ON probes (vendor, submitted_at_ns);

CREATE TABLE dlrs (
    dlr_id {autoid},
    vendor TEXT NOT NULL,
    message_id TEXT NOT NULL,
    status TEXT NOT NULL,                             -- normalised (DELIVRD, UNDELIV, ...)
    vendor_status_raw TEXT NOT NULL DEFAULT '',
    err TEXT NOT NULL DEFAULT '',
    done_at_ns BIGINT NOT NULL DEFAULT 0,             -- vendor's claim, 0 when absent
    received_at_ns BIGINT NOT NULL,                   -- collector clock
    source TEXT NOT NULL DEFAULT '',                  -- push | pull | smpp
    raw {blob},
    dedupe_key TEXT NOT NULL UNIQUE,
    copies INTEGER NOT NULL DEFAULT 1,                -- the vendor sent the same report again
    probe_id TEXT,                                    -- attributed probe; NULL until matched
    id_rule TEXT NOT NULL DEFAULT ''                  -- which id rule matched (correlation.match)
);
CREATE INDEX dlrs_by_probe ON dlrs (probe_id);
CREATE INDEX dlrs_unattributed ON dlrs (vendor, probe_id);

CREATE TABLE verdicts (
    probe_id TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    judged_at_ns BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    dlr TEXT NOT NULL,
    dlr_claim TEXT NOT NULL,
    content TEXT NOT NULL,
    content_diff TEXT NOT NULL DEFAULT '',
    latency_s {double},
    latency_uncertainty_s {double},
    vendor_delay_s {double},
    carrier_delay_s {double},
    sender TEXT NOT NULL DEFAULT '',
    duplicates INTEGER NOT NULL DEFAULT 0,
    missing_parts TEXT NOT NULL DEFAULT '',
    reasons TEXT NOT NULL DEFAULT '',
    arrival_uuids TEXT NOT NULL DEFAULT '',
    change_seq BIGINT NOT NULL                        -- grows on every write: time-series cursor
);
CREATE INDEX verdicts_by_change ON verdicts (change_seq);

CREATE TABLE verdict_revisions (
    rev_id {autoid},
    probe_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    at_ns BIGINT NOT NULL,
    old_outcome TEXT NOT NULL,
    new_outcome TEXT NOT NULL,
    old_dlr TEXT NOT NULL,
    new_dlr TEXT NOT NULL,
    old_content TEXT NOT NULL,
    new_content TEXT NOT NULL
);
CREATE INDEX verdict_revisions_by_probe ON verdict_revisions (probe_id);

CREATE TABLE cursors (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    updated_at_ns BIGINT NOT NULL
);

CREATE TABLE alerts (
    alert_id {autoid},
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,                            -- canonical JSON of the subject
    started_at_ns BIGINT NOT NULL,
    ended_at_ns BIGINT NOT NULL DEFAULT 0,            -- 0: still open
    figures TEXT NOT NULL DEFAULT '{}',
    end_figures TEXT NOT NULL DEFAULT '{}',
    notified TEXT NOT NULL DEFAULT ''                 -- webhook delivery results
);
CREATE INDEX alerts_open ON alerts (ended_at_ns);
