-- smsprobe ledger, migration 3: which collector instance holds an agent's stream, so a
-- collector that restarts (even after SIGKILL) clears the flags of the streams that ended
-- with it, and only those (several collectors may share one PostgreSQL ledger).
ALTER TABLE agents ADD COLUMN connected_via TEXT NOT NULL DEFAULT '';
