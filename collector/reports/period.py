"""What the `report` command reads for a period: the hourly rollups as counted tallies
where they give the exact figures, raw rows only where a section needs stored probes.

The rollups serve a report when its rate series' buckets are whole hours and its calendar
days begin on the hour: periods of at least ROLLUP_MIN_NS (from there `bucket_for` gives
whole hours: 200 buckets of 30 min are 100 h) in a zone whose offset is whole hours over
the period (Asia/Shanghai). The bucket is then chosen from the period itself, the same on
both paths. Raw rows are read for the hours the rollups cannot tell (judged.load_tallies:
the period's edges, bursts, billed above the rule, not-measured spans) and for the hours
holding an arrived probe whose content changed (the content-change section compares
their texts); the rest of that section, the arrived probes counted, comes from the
tallies; the billing and channel sections too (period_report). Shorter periods and other
zones read the raw rows as before.
"""

from __future__ import annotations

import contextlib
import functools
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from agent.common.units import NS
from collector.billing.config import BillingConfig
from collector.billing.load import apart_of, counted_statements, invoice_bills, not_measured
from collector.billing.statement import statements
from collector.channels.figures import channel_figures
from collector.ledger import open_ledger
from collector.ledger.base import Ledger
from collector.ledger.probes import StoredProbe, StoredVerdict
from collector.ledger.rollups import HOUR_NS, Slices, whole_offset_ns
from collector.probes.bands import Periods
from collector.probes.bursts import burst_of
from collector.reports.beside import Beside
from collector.reports.build import (
    BUCKET_STEPS_S,
    MAX_BUCKETS,
    Gap,
    Report,
    bucket_for,
    build_report,
)
from collector.reports.bursts import burst_figures
from collector.reports.config import ReportsConfig, iso
from collector.reports.content_changes import ARRIVED_NAMES, change_counts, texts_of
from collector.reports.figures import JudgedProbe, Tally, tallies_of
from collector.reports.judged import (
    HOURLY,
    PROBE_FIELDS,
    load_judged,
    load_tallies,
    new_probe,
    row_of,
    sent_hours_cut,
)
from collector.reports.options import software_version
from collector.reports.quiet import quiet_hour_counts

ROLLUP_MIN_NS = 1800 * MAX_BUCKETS * NS

# JudgedProbe's fields before and after `calendar`, for `labelled`: a month is 10^5 tallies
# and dataclasses.replace costs 4x judged.py's maker (its constructor, twice).
_NAMES = PROBE_FIELDS


def _values(names: Sequence[str]) -> Callable[[JudgedProbe], tuple[Any, ...]]:
    if len(names) > 1:  # attrgetter of one name gives the value, not a tuple
        return operator.attrgetter(*names)
    return lambda p: tuple(getattr(p, n) for n in names)


_BEFORE = _values(_NAMES[: _NAMES.index("calendar")])
_AFTER = _values(_NAMES[_NAMES.index("calendar") + 1 :])


@dataclass
class PeriodData:
    stored: list[StoredProbe]  # the probes read raw (all of them without the rollups)
    verdicts: dict[str, StoredVerdict]
    judged: list[JudgedProbe]  # those of `stored`, as the figures see them
    probes: list[JudgedProbe] | list[Tally]  # what build_report takes
    bucket_s: int | None  # None: build_report chooses it (the raw path of a short period)
    changes: dict[str, dict[str, int]]  # reports/content_changes.py
    from_rollups: bool


def rollups_serve(since_ns: int, until_ns: int, tz: tzinfo) -> bool:
    """Whether the rollups give this period's report exactly (module docstring)."""
    return (
        until_ns - since_ns >= ROLLUP_MIN_NS and period_slices(since_ns, until_ns, tz) is not None
    )


def period_slices(since_ns: int, until_ns: int, tz: tzinfo) -> Slices | None:
    """How the rollups are summed for this period (ledger/rollups.Slices): the step every
    bucket `period_bucket` can choose for its length is a multiple of, and the zone's
    offset; None when the offset is not whole hours or changes within the period (daylight
    saving: local days of other lengths)."""
    offset = whole_offset_ns(tz, [*range(since_ns, until_ns, 6 * HOUR_NS), until_ns])
    if offset is None:
        return None
    least = bucket_for(until_ns - since_ns)  # more probes per vendor only make it longer
    step = math.gcd(*(s for s in BUCKET_STEPS_S if s >= least))
    return Slices(max(step, HOUR_NS // NS) * NS, offset)


def _changed(outcome: str, content: str) -> bool:
    return outcome in ARRIVED_NAMES and content != "intact"


def load_period(
    ledger: Ledger,
    *,
    since_ns: int,
    until_ns: int,
    vendor: str | None,
    gaps: Mapping[str, Sequence[Gap]],
    tz: tzinfo,
    rollups: bool | None = None,
) -> PeriodData:
    """The period's probes for the figures and the content-change section; `rollups`:
    None = when they serve the period (rollups_serve), else forced either way (tests)."""
    use = rollups_serve(since_ns, until_ns, tz) if rollups is None else rollups
    if use:
        cut = sent_hours_cut([(g.start_ns, g.end_ns) for spans in gaps.values() for g in spans])
        slices = period_slices(since_ns, until_ns, tz) or HOURLY  # forced: any zone (tests)
        stored, verdicts, tallies = load_tallies(
            ledger, since_ns=since_ns, until_ns=until_ns, vendor=vendor,
            raw_sent_hours=cut, raw_if=_changed, slices=slices,
        )  # fmt: skip
        raw_ids = {p.plan.probe_id for p in stored}
        counted = [t for t in tallies if t.probe.probe_id not in raw_ids]
        changes = change_counts(stored, verdicts, texts_of(ledger, verdicts), counted)
        judged = [t.probe for t in tallies if t.probe.probe_id in raw_ids]
        probes: list[JudgedProbe] | list[Tally] = tallies
    else:
        stored, verdicts, judged = load_judged(
            ledger, since_ns=since_ns, until_ns=until_ns, vendor=vendor
        )
        changes = change_counts(stored, verdicts, texts_of(ledger, verdicts))
        probes = judged
    bucket_s = None
    if until_ns - since_ns >= ROLLUP_MIN_NS:
        bucket_s = period_bucket(until_ns - since_ns, probes)
        assert not use or bucket_s % (HOUR_NS // NS) == 0  # whole hours: see ROLLUP_MIN_NS
    return PeriodData(stored, verdicts, judged, probes, bucket_s, changes, use)


def period_bucket(span_ns: int, probes: Sequence[JudgedProbe] | Sequence[Tally]) -> int:
    """The rate series' bucket for a long period: bucket_for over the period's length and
    the judged probes per vendor (as build_report counts them)."""
    judged: dict[str, int] = {}
    for t in tallies_of(probes):
        if t.probe.outcome in ("delivered", "late", "lost"):
            judged[t.probe.vendor] = judged.get(t.probe.vendor, 0) + t.n
    per_vendor = sum(judged.values()) / len(judged) if judged else None
    return bucket_for(span_ns, per_vendor)


def labelled_probe(p: JudgedProbe, calendar: str) -> JudgedProbe:
    """`p` with its calendar day's kind: dataclasses.replace(p, calendar=calendar)."""
    return new_probe(*_BEFORE(p), calendar, *_AFTER(p))


def period_report(
    ledger: Ledger,
    *,
    since_ns: int,
    until_ns: int,
    vendor: str | None,
    reports: ReportsConfig,
    billing: BillingConfig,
    periods: Periods,
    generated_at: str,
    progress: Callable[[str], None] | None = None,
    rollups: bool | None = None,
    url: str | None = None,
) -> tuple[Report, int]:
    """The `report` command's report of a period and its number of probes: the figures
    from `load_period` (the rollups where they serve). Through the rollups, the billing
    section is counted from the same tallies with raw rows only of the probes it names
    (billing/load.counted_statements) and the channel figures read only the probes
    around each run of failures (channels/figures.py runs_only); else both from every
    probe's raw rows. The same report either way.
    `url`: the ledger's URL (`ledger` opened from it); the channel figures over the
    rollups are then read by a process of its own beside this one's figures
    (reports/beside.py), not after them."""
    tz = periods.tz
    use = rollups_serve(since_ns, until_ns, tz) if rollups is None else rollups

    @functools.cache
    def minute_kind(minute: int) -> str:  # a zone's offset is whole minutes
        return reports.calendar.label_at(minute * 60 * NS, tz)

    # Within a period of one whole-hour offset, a send's local day is arithmetic: a label
    # per local day, not a zone conversion per minute sent in (a month: 43,200 of them).
    sliced = period_slices(since_ns, until_ns, tz)

    @functools.cache
    def local_day_kind(day_ns: int) -> str:
        return reports.calendar.label_at(day_ns, tz)

    def day_kind(at_ns: int) -> str:
        if sliced is not None and since_ns <= at_ns < until_ns:
            return local_day_kind(sliced.day(at_ns))
        return minute_kind(at_ns // (60 * NS))

    channels: Callable[[], dict[str, Any]] = functools.partial(
        channel_figures, ledger, since_ns=since_ns, until_ns=until_ns, vendor=vendor,
        runs_only=True,
    )  # fmt: skip
    with contextlib.ExitStack() as stack:
        if use and url is not None:  # read while this process makes the figures
            beside = Beside(runs_channel_figures, url, since_ns, until_ns, vendor)
            channels = stack.enter_context(beside).result
        if progress:
            progress("loading probes")
        gaps = not_measured(ledger, since_ns=since_ns, until_ns=until_ns, vendor=vendor)
        data = load_period(ledger, since_ns=since_ns, until_ns=until_ns, vendor=vendor,
                           gaps=gaps, tz=tz, rollups=use)  # fmt: skip
        held = ledger.suppressions(since_ns=since_ns, until_ns=until_ns, vendor=vendor)
        if data.from_rollups:
            # Billing from the counted tallies, raw rows only of the probes it names
            # (over-charged, invoiced); the channel episodes from the probes around each run
            # of failures, found in SQL (they need the probes' order, not every probe).
            found = counted_statements(
                ledger, billing, tallies_of(data.probes), since_ns=since_ns, until_ns=until_ns,
                vendor=vendor, apart=apart_of(gaps),
            )  # fmt: skip
            section = None  # `channels`, asked for last: it may be read beside
        else:
            rows = [row_of(p, data.verdicts.get(p.plan.probe_id)) for p in data.stored]
            # read only: the collector keeps the observations current after each judging
            section = channel_figures(ledger, since_ns=since_ns, until_ns=until_ns, vendor=vendor,
                                      loaded=(rows, data.judged))  # fmt: skip
            bills = invoice_bills(ledger, rows)  # imported invoices/CDRs, by probe
            # Every probe the vendor billed, bursts included, those the tables leave out as
            # their own lines (collector/billing/statement.py: apart).
            found = statements(data.judged, billing.vendors, bills,
                               default_currency=billing.currency, apart=apart_of(gaps))  # fmt: skip
        labelled = [  # a tally's sends may fall on days of other kinds: split (Tally.parted)
            part.with_probe(labelled_probe(part.probe, kind))
            for t in tallies_of(data.probes)
            for kind, part in t.parted(day_kind)
        ]
        report = build_report(
            labelled,
            since=iso(since_ns, reports.tz),
            until=iso(until_ns, reports.tz),
            generated_at=generated_at,
            software_version=software_version(),
            thresholds=reports.thresholds,
            prices=billing.base_prices(),
            price_of=billing.part_price,  # one price per probe: tables, summary, billing
            bucket_s=data.bucket_s,
            progress=progress,
            filters={"vendor": vendor} if vendor else None,
            not_measured=gaps,
            period_ns=(since_ns, until_ns),
            periods=periods.describe(),
            bursts=burst_figures(data.stored, labelled, alpha=reports.thresholds.alpha),
            exclude=lambda p: burst_of(p.probe_id) is not None,
            quiet_hours=quiet_hour_counts(held),
            line_overrides=reports.lines,
            content_changes=data.changes,
            timezone=reports.timezone,
        )
        report.billing = [st.to_dict() for st in found]
        report.channels = channels() if section is None else section
        return report, sum(t.n for t in labelled)


def runs_channel_figures(
    url: str, since_ns: int, until_ns: int, vendor: str | None
) -> dict[str, Any]:
    """The channel section over the rollups (the probes around each run of failures),
    read through a ledger connection of its own."""
    ledger = open_ledger(url, migrate=False)
    try:
        return channel_figures(ledger, since_ns=since_ns, until_ns=until_ns, vendor=vendor,
                               runs_only=True)  # fmt: skip
    finally:
        ledger.close()
