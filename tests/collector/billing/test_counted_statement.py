"""A statement from counted tallies (the rollups: no probe ids, alike tallies merged by the
fields a statement reads) equals it over the same probes one by one, under every model,
with prices per carrier and profile, vendor-reported parts, partial arrivals, probes set
apart and an invoice among the probes that keep their ids."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest

from collector.billing.statement import (
    VERIFIABLE,
    Billed,
    _over,
    _overcharged,
    charged_parts,
    statement,
)
from collector.billing.terms import Model, PriceRule, VendorTerms
from collector.ledger.probes import ChargeRow
from collector.reports.figures import JudgedProbe, Tally, _verified_parts

OUTCOMES = ("delivered", "late", "partial", "lost", "inconclusive", "pending", "rejected")
RULES = (PriceRule(0.055, carrier="china_telecom"), PriceRule(0.061, profile="otp"),
         PriceRule(0.07, carrier="china_unicom", profile="marketing"))  # fmt: skip


def probes(rng: random.Random, n: int) -> list[JudgedProbe]:
    out = []
    for i in range(n):
        outcome = rng.choice(OUTCOMES)
        parts = rng.choice((1, 1, 2, 3))
        out.append(JudgedProbe(
            probe_id=f"p{i:05d}", vendor="v",
            carrier=rng.choice(("china_mobile", "china_unicom", "china_telecom")),
            region=rng.choice(("bj", "sh")), profile=rng.choice(("otp", "marketing", "notice")),
            band=rng.choice(("day", "night")), submitted_at_ns=rng.randrange(10**12),
            accepted=outcome != "rejected", outcome=outcome, dlr="consistent",
            dlr_claim=rng.choice(("success", "success", "failure", "none")), content="intact",
            latency_s=rng.random() * 9, parts=parts,
            missing_parts=rng.randrange(1, parts + 1) if outcome == "partial" else 0,
            vendor_billed_parts=rng.choice((None, None, parts, parts + 1)),
        ))  # fmt: skip
    return out


def over_charged(p: JudgedProbe, terms: VendorTerms) -> bool:
    own = charged_parts(terms.model, terms.coefficient, p)
    arrived = {"delivered": p.parts, "late": p.parts}.get(p.outcome, 0)
    if p.outcome == "partial":
        arrived = p.parts - p.missing_parts
    return p.accepted and p.outcome in VERIFIABLE and own > arrived


def charge_row(p: JudgedProbe) -> ChargeRow:
    """The listing's read of an accepted probe (Ledger.charge_rows)."""
    assert p.accepted
    return ChargeRow(p.probe_id, p.vendor, p.carrier, p.profile, p.parts,
                     p.vendor_billed_parts, p.outcome, p.dlr_claim, p.missing_parts)  # fmt: skip


@pytest.mark.parametrize("model", list(Model))
def test_counted_tallies_give_the_statement_of_the_probes_one_by_one(model: Model) -> None:
    rng = random.Random(7 + list(Model).index(model))
    terms = VendorTerms("v", model, 0.045, 0.93, rules=RULES)
    every = probes(rng, 12000)
    kept = every[:300]  # read raw: their ids kept (apart, invoiced, listed as they come)
    invoice = {p.probe_id: Billed(p.parts, rng.choice((None, 0.05 * p.parts)))
               for p in kept[::7]}  # fmt: skip

    bursts = {p.probe_id for p in kept[::5]}  # counted probes are in no burst (rollups)

    def apart(p: JudgedProbe) -> str | None:
        return "bursts" if p.probe_id in bursts else None

    # the rest counted: id-less tallies of random sizes over alike probes (every field
    # the statement reads equal), several per combination, as hours of rollups give them
    alike: dict[tuple[Any, ...], list[JudgedProbe]] = {}
    for p in every[300:]:
        key = (p.carrier, p.profile, p.accepted, p.parts, p.dlr_claim, p.outcome,
               p.missing_parts, p.vendor_billed_parts)  # fmt: skip
        alike.setdefault(key, []).append(p)
    alike_sizes = {key: list(group) for key, group in alike.items()}
    counted: list[JudgedProbe | Tally] = list(kept)
    for group in alike.values():
        while group:
            take = min(rng.randint(1, 5), len(group))
            # a tally's probe is any one of its probes, its other fields (band, region,
            # time) those of that probe
            counted.append(Tally(replace(group[0], probe_id="", latency_s=None), take))
            del group[:take]
    rng.shuffle(counted)
    listed = [charge_row(p) for p in every[300:] if over_charged(p, terms)]
    rng.shuffle(listed)

    one_by_one = statement("v", every, terms, invoice, apart=apart)
    from_counts = statement("v", counted, terms, invoice, apart=apart, listed=listed)
    several = sum(len(g) > 5 for g in alike_sizes.values())
    assert len(counted) < len(every) // 2 and several > 100 and len(listed) > 1000
    assert from_counts.to_dict() == one_by_one.to_dict()
    assert one_by_one.apart["bursts"]["probes"] > 0 and "invoice" in one_by_one.bases
    assert one_by_one.bases["model"].over_gross > 0 and one_by_one.worth > 0


@pytest.mark.parametrize("model", list(Model))
def test_listed_lines_are_those_of_the_judged_probes(model: Model) -> None:
    """The lines of the listed probes (made once per kind of probe from their charge rows)
    are, key for key and in the same key order, `_overcharged` of each judged probe as
    the listing made them before (each priced alone); accepted probes that are not
    over-charged are in `listed` too (read by outcome) and are left out."""
    rng = random.Random(31 + list(Model).index(model))
    terms = VendorTerms("v", model, 0.045, 0.93, rules=RULES)
    every = probes(rng, 6000)
    invoice = {p.probe_id: Billed(p.parts + 1, None) for p in every[::9]}
    counted = [Tally(replace(p, probe_id="", latency_s=None), 1) for p in every]
    listed = [charge_row(p) for p in every if p.accepted]
    rng.shuffle(listed)

    want = []
    for p in every:  # the previous listing: each probe's judged row, priced one by one
        price = terms.price_of(p.carrier, p.profile)
        own = charged_parts(model, terms.coefficient, p)
        arrived = _verified_parts(p)
        if _over(own, arrived, price, p.outcome in VERIFIABLE):
            want.append(_overcharged(p, own, arrived, price, invoice))
    got = statement("v", counted, terms, invoice, listed=listed).overcharged
    assert [list(line.items()) for line in got] == [
        list(line.items()) for line in sorted(want, key=lambda line: line["probe_id"])
    ]
    assert len(want) > 300 and len(listed) > len(want)  # not-over-charged rows left out
    assert {line["outcome"] for line in got} >= {"lost", "partial"}
    assert any(line["invoice_parts"] is not None for line in got)
    assert any(line["vendor_billed_parts"] is not None for line in got)
    assert len({line["price"] for line in got}) > 2  # priced per carrier and profile
