"""The channel figures of a period, read from the ledger: channels per vendor × carrier,
channel changes, degradation episodes with switch-over times, and their summary. One
function for the `channels` command, the report section and the demo's summary."""

from __future__ import annotations

from typing import Any

from collector.channels.switchover import (
    FAILED_OUTCOMES,
    OK_OUTCOMES,
    ROUTE_REFUSALS,
    channel_events,
    channel_summaries,
    episodes,
    summarise,
)
from collector.ledger.base import Ledger
from collector.ledger.probes import JudgedRow
from collector.reports.figures import JudgedProbe
from collector.reports.judged import judged_of_row, load_judged_rows


def channel_figures(
    ledger: Ledger,
    *,
    since_ns: int,
    until_ns: int,
    vendor: str | None = None,
    degraded_after: int = 2,
    loaded: tuple[list[JudgedRow], list[JudgedProbe]] | None = None,
    runs_only: bool = False,
) -> dict[str, Any]:
    """`loaded`: the period's `load_judged_rows` when the caller has read them already.
    `runs_only`: read only the probes the episodes depend on (`Ledger.route_run_rows`:
    the failed runs, the attempt before and after each, the failover sends), found in SQL
    (the report command over a month: not every probe into Python); the same figures."""
    if runs_only:
        rows = ledger.route_run_rows(
            since_ns=since_ns, until_ns=until_ns, vendor=vendor, ok=OK_OUTCOMES,
            failed=FAILED_OUTCOMES, min_run=degraded_after,
            refused=[*ROUTE_REFUSALS, *(f"rejected:{r}" for r in ROUTE_REFUSALS)],
        )  # fmt: skip
        probes, judged = rows, list(map(judged_of_row, rows))
    elif loaded is None:
        probes, judged = load_judged_rows(ledger, since_ns=since_ns, until_ns=until_ns,
                                          vendor=vendor)  # fmt: skip
    else:
        probes, judged = list(loaded[0]), list(loaded[1])
    observations = ledger.channel_observations(since_ns=since_ns, until_ns=until_ns, vendor=vendor)
    sends = ledger.failover_sends(since_ns=since_ns, until_ns=until_ns)
    if vendor is not None and not runs_only:  # the backup's probes belong to the primary's
        backups = {s.probe_id for s in sends if s.primary_vendor == vendor}  # episodes
        extra, more = load_judged_rows(ledger, since_ns=since_ns, until_ns=until_ns)
        judged += [p for p in more if p.probe_id in backups]
        probes += [p for p in extra if p.probe_id in backups]
    rejections = {
        p.probe_id: p.error_kind.removeprefix("rejected:")
        for p in probes
        if p.submit_status == "rejected"
    }
    found = episodes(judged, observations, sends, degraded_after=degraded_after,
                     rejections=rejections)  # fmt: skip
    return {
        "channels": [c.to_dict() for c in channel_summaries(observations)],
        "changes": [e.to_dict() for e in channel_events(observations)],
        "episodes": [e.to_dict() for e in found],
        "switch_over": [s.to_dict() for s in summarise(found)],
        "failover_sends": len(sends),
    }
