-- smsprobe ledger, migration 25: each verdict carries copies of what the report command's
-- two reads of a period's failed verdicts take of their probes, so that neither reads the
-- probes' rows: the channel read of the failed attempts (Ledger.route_run_rows,
-- collector/ledger/sql/route_runs.py) and the billing statement's listing of over-charged
-- probes (Ledger.charge_rows, collector/ledger/sql/charges.py). Those rows are wide (texts,
-- raw requests) and lie all over the ledger: each read of a month's 124,533 failures read
-- 2.7 GB from a cold disk (measured); their verdicts' index range is a few MB.
-- vendor, carrier, profile, parts: the probe's (set when it is planned, never changed);
-- submit_status, billed_parts: as the probe has them now; sent_at_ns: its attempt's time as
-- the route index has it (the submit time, else the planned time), NULL while the probe is
-- still planned (not an attempt). Written with every verdict and again wherever the
-- probe's change (Ledger.save_verdicts, record_submission, attribute_dlrs); a verdict
-- without a probe row keeps the defaults (its planned time is 0: no period reads it).
ALTER TABLE verdicts ADD COLUMN vendor TEXT NOT NULL DEFAULT '';
ALTER TABLE verdicts ADD COLUMN carrier TEXT NOT NULL DEFAULT '';
ALTER TABLE verdicts ADD COLUMN profile TEXT NOT NULL DEFAULT '';
ALTER TABLE verdicts ADD COLUMN parts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE verdicts ADD COLUMN submit_status TEXT NOT NULL DEFAULT '';
ALTER TABLE verdicts ADD COLUMN billed_parts INTEGER;
ALTER TABLE verdicts ADD COLUMN sent_at_ns BIGINT;
@sqlite UPDATE verdicts SET (vendor, carrier, profile, parts, submit_status, billed_parts,
    sent_at_ns) = (SELECT p.vendor, p.carrier, p.profile, p.parts, p.submit_status,
    p.billed_parts, CASE WHEN p.submit_status = 'planned' THEN NULL
    WHEN p.submitted_at_ns <> 0 THEN p.submitted_at_ns ELSE p.planned_at_ns END
    FROM probes p WHERE p.probe_id = verdicts.probe_id)
    WHERE EXISTS (SELECT 1 FROM probes p WHERE p.probe_id = verdicts.probe_id);
@postgresql UPDATE verdicts v SET vendor = p.vendor, carrier = p.carrier,
    profile = p.profile, parts = p.parts, submit_status = p.submit_status,
    billed_parts = p.billed_parts,
    sent_at_ns = CASE WHEN p.submit_status = 'planned' THEN NULL
    WHEN p.submitted_at_ns <> 0 THEN p.submitted_at_ns ELSE p.planned_at_ns END
    FROM probes p WHERE p.probe_id = v.probe_id;
-- On SQLite the index covers both reads (no verdict row read either); the leading columns
-- are 0019's, so every other read of it is as before. PostgreSQL keeps 0019's index and
-- reads the range's verdict rows, written in about the order of their planned times.
@sqlite DROP INDEX verdicts_by_outcome;
@sqlite CREATE INDEX verdicts_by_outcome ON verdicts (outcome, planned_at_ns, probe_id,
    dlr_claim, missing_parts, vendor, carrier, profile, parts, submit_status, billed_parts,
    sent_at_ns);
