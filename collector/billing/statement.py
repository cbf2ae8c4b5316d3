"""What a vendor's probes cost under each billing model, what the vendor billed, and what
arrived is worth: the over-charge in money, with the probes behind it. Pure; the figures
are defined here once for `cost`, the report's billing section and the evidence bundle.

Per probe (its parts by the 70/67 or 160/153 rule, priced by the vendor's terms):
- charged parts: on_submit = parts of an accepted probe; on_success = parts of an accepted
  probe whose DLR claims success; coefficient = parts of an accepted probe × coefficient;
- arrived parts: parts verified on the SIM (a partial probe's arrived parts; figures.py);
- billed by the vendor: its own per-message figure where it reported one (fee, parts
  acknowledged: docs/vendors.md "Billed parts"), or the lines of an imported invoice/CDR
  matched by message id (their amounts, else parts × our price).
Only verifiable probes (delivered, late, partial, lost) enter an over-charge: an
inconclusive or pending probe's fate is unknown, its money is shown apart. Over-charge,
per basis: gross = the money charged above what arrived, probe by probe (what the vendor
billed for messages that never arrived); net = charged − worth over the same probes (may
be negative: a coefficient below the arrival rate, or DLR false failures, bill less).

Every probe the vendor billed is in the statement, bursts included. The report's tables
leave some out (burst probes, measured apart; probes sent while the vendor was not
measured): `apart` names each such group with its probes, charge and worth, so the
statement minus its `apart` lines is exactly the money in the report's tables.
"""

from __future__ import annotations

import functools
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from collector.billing.terms import Model, VendorTerms
from collector.ledger.probes import ChargeRow
from collector.reports.figures import JudgedProbe, Tally, _verified_parts, exact_sum

VERIFIABLE = frozenset({"delivered", "late", "partial", "lost"})
UNVERIFIABLE = frozenset({"inconclusive", "pending"})
BASES = ("model", "vendor_reported", "invoice")
MODELS = tuple(Model)


@dataclass(frozen=True, slots=True)
class Billed:
    """What an invoice/CDR billed for one probe: parts and money (None: no amounts)."""

    parts: int
    amount: float | None
    lines: int = 1


def charged_parts(model: Model, coefficient: float, p: JudgedProbe) -> float:
    if not p.accepted:
        return 0.0
    if model is Model.ON_SUBMIT:
        return float(p.parts)
    if model is Model.ON_SUCCESS:
        return float(p.parts) if p.dlr_claim == "success" else 0.0
    return p.parts * coefficient


def _r(x: float) -> float:
    return round(x, 4)


@dataclass(frozen=True, slots=True)
class Basis:
    """One way of counting the bill, over the probes it covers."""

    probes: int = 0  # verifiable probes covered
    parts: float = 0.0  # parts charged on them
    money: float = 0.0  # charged on them
    worth: float = 0.0  # what arrived of them is worth
    over_gross: float = 0.0
    over_net: float = 0.0
    unverifiable_money: float = 0.0  # charged for inconclusive/pending probes


@dataclass(frozen=True, slots=True)
class VendorStatement:
    vendor: str
    currency: str
    model: str
    coefficient: float
    priced: bool  # False: no price in [billing] (every money figure is 0)
    sent: int
    accepted: int
    verifiable: int
    unverifiable: int
    submitted_parts: int
    success_parts: int
    arrived_parts: int
    unverifiable_parts: int
    # money under each model over every accepted probe, and what arrived is worth
    charge: dict[str, float]
    worth: float
    unverifiable_worth: float  # the most the inconclusive/pending probes could be worth
    bases: dict[str, Basis]
    # over judged probes (arrived + lost, as the report's 到达率): the share that arrived
    # and the share whose DLR said delivered; None: none judged
    arrival_rate: float | None = None
    success_share: float | None = None
    overcharged: list[dict[str, Any]] = field(default_factory=list)  # the probes behind it
    # probes the report's tables leave out, by why ("bursts", "not_measured"): probes,
    # parts, charge per model and worth, all within the figures above
    apart: dict[str, dict[str, Any]] = field(default_factory=dict)

    def in_tables(self) -> dict[str, float]:
        """Money of the probes the report's tables count: charge per model and worth,
        the statement's minus its `apart` lines."""
        out = {m: self.charge[m] - sum(a["charge"][m] for a in self.apart.values())
               for m in self.charge}  # fmt: skip
        out["worth"] = self.worth - sum(a["worth"] for a in self.apart.values())
        return {k: _r(v) for k, v in out.items()}

    @property
    def charged(self) -> float:
        """Money under the vendor's own model."""
        return self.charge[self.model]

    def to_dict(self) -> dict[str, Any]:
        # asdict deep-copies every over-charged line (a month: 10^5); they hold scalars
        out = asdict(replace(self, overcharged=[]))
        out["overcharged"] = [dict(line) for line in self.overcharged]
        return out


def _over(own: float, arrived: int, price: float, verifiable: bool) -> bool:
    """Whether a probe is over-charged: billed under its own model above what arrived."""
    return verifiable and own * price > arrived * price and own > 0


class _Money:
    """A sum of money figures (value, how many probes), added exactly and rounded once
    (figures.exact_sum): the same total one by one or counted, in any order."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[float, int] = defaultdict(int)

    def add(self, value: float, n: int) -> None:
        self.counts[value] += n

    def total(self, minus: _Money | None = None) -> float:
        pairs = list(self.counts.items())
        if minus is not None:
            pairs += [(v, -n) for v, n in minus.counts.items()]
        return exact_sum(pairs)


@dataclass(slots=True)
class _BasisSum:
    probes: int = 0
    parts: _Money = field(default_factory=_Money)
    money: _Money = field(default_factory=_Money)
    worth: _Money = field(default_factory=_Money)
    gross: _Money = field(default_factory=_Money)

    def basis(self, unverifiable: _Money) -> Basis:
        return Basis(self.probes, _r(self.parts.total()), _r(self.money.total()),
                     _r(self.worth.total()), _r(self.gross.total()),
                     _r(self.money.total(minus=self.worth)), _r(unverifiable.total()))  # fmt: skip


def statement(
    vendor: str,
    probes: Iterable[JudgedProbe | Tally],
    terms: VendorTerms,
    invoice: Mapping[str, Billed] | None = None,
    *,
    priced: bool = True,
    apart: Callable[[JudgedProbe], str | None] | None = None,
    listed: Iterable[ChargeRow] = (),
) -> VendorStatement:
    """The statement of one vendor's probes (all of `probes` must be that vendor's), one
    by one or counted (`Tally`: n probes alike in every field a statement reads); `apart`
    names the group of a probe the report's tables leave out (None: counted).

    A tally without a probe id (the hourly rollups: reports/judged.load_tallies) stands
    for probes that are in no burst and no not-measured hour (those hours are read raw)
    and that no invoice names (a vendor with invoices is read raw); the over-charged
    probes among them, listed by id, come as `listed` (Ledger.charge_rows of accepted
    probes; any not over-charged there are ignored) — exactly as many as the tallies
    count, else ValueError."""
    invoice = invoice or {}
    model, coef = terms.model, terms.coefficient
    own_at = MODELS.index(model)
    charge = [_Money() for _ in MODELS]  # by MODELS' order (a month: 4 million probes)
    price_of = functools.cache(terms.price_of)  # one price per carrier × profile
    worth, unverifiable_worth = _Money(), _Money()
    counts: dict[str, int] = defaultdict(int)
    sums: dict[str, _BasisSum] = {b: _BasisSum() for b in BASES}
    unverifiable_money: dict[str, _Money] = {b: _Money() for b in BASES}
    overcharged: list[dict[str, Any]] = []
    unlisted = 0  # over-charged probes counted in id-less tallies
    left: dict[str, dict[str, Any]] = {}
    for item in _alike_merged(probes):
        p, n = (item.probe, item.n) if isinstance(item, Tally) else (item, 1)
        price = price_of(p.carrier, p.profile)
        arrived = _verified_parts(p)
        counts["sent"] += n
        if not p.accepted:
            continue
        counts["accepted"] += n
        counts["submitted_parts"] += n * p.parts
        counts["success_parts"] += n * p.parts if p.dlr_claim == "success" else 0
        counts["arrived_parts"] += n * arrived
        verifiable = p.outcome in VERIFIABLE
        if p.outcome in ("delivered", "late", "lost"):
            counts["judged"] += n
            counts["judged_arrived"] += n if p.outcome != "lost" else 0
            counts["judged_success"] += n if p.dlr_claim == "success" else 0
        counts["verifiable" if verifiable else "unverifiable"] += n
        charged = [charged_parts(m, coef, p) for m in MODELS]
        for i, c in enumerate(charged):
            charge[i].add(c * price, n)
        why = apart(p) if apart is not None and p.probe_id else None
        if why is not None:
            a = left.setdefault(why, {"probes": 0, "parts": 0, "worth": _Money(),
                                      "charge": {m: _Money() for m in Model}})  # fmt: skip
            a["probes"] += n
            a["parts"] += n * p.parts
            a["worth"].add(arrived * price, n)
            for m, c in zip(MODELS, charged, strict=True):
                a["charge"][m].add(c * price, n)
        if verifiable:
            worth.add(arrived * price, n)
        else:
            counts["unverifiable_parts"] += n * p.parts
            unverifiable_worth.add(p.parts * price, n)
        own = charged[own_at]
        bills: dict[str, tuple[float, float]] = {"model": (own, own * price)}
        if p.vendor_billed_parts is not None:
            bills["vendor_reported"] = (p.vendor_billed_parts, p.vendor_billed_parts * price)
        if p.probe_id in invoice:
            b = invoice[p.probe_id]
            bills["invoice"] = (b.parts, b.amount if b.amount is not None else b.parts * price)
        for basis, (c_parts, c_money) in bills.items():
            if verifiable:
                s = sums[basis]
                s.probes += n
                s.parts.add(c_parts, n)
                s.money.add(c_money, n)
                s.worth.add(arrived * price, n)
                s.gross.add(max(c_money - arrived * price, 0.0), n)
            else:
                unverifiable_money[basis].add(c_money, n)
        if _over(own, arrived, price, verifiable):
            if p.probe_id:
                overcharged.append(_overcharged(p, own, arrived, price, invoice))
            else:
                unlisted += n
    lines = _listed_lines(vendor, listed, terms, price_of, invoice)
    if len(lines) != unlisted:
        raise ValueError(f"{vendor}: {unlisted} over-charged probe(s) counted, {len(lines)} listed")
    overcharged += lines
    bases = {}
    for basis, s in sums.items():
        if basis != "model" and not s.probes and not unverifiable_money[basis].total():
            continue
        bases[basis] = s.basis(unverifiable_money[basis])
    return VendorStatement(
        vendor=vendor,
        currency=terms.currency,
        model=model.value,
        coefficient=coef,
        priced=priced,
        sent=counts["sent"],
        accepted=counts["accepted"],
        verifiable=counts["verifiable"],
        unverifiable=counts["unverifiable"],
        submitted_parts=counts["submitted_parts"],
        success_parts=counts["success_parts"],
        arrived_parts=counts["arrived_parts"],
        unverifiable_parts=counts["unverifiable_parts"],
        charge={m.value: _r(charge[i].total()) for i, m in enumerate(MODELS)},
        worth=_r(worth.total()),
        unverifiable_worth=_r(unverifiable_worth.total()),
        bases=bases,
        arrival_rate=_share(counts["judged_arrived"], counts["judged"]),
        success_share=_share(counts["judged_success"], counts["judged"]),
        overcharged=sorted(overcharged, key=lambda o: o["probe_id"]),
        apart={why: _apart_json(a) for why, a in sorted(left.items())},
    )


# Every field `statement` reads of a probe without an id (one with an id is also listed,
# set apart, matched to its invoice: read one by one).
_READ = operator.attrgetter(
    "carrier", "profile", "accepted", "parts", "dlr_claim", "outcome", "missing_parts",
    "vendor_billed_parts",
)  # fmt: skip


def _alike_merged(items: Iterable[JudgedProbe | Tally]) -> list[JudgedProbe | Tally]:
    """`items` with those without a probe id alike in every field `statement` reads as one
    tally each (their n summed), the others as they are: a month's rollup tallies are
    10^5, their billing fields a few hundred combinations. The same statement: its counts
    are sums and its money is summed exactly (_Money), in any order."""
    out: list[JudgedProbe | Tally] = []
    alike: dict[tuple[Any, ...], list[Any]] = {}  # fields -> [a probe, how many]
    for item in items:
        p, n = (item.probe, item.n) if isinstance(item, Tally) else (item, 1)
        if p.probe_id:
            out.append(item)
        elif (seen := alike.get(key := _READ(p))) is None:
            alike[key] = [p, n]
        else:
            seen[1] += n
    out += [Tally(p, n) for p, n in alike.values()]
    return out


def over_charged_outcomes(probes: Iterable[JudgedProbe | Tally], terms: VendorTerms) -> set[str]:
    """The outcomes of the id-less tallies among `probes` (one vendor's) that `statement`
    counts as over-charged: what its `listed` probes must be read for."""
    price_of = functools.cache(terms.price_of)
    out = set()
    for item in probes:
        p = item.probe if isinstance(item, Tally) else item
        if p.probe_id or not p.accepted:
            continue
        own = charged_parts(terms.model, terms.coefficient, p)
        if _over(own, _verified_parts(p), price_of(p.carrier, p.profile),
                 p.outcome in VERIFIABLE):  # fmt: skip
            out.add(p.outcome)
    return out


def _listed_lines(
    vendor: str,
    listed: Iterable[ChargeRow],
    terms: VendorTerms,
    price_of: Callable[[str, str], float],
    invoice: Mapping[str, Billed],
) -> list[dict[str, Any]]:
    """The over-charged lines of `listed` (accepted probes), as `_overcharged` of each
    one's judged probe: a line is the same for probes alike in every field it reads but
    the id, so it is made once per such kind (a priced month lists 10^5 probes, a few
    hundred kinds) and copied with each probe's id."""
    lines: list[dict[str, Any]] = []
    line_of: dict[tuple[Any, ...], dict[str, Any] | None] = {}  # kind -> line (None: not over)
    for row in listed:
        key = row[2:]  # the fields after the id and the vendor
        if key not in line_of:
            line_of[key] = _kind_line(vendor, key, terms, price_of)
        if (line := line_of[key]) is not None:
            out = line.copy()  # its keys in _overcharged's order, probe_id first
            out["probe_id"] = probe_id = row[0]
            if probe_id in invoice:
                out["invoice_parts"] = invoice[probe_id].parts
            lines.append(out)
    return lines


def _kind_line(
    vendor: str,
    kind: tuple[Any, ...],
    terms: VendorTerms,
    price_of: Callable[[str, str], float],
) -> dict[str, Any] | None:
    """`_overcharged` of an accepted probe with these ChargeRow fields (but its id and
    vendor) and no invoice line, or None when it is not over-charged."""
    carrier, profile, parts, billed_parts, outcome, dlr_claim, missing_parts = kind
    p = JudgedProbe("", vendor, carrier, "", profile, "", 0, True, outcome, "", dlr_claim, "",
                    parts=parts, missing_parts=missing_parts,
                    vendor_billed_parts=billed_parts)  # fmt: skip
    price = price_of(carrier, profile)
    arrived, own = _verified_parts(p), charged_parts(terms.model, terms.coefficient, p)
    if not _over(own, arrived, price, outcome in VERIFIABLE):
        return None
    return _overcharged(p, own, arrived, price, {})


def _overcharged(
    p: JudgedProbe, own: float, arrived: int, price: float, invoice: Mapping[str, Billed]
) -> dict[str, Any]:
    return {
        "probe_id": p.probe_id, "outcome": p.outcome, "dlr_claim": p.dlr_claim,
        "carrier": p.carrier, "profile": p.profile, "price": price,
        "charged_parts": own, "arrived_parts": arrived,
        "money": _r((own - arrived) * price),
        "vendor_billed_parts": p.vendor_billed_parts,
        "invoice_parts": invoice[p.probe_id].parts if p.probe_id in invoice else None,
    }  # fmt: skip


def _apart_json(a: dict[str, Any]) -> dict[str, Any]:
    return {**a, "worth": _r(a["worth"].total()),
            "charge": {m.value: _r(a["charge"][m].total()) for m in Model}}  # fmt: skip


def _share(n: int, of: int) -> float | None:
    return round(n / of, 6) if of else None


def statements(
    probes: Iterable[JudgedProbe | Tally],
    terms_of: Mapping[str, VendorTerms],
    invoices: Mapping[str, Mapping[str, Billed]] | None = None,
    *,
    default_currency: str = "CNY",
    apart: Callable[[JudgedProbe], str | None] | None = None,
    listed: Mapping[str, Iterable[ChargeRow]] | None = None,
) -> list[VendorStatement]:
    """One statement per vendor present in `probes` (one by one or counted), by name;
    `listed`: per vendor, the rows of its counted over-charged probes (`statement`)."""
    by_vendor: dict[str, list[JudgedProbe | Tally]] = defaultdict(list)
    for item in probes:
        by_vendor[(item.probe if isinstance(item, Tally) else item).vendor].append(item)
    out = []
    for vendor in sorted(by_vendor):
        out.append(
            statement(
                vendor,
                by_vendor[vendor],
                terms_of.get(vendor) or VendorTerms(vendor, currency=default_currency),
                (invoices or {}).get(vendor),
                priced=vendor in terms_of,
                apart=apart,
                listed=(listed or {}).get(vendor, ()),
            )
        )
    return out
