-- smsprobe ledger, migration 19: what the report's channel read (Ledger.route_run_rows,
-- collector/ledger/sql/route_runs.py) looks up instead of passing over every probe of the
-- period: the failed verdicts and the refusals (a few in a hundred), and each route's
-- attempts in submit order (the submit time, else the planned time; ties by planned time
-- and id) to find the attempt next to a failure.
CREATE INDEX verdicts_by_outcome ON verdicts (outcome, probe_id);
CREATE INDEX probes_refused ON probes (planned_at_ns) WHERE submit_status = 'rejected';
-- The id in byte order on PostgreSQL as on SQLite (the read orders ids as Python does);
-- the columns after it make the index cover the read on SQLite.
@sqlite CREATE INDEX probes_by_route_sent ON probes (vendor, carrier,
    (CASE WHEN submitted_at_ns <> 0 THEN submitted_at_ns ELSE planned_at_ns END),
    planned_at_ns, probe_id, submitted_at_ns, submit_status, error_kind);
@postgresql CREATE INDEX probes_by_route_sent ON probes (vendor, carrier,
    (CASE WHEN submitted_at_ns <> 0 THEN submitted_at_ns ELSE planned_at_ns END),
    planned_at_ns, probe_id COLLATE "C", submitted_at_ns, submit_status, error_kind);
