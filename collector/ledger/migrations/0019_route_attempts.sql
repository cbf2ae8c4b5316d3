-- smsprobe ledger, migration 19: what the report's channel read (Ledger.route_run_rows,
-- collector/ledger/sql/route_runs.py) looks up instead of passing over every probe of the
-- period: the failed verdicts and the refusals (a few in a hundred), and each route's
-- attempts in submit order (the submit time, else the planned time; ties by planned time
-- and id) to find the attempt next to a failure.
-- verdicts.planned_at_ns: its probe's planned time (never changes), written with every
-- verdict (save_verdicts), so a period's failed verdicts are a range of the index per
-- outcome instead of every failure of the ledger. Kept verdicts get theirs here (0 for
-- one without a probe row, which no period read finds); PostgreSQL then drops the
-- default, so a writer that leaves the column out fails instead of hiding a failure.
ALTER TABLE verdicts ADD COLUMN planned_at_ns BIGINT NOT NULL DEFAULT 0;
@sqlite UPDATE verdicts SET planned_at_ns = COALESCE((SELECT p.planned_at_ns FROM probes p
    WHERE p.probe_id = verdicts.probe_id), 0);
@postgresql UPDATE verdicts v SET planned_at_ns = p.planned_at_ns FROM probes p
    WHERE p.probe_id = v.probe_id;
@postgresql ALTER TABLE verdicts ALTER COLUMN planned_at_ns DROP DEFAULT;
CREATE INDEX verdicts_by_outcome ON verdicts (outcome, planned_at_ns, probe_id);
CREATE INDEX probes_refused ON probes (planned_at_ns) WHERE submit_status = 'rejected';
-- The id in byte order on PostgreSQL as on SQLite (the read orders ids as Python does);
-- the columns after it make the index cover the read on SQLite.
@sqlite CREATE INDEX probes_by_route_sent ON probes (vendor, carrier,
    (CASE WHEN submitted_at_ns <> 0 THEN submitted_at_ns ELSE planned_at_ns END),
    planned_at_ns, probe_id, submitted_at_ns, submit_status, error_kind);
@postgresql CREATE INDEX probes_by_route_sent ON probes (vendor, carrier,
    (CASE WHEN submitted_at_ns <> 0 THEN submitted_at_ns ELSE planned_at_ns END),
    planned_at_ns, probe_id COLLATE "C", submitted_at_ns, submit_status, error_kind);
