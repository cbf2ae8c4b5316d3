-- smsprobe ledger, migration 16: the value multisets of rollup_values compacted per UTC day
-- (collector/ledger/sql/rollups.py). A month's report reads ~30 blobs per SIM, vendor and
-- kind instead of a row per value (latencies at nanosecond resolution hardly repeat).
--
-- rollup_value_days: one row per day, value key without the hours, and kind. `segments`
-- packs little-endian int64 triples (hour_ns, sent_hour_ns, end): segment i holds
-- vals[end(i-1):end(i)] (ascending float64) with counts[...] (int64) of the hourly rows
-- of that hour and send hour. Exactly the day's rollup_values rows for the key, or absent.
CREATE TABLE rollup_value_days (
    day_ns BIGINT NOT NULL,              -- hour_ns / 86400000000000 * 86400000000000
    vendor TEXT NOT NULL,
    carrier TEXT NOT NULL,
    mvno TEXT NOT NULL,
    region TEXT NOT NULL,
    profile TEXT NOT NULL,
    band TEXT NOT NULL,
    msisdn TEXT NOT NULL,
    burst INTEGER NOT NULL,
    submit_status TEXT NOT NULL,
    kind TEXT NOT NULL,
    segments {blob} NOT NULL,
    vals {blob} NOT NULL,
    counts {blob} NOT NULL,
    PRIMARY KEY (day_ns, vendor, carrier, mvno, region, profile, band, msisdn, burst,
                 submit_status, kind)
);
-- A day listed here has a blob for every key of its rollup_values rows (reads use the
-- blobs alone); any write changing a day's value rows deletes its blobs and this row in
-- the same transaction; the compaction step writes both back.
CREATE TABLE rollup_compacted_days (
    day_ns BIGINT PRIMARY KEY,
    compacted_at_ns BIGINT NOT NULL
);
