"""The export reads each probe with its verdict as one plain tuple (Ledger.probe_facts)
and makes its record's "judged" object from it (records.judged_of): the same as the
objects `load_judged` gives (facts_of of its probes and verdicts, judged_json of its
judged probes), on SQLite and a real PostgreSQL, for every kind of probe: delivered,
lost, inconclusive, partial (missing parts counted, no latency), rejected, pending (no
verdict), and one never handed to the vendor (left out)."""

from __future__ import annotations

from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict
from collector.evidence.records import facts_of, judged_json, judged_of
from collector.ledger import Ledger
from collector.reports.judged import load_judged
from tests.collector.reports.world import NS, T0, build_world, plan, submit


def test_probe_facts_are_load_judged_as_tuples(ledger: Ledger) -> None:
    build_world(ledger)
    partial = plan("p-acme-partial", "acme", T0 + 200 * 60 * NS, parts=3)
    submit(ledger, partial)
    ledger.save_verdicts(
        [Verdict("p-acme-partial", Outcome.PARTIAL, DlrTruth.MISSING, DlrClaim.NONE,
                 ContentVerdict.INTACT, latency_s=9.5, latency_uncertainty_s=0.25,
                 duplicates=2, missing_parts=(2, 3), reasons=("part 2 missing", "and 3"),
                 arrival_uuids=("u-1", "u-2"), sender="10086")],
        at_ns=T0 + 230 * 60 * NS,
    )  # fmt: skip
    submit(ledger, plan("p-acme-open", "acme", T0 + 210 * 60 * NS))  # no verdict yet
    for vendor in ("acme", "bolt", "nobody"):
        probes, verdicts, judged = load_judged(
            ledger, since_ns=T0 - 3600 * NS, until_ns=T0 + 86400 * NS, vendor=vendor
        )
        facts = ledger.probe_facts(vendor=vendor, since_ns=T0 - 3600 * NS,
                                   until_ns=T0 + 86400 * NS)  # fmt: skip

        assert facts == [facts_of(p, verdicts.get(p.plan.probe_id)) for p in probes]
        assert [judged_of(f) for f in facts] == [judged_json(j) for j in judged]
    acme = {f.probe_id: f for f in ledger.probe_facts(vendor="acme", since_ns=0, until_ns=2**62)}
    assert "p-acme-planned" not in acme  # never handed to the vendor: not sent
    kinds = {judged_of(f)["outcome"] for f in acme.values()}
    assert {"delivered", "lost", "inconclusive", "partial", "rejected", "pending"} <= kinds
    assert judged_of(acme["p-acme-partial"])["missing_parts"] == 2
    assert judged_of(acme["p-acme-partial"])["latency_s"] is None  # only when arrived
