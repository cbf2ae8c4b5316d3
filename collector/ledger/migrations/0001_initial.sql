-- smsprobe ledger, migration 1: agents, modems, SIMs, ingested records, gaps, quarantine.
-- Portable SQL for SQLite and PostgreSQL. Tokens rendered per backend (migrations/__init__.py):
--   {autoid}  integer primary key that numbers itself
--   {idkey}   integer primary key the ledger assigns (SQLite: the rowid itself)
--   {blob}    raw bytes (BLOB / BYTEA)
--   {double}  IEEE double
-- A statement starting "@postgresql " or "@sqlite " runs on that backend only.
-- Booleans are INTEGER 0/1 on both. Times are BIGINT ns since the epoch; names say whose
-- clock (collector or agent). Statements end with ";" at the end of a line.

CREATE TABLE agents (
    agent_id TEXT PRIMARY KEY,
    site TEXT NOT NULL DEFAULT '',
    region TEXT NOT NULL DEFAULT '',
    software_version TEXT NOT NULL DEFAULT '',
    capabilities TEXT NOT NULL DEFAULT '',          -- newline separated
    first_registered_at_ns BIGINT NOT NULL DEFAULT 0, -- collector clock
    registered_at_ns BIGINT NOT NULL DEFAULT 0,       -- collector clock, latest
    last_seen_ns BIGINT NOT NULL DEFAULT 0,           -- collector clock
    connected INTEGER NOT NULL DEFAULT 0,
    peer TEXT NOT NULL DEFAULT '',
    clock_offset_ms {double} NOT NULL DEFAULT 0,
    clock_uncertainty_ms {double},                    -- NULL: never measured
    outbox_depth BIGINT NOT NULL DEFAULT 0,
    oldest_pending_ns BIGINT NOT NULL DEFAULT 0,      -- agent clock
    reported_last_seq BIGINT NOT NULL DEFAULT 0,
    seq_epoch INTEGER NOT NULL DEFAULT 0,
    max_seq BIGINT NOT NULL DEFAULT 0,
    max_seq_persisted_ns BIGINT NOT NULL DEFAULT 0,
    committed_seq BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE modems (
    agent_id TEXT NOT NULL,
    imei TEXT NOT NULL,
    manufacturer TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    firmware TEXT NOT NULL DEFAULT '',
    port TEXT NOT NULL DEFAULT '',
    profile TEXT NOT NULL DEFAULT '',
    present INTEGER NOT NULL DEFAULT 1,
    iccid TEXT NOT NULL DEFAULT '',                   -- SIM in it at the latest registration
    first_seen_ns BIGINT NOT NULL DEFAULT 0,
    last_registered_ns BIGINT NOT NULL DEFAULT 0,
    last_health_at_ns BIGINT NOT NULL DEFAULT 0,      -- agent clock; 0: none yet
    last_healthy INTEGER NOT NULL DEFAULT 0,
    last_rssi_dbm {double},
    last_registration INTEGER NOT NULL DEFAULT 0,
    last_reasons TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (agent_id, imei)
);

CREATE TABLE sims (
    iccid TEXT PRIMARY KEY,
    imsi TEXT NOT NULL DEFAULT '',
    msisdn TEXT NOT NULL DEFAULT '',
    operator_mcc_mnc TEXT NOT NULL DEFAULT '',
    carrier TEXT NOT NULL DEFAULT '',
    mvno TEXT NOT NULL DEFAULT '',
    registered_mcc_mnc TEXT NOT NULL DEFAULT '',
    agent_id TEXT NOT NULL DEFAULT '',
    modem_imei TEXT NOT NULL DEFAULT '',
    last_seen_ns BIGINT NOT NULL DEFAULT 0
);

-- One row per ingested record; uuid is the idempotency key (agent.proto Record.uuid).
-- Detail tables reference the integer id, not the uuid: ids grow monotonically, so only
-- one index (the uuid) takes random inserts, which keeps the WAL written per batch small.
@postgresql CREATE SEQUENCE records_id_seq;

CREATE TABLE records (
    id {idkey},
    uuid TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    seq_epoch INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    persisted_at_ns BIGINT NOT NULL,
    clock_offset_ms {double} NOT NULL,
    clock_uncertainty_ms {double},
    clock_measured_at_ns BIGINT NOT NULL,
    modem_imei TEXT NOT NULL,
    iccid TEXT NOT NULL,
    ingested_at_ns BIGINT NOT NULL
);

CREATE UNIQUE INDEX records_uuid ON records (uuid);

CREATE TABLE sms (
    record_id BIGINT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    received_at_ns BIGINT NOT NULL,                   -- agent clock, first part
    msisdn TEXT NOT NULL,
    smsc TEXT NOT NULL,
    sender TEXT NOT NULL,
    sender_ton INTEGER NOT NULL,
    text TEXT NOT NULL,
    encoding TEXT NOT NULL,
    message_class INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    dcs INTEGER NOT NULL,
    concat_ref INTEGER NOT NULL,
    concat_total INTEGER NOT NULL,
    partial INTEGER NOT NULL,
    missing_parts TEXT NOT NULL,                      -- comma separated
    undecodable INTEGER NOT NULL,
    user_data {blob} NOT NULL
);

CREATE INDEX sms_received_at ON sms (received_at_ns);

CREATE TABLE sms_parts (
    record_id BIGINT NOT NULL,
    position INTEGER NOT NULL,
    uuid TEXT NOT NULL,
    raw_pdu {blob} NOT NULL,
    storage TEXT NOT NULL,
    storage_index INTEGER NOT NULL,
    received_at_ns BIGINT NOT NULL,
    scts_ns BIGINT NOT NULL,
    scts_tz_minutes INTEGER NOT NULL,
    part_seq INTEGER NOT NULL,
    decode_error TEXT NOT NULL,
    PRIMARY KEY (record_id, position)
);

CREATE TABLE status_reports (
    record_id BIGINT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    raw_pdu {blob} NOT NULL,
    storage TEXT NOT NULL,
    storage_index INTEGER NOT NULL,
    received_at_ns BIGINT NOT NULL,
    recipient TEXT NOT NULL,
    message_reference INTEGER NOT NULL,
    status INTEGER NOT NULL,
    scts_ns BIGINT NOT NULL,
    discharge_time_ns BIGINT NOT NULL,
    decode_error TEXT NOT NULL
);

CREATE INDEX status_reports_received_at ON status_reports (received_at_ns);

CREATE TABLE modem_health (
    record_id BIGINT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    modem_imei TEXT NOT NULL,
    at_ns BIGINT NOT NULL,
    responding INTEGER NOT NULL,
    rssi_dbm {double},                                -- NULL: unknown (NaN on the wire)
    ber INTEGER NOT NULL,
    registration INTEGER NOT NULL,
    rat TEXT NOT NULL,
    operator_mcc_mnc TEXT NOT NULL,
    sim_state TEXT NOT NULL,
    storage_used INTEGER NOT NULL,
    storage_total INTEGER NOT NULL,
    healthy INTEGER NOT NULL,
    reasons TEXT NOT NULL,                            -- comma separated codes
    last_sms_at_ns BIGINT NOT NULL,
    iccid TEXT NOT NULL
);

CREATE INDEX modem_health_imei_at ON modem_health (modem_imei, at_ns);

CREATE TABLE canaries (
    record_id BIGINT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    canary_id TEXT NOT NULL,
    sent_at_ns BIGINT NOT NULL,
    to_msisdn TEXT NOT NULL,
    message_references TEXT NOT NULL,
    error TEXT NOT NULL,
    text TEXT NOT NULL
);

CREATE INDEX canaries_sent_at ON canaries (sent_at_ns);

-- Collector-observed events and uploaded AgentEvent records (source says which clock).
CREATE TABLE events (
    id {autoid},
    agent_id TEXT NOT NULL,
    at_ns BIGINT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    modem_imei TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    attributes TEXT NOT NULL DEFAULT '{}',            -- JSON object of strings
    record_uuid TEXT NOT NULL DEFAULT ''
);

CREATE INDEX events_agent_at ON events (agent_id, at_ns);

-- Open not-measured spans: seqs that never arrived (ingest.advance_seq).
CREATE TABLE gaps (
    agent_id TEXT NOT NULL,
    seq_epoch INTEGER NOT NULL,
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    start_ns BIGINT NOT NULL,
    end_ns BIGINT NOT NULL,
    detected_at_ns BIGINT NOT NULL,
    PRIMARY KEY (agent_id, seq_epoch, first_seq)
);

CREATE TABLE quarantine (
    id {autoid},
    agent_id TEXT NOT NULL,
    uuid TEXT NOT NULL,
    seq BIGINT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    raw {blob} NOT NULL,
    digest TEXT NOT NULL,                             -- sha256 of uuid, seq, reason, raw
    received_at_ns BIGINT NOT NULL                    -- collector clock
);

CREATE UNIQUE INDEX quarantine_agent_digest ON quarantine (agent_id, digest);
