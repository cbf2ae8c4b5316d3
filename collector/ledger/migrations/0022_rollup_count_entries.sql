-- smsprobe ledger, migration 22: a compacted day's counts packed as integers instead of
-- text, and its report marks kept apart (collector/ledger/sql/rollup_days.py): a month's
-- report reads its 513,000 hourly counts with array.frombytes instead of parsing 1.5 M
-- numbers, and the marks deciding its raw hours (~20,000) instead of a DISTINCT over them.
--
-- rollup_count_days.entries: NULL for a day packed before this migration (counts then
-- holds migration 0020's text, read as before); else little-endian int64, per entry (a
-- count key without its hours): where its key's text ends in counts (characters), m, then
-- its m hours, m send hours (ascending) and m counts; counts then holds only the keys'
-- texts (count_key_text, each self-delimiting) one after the other, in entry order.
-- The days already packed keep their text (SQL has no portable int64 packing); a
-- compaction or rebuild packs them anew.
ALTER TABLE rollup_count_days ADD COLUMN entries {blob};
-- rollup_mark_days: per compacted UTC day and vendor, the distinct (hour, send hour, burst,
-- billed above parts, outcome, content) of its count rows (Ledger.rollup_hour_marks):
-- exactly those of the day's rollup_counts rows while the day is listed in
-- rollup_compacted_days; written, dropped and checked with the day's other packed rows.
CREATE TABLE rollup_mark_days (
    day_ns BIGINT NOT NULL,
    vendor TEXT NOT NULL,
    hour_ns BIGINT NOT NULL,
    sent_hour_ns BIGINT NOT NULL,
    burst INTEGER NOT NULL,
    over_billed INTEGER NOT NULL,         -- 1: billed_parts > parts
    outcome TEXT NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (day_ns, vendor, hour_ns, sent_hour_ns, burst, over_billed, outcome, content)
);
-- The days already compacted get theirs now (their listing promises them).
INSERT INTO rollup_mark_days (day_ns, vendor, hour_ns, sent_hour_ns, burst, over_billed,
                              outcome, content)
SELECT DISTINCT hour_ns / 86400000000000 * 86400000000000, vendor, hour_ns, sent_hour_ns,
       burst, CASE WHEN billed_parts > parts THEN 1 ELSE 0 END, outcome, content
FROM rollup_counts
WHERE hour_ns / 86400000000000 * 86400000000000 IN (SELECT day_ns FROM rollup_compacted_days);
