-- smsprobe ledger, migration 25: each verdict carries its probe's route and attempt time,
-- copies the channel read of a period's failed attempts (Ledger.route_run_rows,
-- collector/ledger/sql/route_runs.py) takes from the verdict instead of from each failed
-- probe's row. Those rows are wide (texts, raw requests) and lie all over the ledger: a
-- month's 124,533 failures read 2.7 GB from a cold disk (measured), their verdicts' index
-- range a few MB.
-- vendor, carrier: the probe's (set when it is planned, never changed); sent_at_ns: its
-- attempt's time as the route index has it (the submit time, else the planned time), NULL
-- while the probe is still planned (not an attempt). Written with every verdict and again
-- by every submission record (save_verdicts, record_submission); a verdict without a probe
-- row keeps '' and NULL (its planned time is 0: no period reads it).
ALTER TABLE verdicts ADD COLUMN vendor TEXT NOT NULL DEFAULT '';
ALTER TABLE verdicts ADD COLUMN carrier TEXT NOT NULL DEFAULT '';
ALTER TABLE verdicts ADD COLUMN sent_at_ns BIGINT;
@sqlite UPDATE verdicts SET (vendor, carrier, sent_at_ns) = (SELECT p.vendor, p.carrier,
    CASE WHEN p.submit_status = 'planned' THEN NULL WHEN p.submitted_at_ns <> 0
    THEN p.submitted_at_ns ELSE p.planned_at_ns END FROM probes p
    WHERE p.probe_id = verdicts.probe_id)
    WHERE EXISTS (SELECT 1 FROM probes p WHERE p.probe_id = verdicts.probe_id);
@postgresql UPDATE verdicts v SET vendor = p.vendor, carrier = p.carrier,
    sent_at_ns = CASE WHEN p.submit_status = 'planned' THEN NULL WHEN p.submitted_at_ns <> 0
    THEN p.submitted_at_ns ELSE p.planned_at_ns END
    FROM probes p WHERE p.probe_id = v.probe_id;
-- On SQLite the index covers the read (no verdict row read either); the leading columns
-- are 0019's, so every other read of it is as before. PostgreSQL keeps 0019's index and
-- reads the range's verdict rows, written in about the order of their planned times.
@sqlite DROP INDEX verdicts_by_outcome;
@sqlite CREATE INDEX verdicts_by_outcome ON verdicts (outcome, planned_at_ns, probe_id,
    dlr_claim, missing_parts, vendor, carrier, sent_at_ns);
