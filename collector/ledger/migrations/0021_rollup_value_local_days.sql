-- smsprobe ledger, migration 21: a compacted day's values also merged ascending per local
-- day of their send hour (collector/ledger/sql/rollup_days.py), for one zone offset: a
-- report in that zone takes each local day's values as one ascending run instead of
-- cutting the hourly segments and sorting them again.
--
-- local_offset_ns: the zone's offset east of UTC (whole hours) the parts are cut by;
-- NULL: no parts (days compacted before this migration, a zone whose offset is not whole
-- hours or changes within the day, or none given): readers use the segments.
-- local_days packs little-endian int64 pairs (local day start, end): part i holds
-- local_vals[end(i-1):end(i)] (float64, ascending) with local_counts[...] (int64): the
-- segments' values of the send hours in that local day, a repeated value once with its
-- counts summed when some count of the day is above 1, else listed each time.
-- The segments stay: a period's edges and skipped hours cut by planned hour.
ALTER TABLE rollup_value_days ADD COLUMN local_offset_ns BIGINT;
ALTER TABLE rollup_value_days ADD COLUMN local_days {blob};
ALTER TABLE rollup_value_days ADD COLUMN local_vals {blob};
ALTER TABLE rollup_value_days ADD COLUMN local_counts {blob};
