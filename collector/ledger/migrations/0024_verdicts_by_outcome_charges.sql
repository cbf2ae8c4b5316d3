-- smsprobe ledger, migration 24: on SQLite, verdicts_by_outcome (migration 0019) also
-- carries each verdict's DLR claim and missing parts, what the billing statement's listed
-- probes read of the verdict with its outcome (Ledger.charge_rows,
-- collector/ledger/sql/charges.py): a period's lost and partial verdicts are then a range
-- of the index with no verdict row read (a priced month lists 10^5 over-charged probes:
-- its listing ~0.4 s less in the report command, for ~40 MB more a month). The same
-- leading columns, so the channel read's ranges (ledger/sql/route_runs.py) are as before.
-- PostgreSQL keeps 0019's: it reads the listing's verdicts by a bitmap heap scan either
-- way (measured on 4 days: the same time with the columns included).
@sqlite DROP INDEX verdicts_by_outcome;
@sqlite CREATE INDEX verdicts_by_outcome ON verdicts (outcome, planned_at_ns, probe_id,
    dlr_claim, missing_parts);
