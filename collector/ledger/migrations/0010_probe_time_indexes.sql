-- smsprobe ledger, migration 10: probes by planned time. Reports, evidence exports and the
-- time-series arrival windows select probes by planned_at_ns (optionally of one vendor);
-- without these a month's report scanned every probe of the ledger (bench/year_ledger.py
-- measures it at a year of 100 SIMs through 5 vendors).
CREATE INDEX probes_by_planned ON probes (planned_at_ns);
CREATE INDEX probes_by_vendor_planned ON probes (vendor, planned_at_ns);
