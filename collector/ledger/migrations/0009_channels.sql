-- smsprobe ledger, migration 9: the channels a vendor uses, as its arrivals show them
-- (collector/channels). channel_observations: one row per arrived probe with the channel
-- fingerprint of what reached the SIM (sender code, SMSC address from the PDU, TP-PID,
-- TP-DCS) and its latency; channel changes and switch-over times are computed from them.
-- failover_sends: probes the collector sent through a route group's backup because the
-- primary was judged degraded (the buyer's failover), so the failover can be measured.
CREATE TABLE channel_observations (
    probe_id TEXT PRIMARY KEY,
    vendor TEXT NOT NULL,
    carrier TEXT NOT NULL DEFAULT '',
    profile TEXT NOT NULL DEFAULT '',
    submitted_at_ns BIGINT NOT NULL,                  -- collector clock
    arrived_at_ns BIGINT NOT NULL,                    -- collector clock (agent time + offset)
    latency_s {double},
    sender TEXT NOT NULL DEFAULT '',                  -- TP-OA: the 106 number with its extension
    smsc TEXT NOT NULL DEFAULT '',                    -- the SMSC address field of the PDU
    pid INTEGER NOT NULL DEFAULT 0,                   -- TP-PID (TS 23.040 §9.2.3.9)
    dcs INTEGER NOT NULL DEFAULT 0,                   -- TP-DCS (TS 23.038 §4)
    record_uuid TEXT NOT NULL DEFAULT ''              -- the SMS record it was read from
);
CREATE INDEX channel_observations_by_vendor ON channel_observations (vendor, carrier, arrived_at_ns);

CREATE TABLE failover_sends (
    probe_id TEXT PRIMARY KEY,                        -- the probe sent through the backup
    route_group TEXT NOT NULL,
    primary_vendor TEXT NOT NULL,
    backup_vendor TEXT NOT NULL,
    carrier TEXT NOT NULL DEFAULT '',
    profile TEXT NOT NULL DEFAULT '',
    at_ns BIGINT NOT NULL                             -- collector clock: when it was planned
);
CREATE INDEX failover_sends_by_time ON failover_sends (at_ns);
