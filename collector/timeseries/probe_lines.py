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

    def line(self, r: ProbeSeriesRow) -> str:
        key = (r.agent_id, r.carrier, r.iccid, r.msisdn, r.mvno, r.profile, r.region, r.site,
               r.vendor)  # fmt: skip
        head = self._heads.get(key)
        if head is None:
            head = self._heads[key] = self._head(r)
        verdict = (r.outcome, r.dlr, r.content)
        tail = self._tails.get(verdict)
        if tail is None:
            tail = self._tails[verdict] = self._tail(*verdict)
        arrived, rest = tail
        floats = ""
        # None and NaN (x != x) are left out, as make_point leaves them out
        if arrived and (x := r.latency_s) is not None and x == x:
            floats = f"latency_s={float(x)!r},"
        if (x := r.vendor_delay_s) is not None and x == x:
            floats += f"vendor_delay_s={float(x)!r},"
        if (x := r.carrier_delay_s) is not None and x == x:
            floats += f"carrier_delay_s={float(x)!r},"
        return f"{head}{floats}{rest} {r.submitted_at_ns or r.planned_at_ns}"

    def encode(self, rows: Iterable[ProbeSeriesRow]) -> bytes:
        return "\n".join(map(self.line, rows)).encode()
