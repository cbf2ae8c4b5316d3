-- smsprobe ledger, migration 12: periods and bursts (docs/periods.md).
-- quiet_suppressions: one row each time the scheduler held a marketing lane back because
-- the local time was outside its marketing hours, so the report can count them per vendor
-- and profile (the scheduler keeps no other trace once it restarts). Keyed by lane and
-- time: a retried write adds nothing.
-- burst_requests: one-off stress bursts asked for by `smsprobe-collector burst`; the
-- scheduler of the collector holding the probing lease picks a pending one up at its time
-- (state pending -> started -> done, or expired/refused with a note), so the burst is sent
-- by the process whose vendors and webhooks receive its answers.
CREATE TABLE quiet_suppressions (
    vendor TEXT NOT NULL,
    msisdn TEXT NOT NULL,
    profile TEXT NOT NULL,
    at_ns BIGINT NOT NULL,                            -- collector clock: when it was held back
    local_day TEXT NOT NULL,                          -- YYYY-MM-DD in the [probes] zone
    resume_at_ns BIGINT NOT NULL,                     -- when the lane was due again
    PRIMARY KEY (vendor, msisdn, profile, at_ns)
);
CREATE INDEX quiet_suppressions_by_time ON quiet_suppressions (at_ns);

CREATE TABLE burst_requests (
    name TEXT PRIMARY KEY,                            -- the burst name in its probe ids
    vendor TEXT NOT NULL,
    profile TEXT NOT NULL,
    probe_count INTEGER NOT NULL,
    within_s {double} NOT NULL,
    at_ns BIGINT NOT NULL,                            -- when it is to start (collector clock)
    budget {double} NOT NULL,
    max_attempts INTEGER NOT NULL DEFAULT 1,
    requested_at_ns BIGINT NOT NULL,
    requested_by TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'pending',            -- pending|started|done|expired|refused
    started_at_ns BIGINT NOT NULL DEFAULT 0,
    started_by TEXT NOT NULL DEFAULT '',              -- the collector instance that sent it
    sent INTEGER NOT NULL DEFAULT 0,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX burst_requests_by_state ON burst_requests (state, at_ns);
