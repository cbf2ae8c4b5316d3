-- smsprobe ledger, migration 6: the collector's own health, so a monitoring system that
-- stops looking says so. collector_units: the latest state of every supervised unit
-- (vendor:<name>, service:<name>) of each collector instance, with a heartbeat that moves
-- while the instance runs (`smsprobe-collector status` reads it from another process).
-- unmeasured_spans: windows in which a vendor was not measured (its unit, the scheduler or
-- the judge not running, or the collector itself down); reports and alerts read them.
CREATE TABLE collector_units (
    instance TEXT NOT NULL,
    unit TEXT NOT NULL,                               -- vendor:acme | service:judge
    state TEXT NOT NULL,                              -- starting | running | backoff | failed | stopped
    since_ns BIGINT NOT NULL,                         -- collector clock: in this state since
    heartbeat_ns BIGINT NOT NULL,                     -- collector clock: last written
    failures INTEGER NOT NULL DEFAULT 0,              -- consecutive
    restarts INTEGER NOT NULL DEFAULT 0,              -- since the instance started
    last_error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (instance, unit)
);

CREATE TABLE unmeasured_spans (
    span_id {autoid},
    instance TEXT NOT NULL,
    vendor TEXT NOT NULL,
    cause TEXT NOT NULL,                              -- the unit that was not running, or collector
    reason TEXT NOT NULL DEFAULT '',
    start_ns BIGINT NOT NULL,
    end_ns BIGINT NOT NULL DEFAULT 0                  -- 0 while open
);
CREATE INDEX unmeasured_by_vendor ON unmeasured_spans (vendor, start_ns);
CREATE INDEX unmeasured_open ON unmeasured_spans (instance, end_ns);
