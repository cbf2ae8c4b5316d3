from __future__ import annotations

import pytest

from collector.reports.figures import JudgedProbe, Thresholds, aggregate


def probe(
    i: int,
    outcome: str,
    *,
    vendor: str = "v",
    carrier: str = "china_mobile",
    dlr: str = "consistent",
    claim: str = "success",
    latency: float | None = 5.0,
    parts: int = 1,
    accepted: bool = True,
) -> JudgedProbe:
    arrived = outcome in ("delivered", "late")
    return JudgedProbe(
        probe_id=f"p{i}",
        vendor=vendor,
        carrier=carrier,
        region="east",
        profile="notification",
        band="day",
        submitted_at_ns=i,
        accepted=accepted,
        outcome=outcome,
        dlr=dlr,
        dlr_claim=claim,
        content="intact" if arrived else "none",
        latency_s=latency if arrived else None,
        latency_uncertainty_s=0.5 if arrived else None,
        parts=parts,
    )


def test_arrival_rate_excludes_inconclusive_rejected_and_pending() -> None:
    probes = [probe(i, "delivered") for i in range(90)]
    probes += [probe(100 + i, "late", latency=90.0) for i in range(5)]
    probes += [probe(200 + i, "lost", dlr="fake_success") for i in range(5)]
    probes += [probe(300 + i, "inconclusive", dlr="unverifiable") for i in range(7)]
    probes += [probe(400 + i, "rejected", claim="none", accepted=False) for i in range(3)]
    probes += [probe(500, "pending", claim="none")]
    (cell,) = aggregate(probes, group_by=("vendor",))
    assert (cell.sent, cell.accepted, cell.judged) == (111, 108, 100)
    assert cell.arrival_rate == pytest.approx(0.95)
    assert cell.ci_low < 0.95 < cell.ci_high
    assert (cell.inconclusive, cell.rejected, cell.pending) == (7, 3, 1)
    assert cell.dlr["fake_success"] == 5 and cell.dlr_rates["fake_success"] == pytest.approx(0.05)
    assert cell.latency_p50_s == 5.0 and cell.latency_p99_s is not None and cell.latency_p99_s > 5


def test_sla_verdict_breach_met_and_undecided() -> None:
    breach = [probe(i, "delivered") for i in range(180)] + [
        probe(1000 + i, "lost") for i in range(20)
    ]
    met = [probe(i, "delivered") for i in range(1000)] + [probe(5000 + i, "lost") for i in range(5)]
    undecided = [probe(i, "delivered") for i in range(29)] + [probe(99, "lost")]
    assert aggregate(breach, group_by=("vendor",))[0].sla == "breach"
    assert aggregate(met, group_by=("vendor",))[0].sla == "met"
    cell = aggregate(undecided, group_by=("vendor",))[0]
    assert (
        cell.sla == "undecided" and cell.probes_to_decide is not None and cell.probes_to_decide > 0
    )


def test_billing_reconciliation() -> None:
    probes = [
        probe(1, "delivered", parts=2),
        probe(2, "lost", dlr="fake_success", parts=3),
        probe(3, "lost", claim="failure", parts=1),
    ]
    (cell,) = aggregate(probes, group_by=("vendor",), price_per_part={"v": 0.05})
    assert (cell.billed_parts, cell.verified_parts) == (5, 2)
    assert cell.overbilled_money == pytest.approx(0.15)


def test_grouping_by_carrier_and_unknown_dimension() -> None:
    probes = [probe(1, "delivered"), probe(2, "lost", carrier="china_telecom")]
    cells = aggregate(probes, group_by=("vendor", "carrier"), thresholds=Thresholds(0.9))
    assert [c.key["carrier"] for c in cells] == ["china_mobile", "china_telecom"]
    with pytest.raises(ValueError, match="cannot group by"):
        aggregate(probes, group_by=("msisdn",))


def test_breakdowns_merged_from_finer_cells_equal_them_made_alone() -> None:
    """build_report makes each breakdown after a finer one and merges the finer cells'
    ordered values (figures.Pools): every cell equals the one `aggregate` makes from the
    tallies alone, with values each once, repeated (counts) and mixed, empty kinds and a
    vendor without arrivals; the vendor latency lists are every latency, ascending."""
    import random

    from collector.reports.build import _FINER_FIRST, BREAKDOWNS, build_report
    from collector.reports.figures import Pools, Tally, merge_times

    rng = random.Random(11)
    tallies = []
    for i in range(600):
        vendor = rng.choice("abc")
        arrived = vendor != "c" and rng.random() < 0.85
        p = JudgedProbe(
            probe_id="" if i % 9 else f"id{i}", vendor=vendor, carrier=rng.choice("xy"),
            region=rng.choice("ns"), profile=rng.choice(["otp", "ad"]),
            band=rng.choice(["peak", "night"]), submitted_at_ns=rng.randrange(0, 48) * 3600,
            accepted=True, outcome="delivered" if arrived else "lost", dlr="consistent",
            dlr_claim="success", content="intact", sim=rng.choice("1234"),
            line=rng.choice(["home", "mvno"]), calendar=rng.choice(["workday", "weekend"]),
        )  # fmt: skip
        k = rng.randrange(1, 5)
        values: list[tuple[str, tuple[float, ...], tuple[int, ...]]] = []
        if arrived:
            lat = tuple(sorted(round(rng.random() * 9, 1 if i % 5 == 0 else 9) for _ in range(k)))
            counts = (1,) * k if i % 11 else (2,) * k  # some repeated
            values.append(("latency", lat, counts))
            values.append(("vendor_delay", (rng.random(),), (1,)))
        values.append(("uncertainty", (0.0035 if i % 3 else 0.0025,), (k,)))
        tallies.append(Tally(p, k, tuple(values)))
    merged = merge_times(tallies)
    pools = Pools()
    for name in _FINER_FIRST:
        dims = BREAKDOWNS[name]
        alone = [c.to_dict() for c in aggregate(merged, group_by=dims)]
        assert [c.to_dict() for c in aggregate(merged, group_by=dims, pools=pools)] == alone
    assert pools.finer(BREAKDOWNS["vendor"])  # the merge was taken
    report = build_report(tallies, since="s", until="u", generated_at="g", software_version="t")
    for name, dims in BREAKDOWNS.items():
        alone = [c.to_dict() for c in aggregate(merged, group_by=dims)]
        assert [c.to_dict() for c in report.tables[name]] == alone
    listed: dict[str, list[float]] = {}
    for t in tallies:
        for kind, vs, ks in t.values:
            if kind == "latency":
                listed.setdefault(t.probe.vendor, []).extend(
                    v for v, n in zip(vs, ks, strict=True) for _ in range(n)
                )
    assert set(listed) == {"a", "b"}
    assert report.latencies == {v: sorted(ls) for v, ls in listed.items()}


def test_build_report_leaves_the_garbage_collector_as_it_found_it() -> None:
    """build_report pauses the cyclic collector while it runs, and then restores it:
    enabled stays enabled, disabled stays disabled, also when the build raises."""
    import gc

    from collector.reports.build import build_report

    seen: list[bool] = []

    def price(p: JudgedProbe) -> float:
        seen.append(gc.isenabled())
        return 1.0

    def build() -> None:
        build_report([probe(1, "delivered")], since="s", until="u", generated_at="g",
                     software_version="t", price_of=price)  # fmt: skip

    assert gc.isenabled()
    build()
    assert gc.isenabled() and seen and not any(seen)
    gc.disable()
    try:
        build()
        assert not gc.isenabled()
    finally:
        gc.enable()

    def failing(p: JudgedProbe) -> float:
        raise RuntimeError("price table")

    with pytest.raises(RuntimeError):
        build_report([probe(1, "delivered")], since="s", until="u", generated_at="g",
                     software_version="t", price_of=failing)  # fmt: skip
    assert gc.isenabled()
