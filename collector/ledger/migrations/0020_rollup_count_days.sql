-- smsprobe ledger, migration 20: the count rows of rollup_counts packed per UTC day and
-- vendor (collector/ledger/sql/rollup_days.py), written with the day's value blobs: a
-- month's report reads ~30 texts a vendor instead of 513,000 rows of 18 key columns.
--
-- rollup_count_days.counts: one entry per count key without its hours, entries separated
-- by a newline; an entry is the key as text (in RollupCount's order from vendor to
-- missing_parts: a text column as its length in characters, ':' and itself; an integer
-- column as its digits and ','), a tab, then comma-separated (hour_ns, sent_hour_ns, n)
-- triples, one per hourly row. Exactly the day's rollup_counts rows of the vendor, or
-- absent: a day listed in rollup_compacted_days has one for every vendor of its count
-- rows; any write changing a day's count rows drops them with the listing.
CREATE TABLE rollup_count_days (
    day_ns BIGINT NOT NULL,              -- hour_ns / 86400000000000 * 86400000000000
    vendor TEXT NOT NULL,
    counts TEXT NOT NULL,
    PRIMARY KEY (day_ns, vendor)
);
-- The days already compacted get theirs now (their listing promises them).
-- One text for both backends: {string_agg} and {chr} are SQLite's group_concat and
-- char, PostgreSQL's string_agg and chr (migrations/__init__.py).
INSERT INTO rollup_count_days (day_ns, vendor, counts)
SELECT day_ns, vendor, {string_agg}(entry, {chr}(10)) FROM (
  SELECT hour_ns / 86400000000000 * 86400000000000 AS day_ns, vendor,
         CAST(length(vendor) AS TEXT) || ':' || vendor ||
         CAST(length(carrier) AS TEXT) || ':' || carrier ||
         CAST(length(mvno) AS TEXT) || ':' || mvno ||
         CAST(length(region) AS TEXT) || ':' || region ||
         CAST(length(profile) AS TEXT) || ':' || profile ||
         CAST(length(band) AS TEXT) || ':' || band ||
         CAST(length(msisdn) AS TEXT) || ':' || msisdn ||
         CAST(burst AS TEXT) || ',' ||
         CAST(parts AS TEXT) || ',' ||
         CAST(billed_parts AS TEXT) || ',' ||
         CAST(length(billed_from) AS TEXT) || ':' || billed_from ||
         CAST(length(submit_status) AS TEXT) || ':' || submit_status ||
         CAST(length(outcome) AS TEXT) || ':' || outcome ||
         CAST(length(dlr) AS TEXT) || ':' || dlr ||
         CAST(length(dlr_claim) AS TEXT) || ':' || dlr_claim ||
         CAST(length(content) AS TEXT) || ':' || content ||
         CAST(duplicates AS TEXT) || ',' ||
         CAST(length(missing_parts) AS TEXT) || ':' || missing_parts ||
         {chr}(9) || {string_agg}(CAST(hour_ns AS TEXT) || ',' || CAST(sent_hour_ns AS TEXT) || ','
                          || CAST(n AS TEXT), ',') AS entry
  FROM rollup_counts
  WHERE hour_ns / 86400000000000 * 86400000000000 IN (SELECT day_ns FROM rollup_compacted_days)
  GROUP BY 1, vendor, carrier, mvno, region, profile, band, msisdn, burst, parts, billed_parts, billed_from, submit_status, outcome, dlr, dlr_claim, content, duplicates, missing_parts
) e
GROUP BY day_ns, vendor;
