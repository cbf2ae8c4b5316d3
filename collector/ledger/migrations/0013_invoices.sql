-- smsprobe ledger, migration 13: vendors' invoices and CDR exports (docs/billing.md).
-- invoices: one row per imported file, keyed by vendor and the file's SHA-256 so the same
-- file imported twice is kept once. invoice_lines: its rows as the column mapping read
-- them (line_no: the CSV line, the header being 1), matched to probes by message id.
CREATE TABLE invoices (
    invoice_id {autoid},
    vendor TEXT NOT NULL,
    source TEXT NOT NULL,                             -- the file name as given
    sha256 TEXT NOT NULL,
    currency TEXT NOT NULL,
    imported_at_ns BIGINT NOT NULL,
    line_count INTEGER NOT NULL,
    UNIQUE (vendor, sha256)
);

CREATE TABLE invoice_lines (
    invoice_id BIGINT NOT NULL REFERENCES invoices (invoice_id),
    line_no INTEGER NOT NULL,
    vendor TEXT NOT NULL,
    message_id TEXT NOT NULL,
    parts INTEGER NOT NULL,
    amount {double},                                  -- NULL: the file has no amount column
    billed_at_ns BIGINT NOT NULL DEFAULT 0,           -- 0: no time column
    PRIMARY KEY (invoice_id, line_no)
);
CREATE INDEX invoice_lines_by_message ON invoice_lines (vendor, message_id);
