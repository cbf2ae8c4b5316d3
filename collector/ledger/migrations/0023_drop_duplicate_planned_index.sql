-- smsprobe ledger, migration 23: probes_planned (0008, for the retention walk) and
-- probes_by_planned (0010) are the same index on probes (planned_at_ns); every probe
-- write kept both (81 MB each on a 32-day month of 4.4 M probes). The retention walk and
-- every planned-time read use the one kept.
DROP INDEX IF EXISTS probes_planned;
