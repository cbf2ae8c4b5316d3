"""What a bundle keeps of the judged probes while the records pass (evidence/kept.py):
the very probes back, in order; the report and report.json from them per key and rate
bucket equal to them one by one; and what it holds grows by flat arrays, not by objects
per probe (a vendor-month is ~820,000 probes)."""

from __future__ import annotations

import dataclasses
import gc
import io
import json
import random
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.common.units import NS
from collector.evidence.bundle import report_for, write_bundle
from collector.evidence.kept import KeptProbes
from collector.evidence.pages import BundleReport
from collector.reports.build import build_report
from collector.reports.figures import JudgedProbe, Thresholds

OUTCOMES = ("delivered", "late", "partial", "lost", "inconclusive", "rejected", "pending")
FLAT = {"v": 0.05, "w": 0.07}
TH = Thresholds(arrival_rate=0.9)


def _random_probes(n: int, span_s: int, seed: int = 7) -> list[JudgedProbe]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        outcome = rng.choice(OUTCOMES)
        arrived = outcome in ("delivered", "late")
        parts = rng.choice((1, 1, 2, 3))

        def value() -> float | None:
            return rng.choice((None, round(rng.uniform(0.1, 90.0), 9), 0.0035))

        out.append(
            JudgedProbe(
                probe_id=f"p{i:06d}",
                vendor=rng.choice("vw"),
                carrier=rng.choice(("china_mobile", "unicom")),
                region="east",
                profile=rng.choice(("otp", "notification")),
                band="",
                submitted_at_ns=1_780_000_000 * NS + rng.randrange(span_s) * NS,
                accepted=outcome != "rejected",
                outcome=outcome,
                dlr=rng.choice(("consistent", "fake_success", "missing")),
                dlr_claim=rng.choice(("success", "failure", "none")),
                content="intact" if arrived else "none",
                latency_s=value() if arrived else rng.choice((None, 3.5)),
                latency_uncertainty_s=value(),
                vendor_delay_s=value(),
                carrier_delay_s=value(),
                duplicates=rng.choice((0, 0, 1)),
                parts=parts,
                missing_parts=1 if outcome == "partial" else 0,
                vendor_billed_parts=rng.choice((None, parts, parts + 1)),
                billed_from=rng.choice(("", "fee")),
                sim=rng.choice(("13900000001", "13900000002")),
                line="home",
            )
        )
    return out


def _kept(probes: list[JudgedProbe]) -> KeptProbes:
    kept = KeptProbes()
    for p in probes:
        kept.append(p)
    return kept


def test_kept_probes_are_the_probes_in_order() -> None:
    probes = _random_probes(2_000, 86_400)
    # a value that is not a float (an int) comes back as it was
    probes[5] = dataclasses.replace(probes[5], latency_uncertainty_s=2)
    kept = _kept(probes)
    assert list(kept) == probes and len(kept) == 2_000
    assert kept[5].latency_uncertainty_s == 2 and type(kept[5].latency_uncertainty_s) is int
    assert kept[-1] == probes[-1] and kept[10:13] == probes[10:13]
    keys = {dataclasses.replace(p, probe_id="", submitted_at_ns=0, latency_s=None,
                                latency_uncertainty_s=None, vendor_delay_s=None,
                                carrier_delay_s=None) for p in probes}  # fmt: skip
    assert len(list(kept.distinct())) == len(keys) < 2_000
    # from the records' "judged" objects alike, a field left out taking its default
    from_json = KeptProbes()
    for p in probes:
        from_json.append_json(dataclasses.asdict(p))
    bare = {k: v for k, v in dataclasses.asdict(probes[0]).items() if k != "line"}
    from_json.append_json(bare)
    assert list(from_json) == [*probes, dataclasses.replace(probes[0], line="")]


def test_the_report_from_kept_probes_is_the_report_one_by_one() -> None:
    """Per key and rate bucket (the bucket build_report would choose): the same pages'
    report for spans that choose different buckets, and report.json alike when it is
    aggregated apart (a price by carrier)."""
    for n, span_s in ((40, 600), (3_000, 86_400), (3_000, 30 * 86_400), (5, 1)):
        probes = _random_probes(n, span_s, seed=n + span_s)
        kept = _kept(probes)

        def price_of(p: JudgedProbe) -> float:
            return FLAT[p.vendor]

        pages = BundleReport("v", "s", "u", "now", "t", TH, FLAT, price_of)
        one_by_one = build_report(
            probes, since="s", until="u", generated_at="now", software_version="t",
            thresholds=TH, prices=FLAT, price_of=price_of, filters={"vendor": "v"},
        )  # fmt: skip
        assert pages.report(kept).to_json() == one_by_one.to_json(), (n, span_s)
        assert pages.report(kept).bucket_s == one_by_one.bucket_s
        flat = json.dumps(report_for(probes, TH, FLAT))
        assert json.dumps(report_for(kept, TH, FLAT)) == flat
        assert json.dumps(report_for(kept, TH, FLAT, pages.json_tables(kept, TH, FLAT))) == flat
        by_carrier = BundleReport(
            "v", "s", "u", "now", "t", TH, FLAT,
            lambda p: 0.09 if p.carrier == "unicom" else FLAT[p.vendor],
        )  # fmt: skip
        assert by_carrier.json_tables(kept, TH, FLAT) is None
        assert by_carrier.json_tables(probes, TH, FLAT) is None


def _tracked() -> int:
    gc.collect()
    return len(gc.get_objects())


def _alike(n: int, seed: int) -> list[JudgedProbe]:
    """n probes of 60 keys, each its own id, send time and values (as a month's are)."""
    rng = random.Random(seed)
    keys = _random_probes(60, 86_400, seed=seed)
    return [
        dataclasses.replace(
            keys[i % 60], probe_id=f"q{i:07d}", submitted_at_ns=keys[0].submitted_at_ns + i * NS,
            latency_s=rng.uniform(1, 60), vendor_delay_s=rng.choice((None, rng.uniform(0, 9))),
        )
        for i in range(n)
    ]  # fmt: skip


def test_what_is_kept_grows_by_arrays_not_objects_per_probe() -> None:
    """10,000 more probes (unique ids, times and values; the same keys) add no object the
    garbage collector tracks: ids, times and values go into flat arrays, the keys are
    shared. A list of JudgedProbes would add 10,000."""
    probes = _alike(20_000, 11)
    kept = KeptProbes()
    for p in probes[:10_000]:
        kept.append(p)
    before = _tracked()
    for p in probes[10_000:]:
        kept.append(p)
    assert _tracked() - before < 100
    assert len(kept) == 20_000


def test_a_bundle_written_holds_no_object_per_record() -> None:
    """write_bundle over 3x the records: what it holds when the files after the records
    are made (extra_files is called then) differs by far fewer objects than records."""

    def held(n: int) -> int:
        probes = _alike(n, 3)
        seen: list[int] = []

        def extras(judged: Any) -> dict[str, bytes]:
            seen.append(_tracked())
            return {}

        records = ({"probe_id": p.probe_id, "judged": dataclasses.asdict(p)} for p in probes)
        start = _tracked()
        written = write_bundle(
            io.BytesIO(), records, signing_key=Ed25519PrivateKey.generate(), vendor="v",
            since="s", until="u", software_version="t", created_at="c", extra_files=extras,
        )  # fmt: skip
        assert written.records == n
        return seen[0] - start

    small, large = held(2_000), held(6_000)
    assert large - small < 400, (small, large)  # a list of judged probes: +4,000
