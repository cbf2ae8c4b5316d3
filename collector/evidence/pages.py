"""The report of an evidence bundle, built once: report.html and report.md (the SLA report
of reports/build.py, every money figure at each probe's own price) and, from the same
tables, report.json's cells when they are the same computation.

report.json is what `evidence verify` recomputes (`bundle.report_for`: the full breakdown
and the one by vendor, each vendor's part at its flat price stated in the manifest). The
report's "full" and "vendor" tables are that very aggregation (`figures.aggregate` over
the same probes, thresholds and group-by) with a price per probe; so where every probe's
price equals its vendor's flat price they are report.json's cells and are not computed a
second time. Where a vendor's price table prices carriers or profiles apart, report.json
keeps its flat prices and is aggregated on its own (what verify recomputes stays as is).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

from collector.evidence.kept import KeptProbes
from collector.reports.build import Report, build_report
from collector.reports.figures import Cell, JudgedProbe, Tally, Thresholds, tally_of
from collector.reports.render import render

# The measured fields of a JudgedProbe (figures.tally_of puts them on the tally).
VALUE_FIELDS = ("latency_s", "latency_uncertainty_s", "vendor_delay_s", "carrier_delay_s")


@dataclass
class BundleReport:
    """The period's report, built on first use from the judged probes of the bundle."""

    vendor: str
    since: str
    until: str
    generated_at: str
    software_version: str
    thresholds: Thresholds
    prices: Mapping[str, float]  # flat, per vendor: the manifest's and report.json's
    price_of: Callable[[JudgedProbe], float] | None = None  # per probe: the pages'
    _built: Report | None = field(default=None, init=False, repr=False)

    def report(self, judged: Sequence[JudgedProbe]) -> Report:
        if self._built is None:
            bucket_s = None
            probes: Iterable[JudgedProbe | Tally] = counted(judged)
            if isinstance(judged, KeptProbes):  # merged per key and rate bucket first
                bucket_s = judged.bucket_s()
                probes = judged.tallies(bucket_s, counted)
            self._built = build_report(
                probes,
                bucket_s=bucket_s,
                since=self.since,
                until=self.until,
                generated_at=self.generated_at,
                software_version=self.software_version,
                thresholds=self.thresholds,
                prices=self.prices,
                price_of=self.price_of,
                filters={"vendor": self.vendor},
            )
        return self._built

    def pages(self, judged: Sequence[JudgedProbe]) -> dict[str, bytes]:
        report = self.report(judged)
        return {
            "report.html": render(report, "html").encode(),
            "report.md": render(report, "md").encode(),
        }

    def json_tables(
        self, judged: Sequence[JudgedProbe], thresholds: Thresholds, prices: Mapping[str, float]
    ) -> Mapping[str, Sequence[Cell]] | None:
        """The report's "full" and "vendor" tables when they are report.json's cells for
        these thresholds and flat prices (`bundle.report_for`); None when they are not."""
        if thresholds != self.thresholds or dict(prices) != dict(self.prices):
            return None
        if self.price_of is not None:
            flat, price_of = self.prices, self.price_of
            some = judged.distinct() if isinstance(judged, KeptProbes) else judged
            if any(price_of(p) != flat.get(p.vendor, 0.0) for p in some):
                return None
        tables = self.report(judged).tables
        return {"full": tables["full"], "vendor": tables["vendor"]}


def counted(judged: Iterable[JudgedProbe]) -> Iterator[JudgedProbe | Tally]:
    """The probes as build_report counts them fastest, the same report: tallies without
    a probe id, which it merges where they differ only in their send time (figures.
    merge_times: a month's figures then cost by the distinct keys, not by the probes);
    a probe whose vendor billed more parts than the rule as itself, since the figures list
    those by id (Cell.inflated_probe_ids). The iterator's items are tallies of one."""
    for p in judged:
        billed = p.vendor_billed_parts
        if billed is not None and billed > p.parts:
            yield p
            continue
        # The measured values ride on the tally; the probe keeps only what is counted
        # (built by position: dataclasses.replace costs more than the rest together).
        fields = list(_FIELDS(p))
        for i in _BARE:
            fields[i] = None
        fields[_ID] = ""
        yield Tally(JudgedProbe(*fields), 1, tally_of(p).values)


_NAMES = tuple(JudgedProbe.__dataclass_fields__)
_FIELDS = attrgetter(*_NAMES)
_BARE = tuple(_NAMES.index(n) for n in VALUE_FIELDS)
_ID = _NAMES.index("probe_id")
