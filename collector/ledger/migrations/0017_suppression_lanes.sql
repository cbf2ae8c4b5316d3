-- smsprobe ledger, migration 17: retention masks the SIM number in quiet_suppressions' key
-- (docs/retention.md); lanes whose masked numbers look alike (same prefix and last digits,
-- same vendor, profile and time) then share one row. `lanes` says how many suppressions the
-- row stands for (1 until retention merged rows), so the report's counts stay exact.
ALTER TABLE quiet_suppressions ADD COLUMN lanes INTEGER NOT NULL DEFAULT 1;
