-- smsprobe ledger, migration 5: vendor delivery reports that could not be read.
-- An authenticated push whose body or item is malformed (an id that is an object, a status
-- of the wrong type, nesting too deep) is kept raw here with the reason, never dropped and
-- never stored as a DLR. Unauthenticated pushes are refused and not kept (anyone could
-- fill the ledger with them).
CREATE TABLE dlr_quarantine (
    id {autoid},
    vendor TEXT NOT NULL,
    source TEXT NOT NULL,                             -- push | pull | smpp
    reason TEXT NOT NULL,                             -- what was wrong, for a person
    raw {blob} NOT NULL,                              -- the item or body exactly as received
    digest TEXT NOT NULL,                             -- sha256 of vendor, reason, raw
    received_at_ns BIGINT NOT NULL                    -- collector clock
);

CREATE UNIQUE INDEX dlr_quarantine_digest ON dlr_quarantine (vendor, digest);
