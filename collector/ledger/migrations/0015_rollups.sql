-- smsprobe ledger, migration 15: hourly rollups of every probe with its current verdict, kept
-- exactly consistent with the raw rows (collector/ledger/sql/rollups.py maintains them in
-- the transaction of every write that changes a key: add_probe, record_submission,
-- attribute_dlrs, save_verdicts; `smsprobe-collector rollups check` recomputes them).
-- A month's report reads ~1/10 of the rows and no blob (bench/year_ledger.py).
--
-- rollup_counts: how many probes share a key. The key is everything the report figures
-- read of a probe and its verdict: the planned hour (period filter), the send hour (rate
-- series, calendar day), the probe's dimensions, SIM, parts and what the vendor billed,
-- the submit status, and the verdict's classes ('' outcome = no verdict yet).
CREATE TABLE rollup_counts (
    hour_ns BIGINT NOT NULL,             -- planned_at_ns rounded down to the hour
    sent_hour_ns BIGINT NOT NULL,        -- (submitted_at_ns, else planned_at_ns) rounded down
    vendor TEXT NOT NULL,
    carrier TEXT NOT NULL,
    mvno TEXT NOT NULL,
    region TEXT NOT NULL,
    profile TEXT NOT NULL,
    band TEXT NOT NULL,
    msisdn TEXT NOT NULL,
    burst INTEGER NOT NULL,              -- 1: the probe id is a burst's (burst-NAME-START-I)
    parts INTEGER NOT NULL,
    billed_parts INTEGER NOT NULL,       -- -1: the vendor reported none (probes.billed_parts NULL)
    billed_from TEXT NOT NULL,
    submit_status TEXT NOT NULL,
    outcome TEXT NOT NULL,               -- '' when the probe has no verdict
    dlr TEXT NOT NULL,
    dlr_claim TEXT NOT NULL,
    content TEXT NOT NULL,
    duplicates INTEGER NOT NULL,
    missing_parts TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (hour_ns, vendor, sent_hour_ns, carrier, mvno, region, profile, band, msisdn,
                 burst, parts, billed_parts, billed_from, submit_status, outcome, dlr,
                 dlr_claim, content, duplicates, missing_parts)
);
-- rollup_values: the exact multiset of each measured value (the float itself: percentiles
-- and their intervals over any period equal those from raw rows). kind: latency (arrived
-- probes only, as the report counts it), uncertainty, vendor_delay, carrier_delay.
CREATE TABLE rollup_values (
    hour_ns BIGINT NOT NULL,
    vendor TEXT NOT NULL,
    sent_hour_ns BIGINT NOT NULL,
    carrier TEXT NOT NULL,
    mvno TEXT NOT NULL,
    region TEXT NOT NULL,
    profile TEXT NOT NULL,
    band TEXT NOT NULL,
    msisdn TEXT NOT NULL,
    burst INTEGER NOT NULL,
    submit_status TEXT NOT NULL,
    kind TEXT NOT NULL,
    value {double} NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (hour_ns, vendor, sent_hour_ns, carrier, mvno, region, profile, band, msisdn,
                 burst, submit_status, kind, value)
);
-- The rows of an existing ledger (the same expressions as sql/rollups.py; `rollups check`
-- proves them equal). Hours by integer division: times are positive, and the PostgreSQL
-- backend's SQL carries no literal percent sign.
INSERT INTO rollup_counts
SELECT p.planned_at_ns / 3600000000000 * 3600000000000,
       (CASE WHEN p.submitted_at_ns > 0 THEN p.submitted_at_ns ELSE p.planned_at_ns END)
         / 3600000000000 * 3600000000000,
       p.vendor, p.carrier, p.mvno, p.region, p.profile, p.band, p.msisdn,
       CASE WHEN substr(p.probe_id, 1, 6) = 'burst-' THEN 1 ELSE 0 END, p.parts,
       COALESCE(p.billed_parts, -1), p.billed_from, p.submit_status,
       COALESCE(v.outcome, ''), COALESCE(v.dlr, ''), COALESCE(v.dlr_claim, ''),
       COALESCE(v.content, ''), COALESCE(v.duplicates, 0), COALESCE(v.missing_parts, ''),
       COUNT(*)
FROM probes p LEFT JOIN verdicts v ON v.probe_id = p.probe_id
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20;
INSERT INTO rollup_values
SELECT hour_ns, vendor, sent_hour_ns, carrier, mvno, region, profile, band, msisdn, burst,
       submit_status, kind, value, COUNT(*)
FROM (
  SELECT p.planned_at_ns / 3600000000000 * 3600000000000 AS hour_ns, p.vendor,
         (CASE WHEN p.submitted_at_ns > 0 THEN p.submitted_at_ns ELSE p.planned_at_ns END)
           / 3600000000000 * 3600000000000 AS sent_hour_ns,
         p.carrier, p.mvno, p.region, p.profile, p.band, p.msisdn,
         CASE WHEN substr(p.probe_id, 1, 6) = 'burst-' THEN 1 ELSE 0 END AS burst, p.submit_status,
         k.kind,
         CASE k.kind WHEN 'latency' THEN v.latency_s WHEN 'uncertainty' THEN v.latency_uncertainty_s
           WHEN 'vendor_delay' THEN v.vendor_delay_s ELSE v.carrier_delay_s END AS value,
         v.outcome
  FROM probes p JOIN verdicts v ON v.probe_id = p.probe_id
  CROSS JOIN (SELECT 'latency' AS kind UNION ALL SELECT 'uncertainty'
              UNION ALL SELECT 'vendor_delay' UNION ALL SELECT 'carrier_delay') k
) x
WHERE value IS NOT NULL AND (kind <> 'latency' OR outcome IN ('delivered', 'late'))
GROUP BY hour_ns, vendor, sent_hour_ns, carrier, mvno, region, profile, band, msisdn, burst,
         submit_status, kind, value;
