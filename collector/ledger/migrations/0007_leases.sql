-- smsprobe ledger, migration 7: several collectors on one ledger. leases: who does the
-- work that must happen once across the group (probing, alerts, the time-series writer),
-- until when, and a fencing token that grows with every new tenure; every write a lease
-- protects checks its token in the same transaction (collector/coordination).
-- alert_deliveries: one row per alert event and webhook, claimed under the alerts lease
-- before the POST and settled after it, so a successor finishes what a dead holder left.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,                            -- probing | alerts | timeseries
    holder TEXT NOT NULL DEFAULT '',                  -- collector instance; '' never held
    token BIGINT NOT NULL DEFAULT 0,                  -- fencing token: +1 per tenure
    acquired_at_ns BIGINT NOT NULL DEFAULT 0,         -- ledger clock (the database's on PostgreSQL)
    renewed_at_ns BIGINT NOT NULL DEFAULT 0,
    expires_at_ns BIGINT NOT NULL DEFAULT 0,          -- 0: released
    previous_holder TEXT NOT NULL DEFAULT ''          -- whom the current tenure followed
);

CREATE TABLE alert_deliveries (
    alert_id BIGINT NOT NULL,
    phase TEXT NOT NULL,                              -- start | end
    url TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',            -- pending | claimed | delivered | failed
    claimed_token BIGINT NOT NULL DEFAULT 0,          -- alerts lease token of the claim
    claimed_by TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,              -- claims so far (a re-claim after a holder died)
    updated_at_ns BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (alert_id, phase, url)
);
CREATE INDEX alert_deliveries_open ON alert_deliveries (state);
