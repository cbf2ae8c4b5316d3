-- smsprobe ledger, migration 18: a gap of seqs the agent announced at its registration
-- (reported_last_seq) is `queued` while its outbox may still hold them as backlog: a live
-- batch committed ahead of the backlog opens it (docs/ingest.md). It is a not-measured
-- span all the same; its seq_gap_detected event is written once it is known missing.
ALTER TABLE gaps ADD COLUMN queued INTEGER NOT NULL DEFAULT 0;
