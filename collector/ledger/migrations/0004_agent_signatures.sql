-- smsprobe ledger, migration 4: what it takes to verify the agents' signatures later.
-- records.raw: the record exactly as received (serialised smsprobe.v1.Record, the agent's
-- signature included); NULL for rows ingested before this migration.
-- agent_keys: the certificates agents sign with (their mTLS client certificates, captured
-- at registration), by key id = Record.signer; kept for good, so a record can be verified
-- long after its certificate was replaced.
ALTER TABLE records ADD COLUMN raw {blob};

CREATE TABLE agent_keys (
    signer TEXT PRIMARY KEY,                          -- "sha256:" + hex SHA-256 of the SPKI
    agent_id TEXT NOT NULL,
    cert_pem TEXT NOT NULL,
    first_seen_ns BIGINT NOT NULL
);
