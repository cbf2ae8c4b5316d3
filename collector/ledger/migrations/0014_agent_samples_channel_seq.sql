-- smsprobe ledger, migration 14: what the time series are derived from must be kept.
-- agent_samples: the agent's own view (outbox, clock) and whether it was connected, one
-- row each time the ledger's agents row changes (touch_agent, set_connected, register_agent,
-- release_connections). The agents row keeps only the latest; the `agent` series is written
-- from these rows (cursor over sample_id), so a backfill rebuilds it point for point.
-- unit_changes: every change of a collector unit's state, failures or restarts
-- (save_health), for the `collector_unit` series; collector_units keeps only the latest.
-- channel_observations.seq: grows on every write (as verdicts.change_seq), the cursor of
-- the `channel` series; rows kept before this migration are numbered in arrival order.
CREATE TABLE agent_samples (
    sample_id {autoid},
    agent_id TEXT NOT NULL,
    site TEXT NOT NULL DEFAULT '',                    -- as registered then (a series tag)
    at_ns BIGINT NOT NULL,                            -- collector clock
    connected INTEGER NOT NULL DEFAULT 0,
    outbox_depth BIGINT NOT NULL DEFAULT 0,
    oldest_pending_ns BIGINT NOT NULL DEFAULT 0,      -- agent clock
    clock_offset_ms {double} NOT NULL DEFAULT 0,
    clock_uncertainty_ms {double}                     -- NULL: never measured
);
CREATE INDEX agent_samples_by_agent ON agent_samples (agent_id, sample_id);

CREATE TABLE unit_changes (
    change_id {autoid},
    instance TEXT NOT NULL,
    unit TEXT NOT NULL,                               -- vendor:acme | service:judge
    state TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    restarts INTEGER NOT NULL DEFAULT 0,
    at_ns BIGINT NOT NULL                             -- collector clock: since_ns of a new state
);

ALTER TABLE channel_observations ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
@sqlite UPDATE channel_observations SET seq = (SELECT COUNT(*) FROM channel_observations c
    WHERE c.arrived_at_ns < channel_observations.arrived_at_ns
    OR (c.arrived_at_ns = channel_observations.arrived_at_ns
        AND c.probe_id <= channel_observations.probe_id));
@postgresql UPDATE channel_observations o SET seq = n.rn FROM (SELECT probe_id,
    ROW_NUMBER() OVER (ORDER BY arrived_at_ns, probe_id) AS rn FROM channel_observations) n
    WHERE o.probe_id = n.probe_id;
CREATE INDEX channel_observations_by_seq ON channel_observations (seq);
