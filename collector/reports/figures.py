"""Every figure of an SLA report, computed from judged probes alone.

This is the one definition of each number: the report, the time-series `arrival` windows
and the offline `evidence verify` all call `aggregate`, so a figure in a report can be
recomputed by anyone from the records in an evidence bundle. Pure and stdlib-only.

Definitions:
- sent: probes planned and submitted (rejected included); accepted: the vendor API took
  them (发送成功率 = accepted / sent);
- arrived: delivered + late; judged = arrived + lost; arrival rate (到达率) = arrived /
  judged — inconclusive (receiver unhealthy), rejected and pending probes are shown apart
  and never folded in; so are partial probes (a long message with parts missing: neither
  arrived nor lost, its DLR never fake), counted with the parts they lack;
- latency percentiles over arrived probes, each with a distribution-free 95 % interval and
  the mean measurement uncertainty (clock offset + read resolution);
- the SLA verdict is a one-sided exact binomial test of the arrival rate against the
  threshold: "breach" when the rate is below it with p < alpha, "met" when above it with
  p < alpha, else "undecided" with the exact number of further probes, all arriving, that
  would confirm it met (probes_to_decide) and of further losses that would confirm a
  breach (losses_to_breach);
- billing: parts the vendor bills on its DELIVRD reports vs parts verified delivered (a
  partial probe's arrived parts included);
- billed parts: where the vendor reported what it billed (fee, acknowledged parts), that
  figure against the 70/67 (UCS-2) or 160/153 (GSM 7-bit) rule on the text sent and the
  parts that arrived; a probe billed above the rule is inflated and listed by id.
"""

from __future__ import annotations

import itertools
import operator
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Any, TypeVar

from collector.stats import (
    Ones,
    Ordered,
    arrivals_to_confirm,
    each_once,
    losses_to_breach,
    percentile,
    quantile_ci,
    sla_test,
    wilson_interval,
)

DIMENSIONS = ("vendor", "carrier", "region", "profile", "band")
# Outside the "full" breakdown: each has its own tables (reports/build.py).
EXTRA_DIMENSIONS = ("calendar", "line", "sim")
DLR_CLASSES = ("consistent", "fake_success", "false_failure", "missing", "late", "unverifiable")
CONTENT_CLASSES = ("intact", "modified", "truncated", "signature_changed")


@dataclass(frozen=True, slots=True)
class JudgedProbe:
    """One probe as the report sees it: the verdict plus what billing needs."""

    probe_id: str
    vendor: str
    carrier: str
    region: str
    profile: str
    band: str
    submitted_at_ns: int
    accepted: bool  # the vendor API accepted the submit
    outcome: str  # delivered | late | partial | lost | inconclusive | rejected | pending
    dlr: str  # DlrTruth value
    dlr_claim: str  # success | failure | none
    content: str  # ContentVerdict value
    latency_s: float | None = None
    latency_uncertainty_s: float | None = None
    vendor_delay_s: float | None = None
    carrier_delay_s: float | None = None
    duplicates: int = 0
    parts: int = 1  # billed parts of the message (70/67 rule, signature included)
    missing_parts: int = 0  # parts that never arrived (partial outcome)
    # What the vendor itself says it billed (its fee, or the parts it acknowledged), and
    # where that figure came from; None: it said nothing (docs/vendors.md, "Billed parts")
    vendor_billed_parts: int | None = None
    billed_from: str = ""
    calendar: str = ""  # holiday/campaign/weekend/workday of the send (reports/calendar.py)
    sim: str = ""  # the receiving SIM's national MSISDN
    line: str = ""  # home | mvno | ported | unknown (reports/lines.py)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JudgedProbe:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True, slots=True)
class Thresholds:
    arrival_rate: float = 0.97
    p95_latency_s: float = 60.0
    alpha: float = 0.05


@dataclass(frozen=True, slots=True)
class Cell:
    key: dict[str, str]
    sent: int
    accepted: int
    accept_rate: float | None
    delivered: int
    late: int
    lost: int
    partial: int  # long messages with parts missing: apart from the arrival rate
    parts_missing: int  # parts the partial probes lack
    inconclusive: int
    rejected: int
    pending: int
    judged: int
    arrival_rate: float | None
    ci_low: float
    ci_high: float
    latency_p50_s: float | None
    latency_p90_s: float | None
    latency_p99_s: float | None
    latency_p50_ci_s: tuple[float, float] | None
    latency_p90_ci_s: tuple[float, float] | None
    latency_p99_ci_s: tuple[float, float] | None
    latency_p95_s: float | None
    latency_uncertainty_s: float | None
    vendor_delay_p50_s: float | None
    carrier_delay_p50_s: float | None
    dlr: dict[str, int]
    dlr_rates: dict[str, float]
    content: dict[str, int]
    duplicates: int
    sla: str  # met | breach | undecided | no_data
    sla_p_value: float | None
    # undecided: further probes, all arriving, that confirm the SLA met (stats.py, exact)
    probes_to_decide: int | None
    latency_sla: str  # met | breach | no_data
    billed_parts: int
    verified_parts: int
    billed_money: float
    verified_money: float
    overbilled_money: float
    # The vendor's own billed figures against the rule and what arrived, over the probes
    # it reported one for; inflation = billed above the rule, with the probes behind it.
    vendor_billed_probes: int = 0
    vendor_billed_parts: int = 0
    vendor_rule_parts: int = 0
    vendor_arrived_parts: int = 0
    inflated_probes: int = 0
    inflated_parts: int = 0
    inflated_probe_ids: list[str] = field(default_factory=list)
    # undecided: further probes, all lost, that confirm a breach
    losses_to_breach: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _verified_parts(p: JudgedProbe) -> int:
    if p.outcome in ("delivered", "late"):
        return p.parts
    if p.outcome == "partial":
        return max(p.parts - p.missing_parts, 0)
    return 0


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


T = TypeVar("T")
VALUE_KINDS = ("latency", "uncertainty", "vendor_delay", "carrier_delay")
ARRIVED = ("delivered", "late")


@dataclass(frozen=True, slots=True)
class Tally:
    """`n` probes alike in every field a figure counts (`probe`: any one of them; its own
    measured values are not read) and measured values to pool into every cell `probe`
    falls in: (kind, values, how many of each) with kind in VALUE_KINDS, latencies of
    arrived probes only. A probe from raw rows is a tally of one carrying its own values
    (`tally_of`); the rollups give a tally per count key and local day (`load_tallies`), a
    value group's values on one tally of its count keys (every breakdown key is a function
    of the fields they share, so the values land in the cells of their own probes).

    `sends`: when the n probes were sent at several times (the rollups summed per slice of
    one local day), each time with how many, summing to n, the first at
    `probe.submitted_at_ns`; empty: all n then. Only the rate series, the calendar label
    and the not-measured check read send times (`send_times`, `parted`)."""

    probe: JudgedProbe
    n: int = 1
    values: tuple[tuple[str, Sequence[float], Sequence[int]], ...] = ()
    sends: Sequence[tuple[int, int]] = ()

    def with_probe(self, probe: JudgedProbe) -> Tally:
        """The same n, values and sends on another probe (e.g. labelled)."""
        return Tally(probe, self.n, self.values, self.sends)

    def send_times(self) -> Sequence[tuple[int, int]]:
        """(send time, how many) pairs summing to n."""
        return self.sends or ((self.probe.submitted_at_ns, self.n),)

    def parted(self, label: Callable[[int], T]) -> list[tuple[T, Tally]]:
        """The tally split by `label` of its send times (e.g. the calendar's kind of day,
        inside a not-measured span or not), a tally per label in the order first met; the
        values go with the part holding the first send (the rollups' values of a key and
        local day: load_tallies never sends a key-day's probes into differently labelled
        parts, so this only keeps the split exact where it may happen)."""
        first = label(self.probe.submitted_at_ns)
        if not self.sends or all(label(at) == first for at, _ in self.sends[1:]):
            return [(first, self)]
        parts: dict[T, list[tuple[int, int]]] = {}
        for at, n in self.sends:
            parts.setdefault(label(at), []).append((at, n))
        out = []
        for name, sends in parts.items():
            probe = self.probe
            if name != first:
                probe = replace(probe, submitted_at_ns=sends[0][0])
            out.append((name, Tally(probe, sum(n for _, n in sends),
                                    self.values if name == first else (),
                                    tuple(sends) if len(sends) > 1 else ())))  # fmt: skip
        return out


def tally_of(p: JudgedProbe) -> Tally:
    """One probe as a tally of one, with its measured values."""
    latency = p.latency_s if p.outcome in ARRIVED else None
    found = (latency, p.latency_uncertainty_s, p.vendor_delay_s, p.carrier_delay_s)
    values = tuple(
        (k, (v,), (1,)) for k, v in zip(VALUE_KINDS, found, strict=True) if v is not None
    )
    return Tally(p, 1, values)


_TIMELESS = operator.attrgetter(*(f for f in JudgedProbe.__dataclass_fields__
                                  if f != "submitted_at_ns"))  # fmt: skip


def merge_times(tallies: Iterable[Tally]) -> list[Tally]:
    """The tallies without a probe id (counted, e.g. an hour of rollups) that differ only
    in their send time, as one each (values pooled, each kind's values ascending): what
    every breakdown sees of them is the same, and their cost then follows the distinct
    keys, not the hours. Tallies of probes with an id are kept as they are (reports list
    them by id). The send time of a merged tally is its first one's: the rate series and
    the calendar, which read it, are taken before."""
    out: list[Tally] = []
    merged: dict[tuple[object, ...], tuple[JudgedProbe, list[int], dict[str, list[Any]]]] = {}
    for t in tallies:
        p = t.probe
        if p.probe_id:
            out.append(t)
            continue
        key = _TIMELESS(p)
        slot = merged.get(key)
        if slot is None:
            slot = merged[key] = (p, [0], {})
        slot[1][0] += t.n
        for kind, vs, ks in t.values:
            slot[2].setdefault(kind, []).append((vs, ks))
    for p, n, chunks in merged.values():
        out.append(
            Tally(p, n[0], tuple((kind, *_ascending(parts)) for kind, parts in chunks.items()))
        )
    return out


class Ascending(list[float]):
    """Values known to be ascending (`merge_times` makes them so): pooled as the run they
    are, never sorted again."""

    __slots__ = ()


def _ascending(
    chunks: Sequence[tuple[Sequence[float], Sequence[int]]],
) -> tuple[Ascending, Sequence[int]]:
    """Chunks of (values, counts) as one list of values ascending with their counts."""
    if all(map(each_once, (ks for _, ks in chunks))):  # each value once: no counts to merge
        packed = array("d")  # packed runs joined in C, then made floats at once (tolist)
        for vs, _ in chunks:
            packed.extend(vs)
        values = Ascending(packed.tolist())
        values.sort()  # chunks of ascending values sort as runs (Timsort's merge)
        return values, Ones(len(values))
    values_: list[float] = []
    counts: list[int] = []
    for vs, ks in chunks:
        values_ += vs
        counts += ks
    order = sorted(range(len(values_)), key=values_.__getitem__)
    out_values = Ascending()
    out_counts: list[int] = []
    for i in order:  # repeats as one value with their count (e.g. a fixed uncertainty)
        if out_values and out_values[-1] == values_[i]:
            out_counts[-1] += counts[i]
        else:
            out_values.append(values_[i])
            out_counts.append(counts[i])
    return out_values, out_counts


def tallies_of(items: Iterable[JudgedProbe | Tally]) -> Iterator[Tally]:
    for item in items:
        yield item if isinstance(item, Tally) else tally_of(item)


def exact_sum(pairs: Iterable[tuple[float, int]]) -> float:
    """sum(value × n) as if each of the n values were added one by one, exactly and then
    rounded once (what math.fsum gives over the expanded values): the same whether the
    probes came one by one or counted, in any order. Few distinct values per cell."""
    counts: dict[float, int] = defaultdict(int)
    for value, n in pairs:
        counts[value] += n
    return float(sum((Fraction(v) * n for v, n in counts.items()), Fraction(0)))


def pool(
    chunks: Sequence[tuple[Sequence[float], Sequence[int]]],
    memo: dict[tuple[int, ...], Ordered] | None,
) -> Ordered:
    """The multiset of these (values, counts) chunks, each an ascending run of it (sorted
    first unless `Ascending` or single; nothing merged: stats.Ordered selects across the
    runs); `memo`: by the chunks' identity, for breakdowns whose cells pool the same
    tallies (e.g. vendor and vendor × band when each vendor has one band)."""
    key = tuple(id(vs) for vs, _ in chunks)
    if memo is not None and key in memo:
        return memo[key]
    singles = [vs[0] for vs, ks in chunks if len(vs) == 1 and ks[0] == 1]
    if len(singles) == len(chunks):  # one value a probe (raw rows): one sorted run
        ordered = Ordered([sorted(singles)])
    else:
        runs: list[Sequence[float]] = []
        ends: list[Sequence[int] | None] = []
        for vs, ks in chunks:
            n = len(vs)
            if not n:
                continue
            if n > 1 and not isinstance(vs, Ascending):
                vs, ks = _ascending([(vs, ks)])
            runs.append(vs)
            ends.append(None if each_once(ks) else list(itertools.accumulate(ks)))
        ordered = Ordered(runs, ends)
    if memo is not None:
        memo[key] = ordered
    return ordered


@dataclass
class Pools:
    """What `aggregate` calls over the same tallies share: each breakdown's value
    multisets by cell and kind. A breakdown whose dimensions are a subset of one already
    made takes the union of those finer cells' multisets (their runs side by side, and
    what their order statistics already sorted) instead of pooling every tally's chunk
    again; the same multisets, so the same figures."""

    cells: dict[tuple[str, ...], dict[tuple[str, ...], dict[str, Ordered]]] = field(
        default_factory=dict
    )

    def finer(self, dims: Sequence[str]) -> dict[tuple[str, ...], list[dict[str, Ordered]]]:
        """The cells of the made breakdown with the fewest cells among those finer than
        `dims`, by their key in `dims`; empty when none."""
        best: tuple[tuple[str, ...], dict[tuple[str, ...], dict[str, Ordered]]] | None = None
        for have, cells in self.cells.items():
            finer = tuple(have) != tuple(dims) and set(dims) <= set(have)
            if finer and (best is None or len(cells) < len(best[1])):
                best = (have, cells)
        parts: dict[tuple[str, ...], list[dict[str, Ordered]]] = defaultdict(list)
        if best is not None:
            at = [best[0].index(d) for d in dims]
            for key, kinds in best[1].items():
                parts[tuple(key[i] for i in at)].append(kinds)
        return parts


def _cell(
    key: dict[str, str],
    tallies: Sequence[Tally],
    thresholds: Thresholds,
    price: Callable[[JudgedProbe], float],
    memo: dict[tuple[int, ...], Ordered] | None = None,
    parts: Sequence[dict[str, Ordered]] | None = None,
    made: dict[str, Ordered] | None = None,
) -> Cell:
    count: dict[str, int] = defaultdict(int)
    dlr: dict[str, int] = dict.fromkeys(DLR_CLASSES, 0)
    content: dict[str, int] = dict.fromkeys(CONTENT_CLASSES, 0)
    pooled: dict[str, list[tuple[Sequence[float], Sequence[int]]]] = {k: [] for k in VALUE_KINDS}
    sent = accepted = claimed = parts_missing = duplicates = 0
    billed_parts = verified_parts = 0
    billed_money: list[tuple[float, int]] = []
    verified_money: list[tuple[float, int]] = []
    reported = reported_billed = reported_rule = reported_arrived = 0
    inflated_parts = 0
    inflated_ids: list[str] = []
    for t in tallies:
        p, n = t.probe, t.n
        sent += n
        count[p.outcome] += n
        accepted += n * p.accepted
        claimed += n * (p.dlr_claim != "none")
        if p.dlr in dlr:
            dlr[p.dlr] += n
        if p.content in content:
            content[p.content] += n
        duplicates += n * p.duplicates
        verified = _verified_parts(p)
        verified_parts += n * verified
        each = price(p)
        if p.dlr_claim == "success":
            billed_parts += n * p.parts
            billed_money.append((p.parts * each, n))
        verified_money.append((verified * each, n))
        if p.outcome == "partial":
            parts_missing += n * p.missing_parts
        if p.vendor_billed_parts is not None:
            reported += n
            reported_billed += n * p.vendor_billed_parts
            reported_rule += n * p.parts
            reported_arrived += n * verified
            if p.vendor_billed_parts > p.parts:
                inflated_parts += n * (p.vendor_billed_parts - p.parts)
                inflated_ids += [p.probe_id] * n
        if parts is None:
            for kind, vs, ks in t.values:
                pooled[kind].append((vs, ks))
    if parts is None:
        ordered = {kind: pool(chunks, memo) for kind, chunks in pooled.items()}
    else:  # the finer cells' multisets (Pools)
        ordered = {kind: Ordered.union([p[kind] for p in parts]) for kind in VALUE_KINDS}
    if made is not None:
        made.update(ordered)
    latencies, uncertainties = ordered["latency"], ordered["uncertainty"]
    arrived = count["delivered"] + count["late"]
    judged = arrived + count["lost"]
    rate = arrived / judged if judged else None
    ci_low, ci_high = wilson_interval(arrived, judged)
    # Rates of each DLR class among the probes it could apply to: fake success among
    # success claims for lost messages, false failure among failure claims, and so on,
    # all over the probes that were judged (arrived or lost).
    dlr_rates = {c: (dlr[c] / judged if judged else 0.0) for c in DLR_CLASSES}
    dlr_rates["claimed_share"] = claimed / sent if sent else 0.0

    breach_after: int | None = None
    if judged == 0:
        sla, p_value, needed = "no_data", None, None
    else:
        sla, p_value = sla_test(arrived, judged, thresholds.arrival_rate, thresholds.alpha, 9)
        needed = None
        if sla == "undecided":
            needed = arrivals_to_confirm(arrived, judged, thresholds.arrival_rate,
                                         thresholds.alpha)  # fmt: skip
            breach_after = losses_to_breach(arrived, judged, thresholds.arrival_rate,
                                            thresholds.alpha)  # fmt: skip
    p95 = percentile(latencies, 95)
    latency_sla = (
        "no_data" if p95 is None else ("met" if p95 <= thresholds.p95_latency_s else "breach")
    )
    billed, worth = exact_sum(billed_money), exact_sum(verified_money)
    return Cell(
        key=key,
        sent=sent,
        accepted=accepted,
        accept_rate=_round(accepted / sent) if sent else None,
        delivered=count["delivered"],
        late=count["late"],
        lost=count["lost"],
        partial=count["partial"],
        parts_missing=parts_missing,
        inconclusive=count["inconclusive"],
        rejected=count["rejected"],
        pending=count["pending"],
        judged=judged,
        arrival_rate=_round(rate),
        ci_low=round(ci_low, 6),
        ci_high=round(ci_high, 6),
        latency_p50_s=_round(percentile(latencies, 50), 3),
        latency_p90_s=_round(percentile(latencies, 90), 3),
        latency_p99_s=_round(percentile(latencies, 99), 3),
        latency_p50_ci_s=quantile_ci(latencies, 50),
        latency_p90_ci_s=quantile_ci(latencies, 90),
        latency_p99_ci_s=quantile_ci(latencies, 99),
        latency_p95_s=_round(p95, 3),
        latency_uncertainty_s=_round(uncertainties.exact_mean(), 3),
        vendor_delay_p50_s=_round(percentile(ordered["vendor_delay"], 50), 3),
        carrier_delay_p50_s=_round(percentile(ordered["carrier_delay"], 50), 3),
        dlr=dlr,
        dlr_rates={k: round(v, 6) for k, v in dlr_rates.items()},
        content=content,
        duplicates=duplicates,
        sla=sla,
        sla_p_value=p_value,  # rounded to 9 digits (sla_test)
        probes_to_decide=needed,
        latency_sla=latency_sla,
        billed_parts=billed_parts,
        verified_parts=verified_parts,
        # Each probe at its own price (a vendor's table by carrier, profile, grade).
        billed_money=round(billed, 4),
        verified_money=round(worth, 4),
        overbilled_money=round(max(billed - worth, 0.0), 4),
        vendor_billed_probes=reported,
        vendor_billed_parts=reported_billed,
        vendor_rule_parts=reported_rule,
        vendor_arrived_parts=reported_arrived,
        inflated_probes=len(inflated_ids),
        inflated_parts=inflated_parts,
        inflated_probe_ids=sorted(inflated_ids),
        losses_to_breach=breach_after,
    )


def aggregate(
    probes: Iterable[JudgedProbe | Tally],
    *,
    group_by: Sequence[str] = DIMENSIONS,
    thresholds: Thresholds = Thresholds(),
    price_per_part: Mapping[str, float] | Callable[[JudgedProbe], float] | None = None,
    memo: dict[tuple[int, ...], Ordered] | None = None,
    pools: Pools | None = None,
) -> list[Cell]:
    """One cell per combination of `group_by` values present, sorted by key; probes one
    by one or counted (`Tally`), the same figures either way; `memo`: shared by calls over
    the same tallies (the value chunks must stay alive), cells pooling the same chunks
    order them once; `pools`: the same for breakdowns (Pools), a coarser one merging the
    finer cells' ordered values. Money is priced per probe:
    `price_per_part` is the price of a probe's part (the report passes billing's
    BillingConfig.part_price), or a flat price per vendor."""
    unknown = set(group_by) - set(DIMENSIONS) - set(EXTRA_DIMENSIONS)
    if unknown:
        raise ValueError(f"cannot group by {sorted(unknown)}; choose from {DIMENSIONS}")
    groups: dict[tuple[str, ...], list[Tally]] = defaultdict(list)
    for t in tallies_of(probes):
        groups[tuple(getattr(t.probe, d) for d in group_by)].append(t)
    if callable(price_per_part):
        price = price_per_part
    else:
        flat = price_per_part or {}
        price = lambda p: flat.get(p.vendor, 0.0)  # noqa: E731
    if pools is None:
        return [
            _cell(dict(zip(group_by, values, strict=True)), groups[values], thresholds, price, memo)
            for values in sorted(groups)
        ]
    finer = pools.finer(group_by)
    made = pools.cells.setdefault(tuple(group_by), {})
    return [
        _cell(
            dict(zip(group_by, values, strict=True)),
            groups[values],
            thresholds,
            price,
            memo,
            finer[values] if finer else None,
            made.setdefault(values, {}),
        )
        for values in sorted(groups)
    ]
