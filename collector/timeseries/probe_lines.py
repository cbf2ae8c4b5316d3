"""The `probe` series' line protocol, straight from the ledger's rows. Pure.

The live writer and a backfill both encode with `ProbeLines`: one point per judged probe
(Ledger.probe_series_after), at its submit time. A year is ≈ 50 million of them, so the
line is written from the row's values directly — no JudgedProbe, no Point — with the same
escaping and number formatting as `points.to_line` (the series key escaped once per
series, floats as `repr`, integers with `i`). tests/collector/timeseries/test_probe_lines.py
holds every line equal to the schema-checked `make_point` path on mixed ledgers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from collector.ledger.probes import ProbeSeriesRow
from collector.reports.lines import line_type
from collector.timeseries.points import _field, _head
from collector.timeseries.schema import PROBE

# Tag and field names in the order a point carries them (tags sorted, as make_point sorts).
_TAGS = ("agent", "carrier", "iccid", "line", "mvno", "profile", "region", "site", "vendor")
_FIELDS = ("latency_s", "vendor_delay_s", "carrier_delay_s", "delivered", "verdict",
           "dlr_status", "fake_dlr", "intact")  # fmt: skip
# Checked once at import instead of per point: the names are the schema's.
if set(_TAGS) != set(PROBE.tags) or tuple(PROBE.fields) != _FIELDS:
    raise ImportError("probe_lines is out of step with schema.PROBE")
# `encode` reads a row by position, in three slices: what makes its series key (the
# `line` tag follows from msisdn, carrier and mvno), its verdict class, its floats.
_COLS = ProbeSeriesRow._fields
if (
    _COLS[4:13] != ("vendor", "carrier", "mvno", "region", "site", "agent_id", "profile",
                    "msisdn", "iccid")
    or _COLS[13:16] != ("outcome", "dlr", "content")
    or _COLS[16:19] != ("latency_s", "vendor_delay_s", "carrier_delay_s")
):  # fmt: skip
    raise ImportError("probe_lines is out of step with ProbeSeriesRow")


class ProbeLines:
    """Encodes `probe` points. `lines`: [reports.lines], the buyer's own word on a SIM's
    kind of line (the `line` tag), as `line_type` takes it."""

    def __init__(self, lines: Mapping[str, str] | None = None) -> None:
        self._lines = lines or None
        # What repeats is encoded once: a series key per SIM and vendor (a hundred SIMs,
        # millions of probes), the integer and string fields per verdict class.
        self._heads: dict[tuple[str, ...], str] = {}
        self._tails: dict[tuple[str, str, str], tuple[bool, str]] = {}

    def _head(self, r: ProbeSeriesRow) -> str:
        kind = line_type(r.msisdn, r.carrier, r.mvno, self._lines)
        values = (r.agent_id, r.carrier, r.iccid, kind, r.mvno, r.profile, r.region, r.site,
                  r.vendor)  # fmt: skip
        return _head("probe", tuple((k, v) for k, v in zip(_TAGS, values, strict=True) if v))

    @staticmethod
    def _tail(outcome: str, dlr: str, content: str) -> tuple[bool, str]:
        arrived = outcome in ("delivered", "late")
        return arrived, (
            f"delivered={int(arrived)}i,verdict={_field(outcome)},dlr_status={_field(dlr)},"
            f"fake_dlr={int(dlr == 'fake_success')}i,intact={int(content == 'intact')}i"
        )

    def encode(self, rows: Iterable[ProbeSeriesRow]) -> bytes:
        heads, tails = self._heads, self._tails
        out = []
        for r in rows:
            # by position (checked at import): a year is 50 million rows
            series = r[4:13]
            head = heads.get(series)
            if head is None:
                head = heads[series] = self._head(r)
            verdict = r[13:16]
            tail = tails.get(verdict)
            if tail is None:
                tail = tails[verdict] = self._tail(*verdict)
            arrived, rest = tail
            latency, vendor_delay, carrier_delay = r[16:19]
            floats = ""
            # None and NaN (x != x) are left out, as make_point leaves them out
            if arrived and latency is not None and latency == latency:
                floats = f"latency_s={float(latency)!r},"
            if vendor_delay is not None and vendor_delay == vendor_delay:
                floats += f"vendor_delay_s={float(vendor_delay)!r},"
            if carrier_delay is not None and carrier_delay == carrier_delay:
                floats += f"carrier_delay_s={float(carrier_delay)!r},"
            out.append(f"{head}{floats}{rest} {r.submitted_at_ns or r.planned_at_ns}")
        return "\n".join(out).encode()
