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
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from collector.billing.terms import Model, VendorTerms
from collector.reports.figures import JudgedProbe, _verified_parts

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
        return asdict(self)


def statement(
    vendor: str,
    probes: Iterable[JudgedProbe],
    terms: VendorTerms,
    invoice: Mapping[str, Billed] | None = None,
    *,
    priced: bool = True,
    apart: Callable[[JudgedProbe], str | None] | None = None,
) -> VendorStatement:
    """The statement of one vendor's probes (all of `probes` must be that vendor's);
    `apart` names the group of a probe the report's tables leave out (None: counted)."""
    invoice = invoice or {}
    items = list(probes)
    model, coef = terms.model, terms.coefficient
    own_at = MODELS.index(model)
    charge = [0.0] * len(MODELS)  # by MODELS' order (a month: 4 million probes × models)
    price_of = functools.cache(terms.price_of)  # one price per carrier × profile
    worth = unverifiable_worth = 0.0
    counts: dict[str, int] = defaultdict(int)
    rows: dict[str, list[tuple[JudgedProbe, float, float]]] = {b: [] for b in BASES}
    unverifiable_money: dict[str, float] = defaultdict(float)
    overcharged: list[dict[str, Any]] = []
    left: dict[str, dict[str, Any]] = {}
    for p in items:
        price = price_of(p.carrier, p.profile)
        arrived = _verified_parts(p)
        counts["sent"] += 1
        if not p.accepted:
            continue
        counts["accepted"] += 1
        counts["submitted_parts"] += p.parts
        counts["success_parts"] += p.parts if p.dlr_claim == "success" else 0
        counts["arrived_parts"] += arrived
        verifiable = p.outcome in VERIFIABLE
        if p.outcome in ("delivered", "late", "lost"):
            counts["judged"] += 1
            counts["judged_arrived"] += p.outcome != "lost"
            counts["judged_success"] += p.dlr_claim == "success"
        counts["verifiable" if verifiable else "unverifiable"] += 1
        charged = [charged_parts(m, coef, p) for m in MODELS]
        for i, c in enumerate(charged):
            charge[i] += c * price
        why = apart(p) if apart is not None else None
        if why is not None:
            a = left.setdefault(why, {"probes": 0, "parts": 0, "worth": 0.0,
                                      "charge": dict.fromkeys(Model, 0.0)})  # fmt: skip
            a["probes"] += 1
            a["parts"] += p.parts
            a["worth"] += arrived * price
            for m, c in zip(MODELS, charged, strict=True):
                a["charge"][m] += c * price
        if verifiable:
            worth += arrived * price
        else:
            counts["unverifiable_parts"] += p.parts
            unverifiable_worth += p.parts * price
        own = charged[own_at]
        bills: dict[str, tuple[float, float]] = {"model": (own, own * price)}
        if p.vendor_billed_parts is not None:
            bills["vendor_reported"] = (p.vendor_billed_parts, p.vendor_billed_parts * price)
        if p.probe_id in invoice:
            b = invoice[p.probe_id]
            bills["invoice"] = (b.parts, b.amount if b.amount is not None else b.parts * price)
        for basis, (c_parts, c_money) in bills.items():
            if verifiable:
                rows[basis].append((p, c_parts, c_money))
            else:
                unverifiable_money[basis] += c_money
        if verifiable and own * price > arrived * price and own > 0:
            overcharged.append({
                "probe_id": p.probe_id, "outcome": p.outcome, "dlr_claim": p.dlr_claim,
                "carrier": p.carrier, "profile": p.profile, "price": price,
                "charged_parts": own, "arrived_parts": arrived,
                "money": _r((own - arrived) * price),
                "vendor_billed_parts": p.vendor_billed_parts,
                "invoice_parts": invoice[p.probe_id].parts if p.probe_id in invoice else None,
            })  # fmt: skip
    bases = {}
    for basis, basis_rows in rows.items():
        if basis != "model" and not basis_rows and not unverifiable_money[basis]:
            continue
        bases[basis] = _basis_of(basis_rows, price_of, unverifiable_money[basis])
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
        charge={m.value: _r(charge[i]) for i, m in enumerate(MODELS)},
        worth=_r(worth),
        unverifiable_worth=_r(unverifiable_worth),
        bases=bases,
        arrival_rate=_share(counts["judged_arrived"], counts["judged"]),
        success_share=_share(counts["judged_success"], counts["judged"]),
        overcharged=sorted(overcharged, key=lambda o: o["probe_id"]),
        apart={why: _apart_json(a) for why, a in sorted(left.items())},
    )


def _apart_json(a: dict[str, Any]) -> dict[str, Any]:
    return {**a, "worth": _r(a["worth"]), "charge": {m.value: _r(a["charge"][m]) for m in Model}}


def _share(n: int, of: int) -> float | None:
    return round(n / of, 6) if of else None


def _basis_of(
    rows: Sequence[tuple[JudgedProbe, float, float]],
    price_of: Callable[[str, str], float],
    unverifiable: float,
) -> Basis:
    parts = money = worth = gross = 0.0
    for p, c_parts, c_money in rows:
        w = _verified_parts(p) * price_of(p.carrier, p.profile)
        parts += c_parts
        money += c_money
        worth += w
        gross += max(c_money - w, 0.0)
    return Basis(len(rows), _r(parts), _r(money), _r(worth), _r(gross), _r(money - worth),
                 _r(unverifiable))  # fmt: skip


def statements(
    probes: Iterable[JudgedProbe],
    terms_of: Mapping[str, VendorTerms],
    invoices: Mapping[str, Mapping[str, Billed]] | None = None,
    *,
    default_currency: str = "CNY",
    apart: Callable[[JudgedProbe], str | None] | None = None,
) -> list[VendorStatement]:
    """One statement per vendor present in `probes`, by name."""
    by_vendor: dict[str, list[JudgedProbe]] = defaultdict(list)
    for p in probes:
        by_vendor[p.vendor].append(p)
    out = []
    for vendor in sorted(by_vendor):
        terms = terms_of.get(vendor)
        priced = terms is not None
        out.append(
            statement(
                vendor,
                by_vendor[vendor],
                terms or VendorTerms(vendor, currency=default_currency),
                (invoices or {}).get(vendor),
                priced=priced,
                apart=apart,
            )
        )
    return out
