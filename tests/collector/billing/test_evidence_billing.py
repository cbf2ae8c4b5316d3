"""The evidence bundle carries the billing statement (billing.json): the probes billed but
not arrived with their money; `evidence verify` recomputes it from the records and names
any figure that does not follow from them."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from click.testing import CliRunner

from collector.evidence.billing import check_billing
from collector.evidence.cli import evidence_group
from collector.reports.figures import JudgedProbe
from tests.collector.evidence.test_evidence_cli import export

BILLING = """
[billing.vendors.acme]
model = "on_submit"
price = 0.05
[[billing.vendors.acme.prices]]
carrier = "china_mobile"
price = 0.07
"""


def test_the_bundle_carries_the_overcharge_and_verify_recomputes_it(
    world: Path,
    certs: Path,
    tmp_path: Path,
    restore_logging: None,
) -> None:
    text = world.read_text()
    start = text.index("[reports.prices]")
    end = text.index("\n\n", start) if "\n\n" in text[start:] else len(text)
    world.write_text(text[:start] + text[end:] + BILLING)
    bundle = tmp_path / "acme.zip"
    done = export(world, bundle)
    assert done.exit_code == 0, done.output
    verified = CliRunner().invoke(evidence_group, ["verify", str(bundle), "--public-key",
                                                   str(certs / "signing.pub")])  # fmt: skip
    assert verified.exit_code == 0, verified.output

    with zipfile.ZipFile(bundle) as zf:
        doc = json.loads(zf.read("billing.json"))
        judged = [JudgedProbe.from_dict(json.loads(line)["record"]["judged"])
                  for line in zf.read("records.jsonl").splitlines()]  # fmt: skip
        assert "billing.json" in json.loads(zf.read("manifest.json"))["files_sha256"]
    price = {"china_mobile": 0.07}
    lost = [j for j in judged if j.accepted and j.outcome == "lost"]
    assert lost and len(lost) < len(judged)
    assert {j.carrier for j in lost} == {"china_mobile"}  # the rule, not the base price
    st = doc["statement"]
    assert {o["probe_id"] for o in st["overcharged"]} == {j.probe_id for j in lost}
    money = sum(j.parts * price.get(j.carrier, 0.05) for j in lost)
    assert abs(st["bases"]["model"]["over_gross"] - money) < 1e-9
    assert doc["terms"]["rules"] == [{"carrier": "china_mobile", "price": 0.07}]

    # A figure that does not follow from the records, or terms changed under the figures.
    forged = json.loads(json.dumps(doc))
    forged["statement"]["overcharged"] = forged["statement"]["overcharged"][1:]
    (problem,) = check_billing(json.dumps(forged).encode(), "acme", judged)
    assert problem.startswith("billing.json: statement.overcharged is")
    cheaper = json.loads(json.dumps(doc))
    cheaper["terms"]["rules"][0]["price"] = 0.01
    problems = check_billing(json.dumps(cheaper).encode(), "acme", judged)
    assert any("statement.charge" in p for p in problems)
    assert check_billing(json.dumps(doc).encode(), "acme", judged) == []
    assert check_billing(b"{", "acme", judged)[0].startswith("billing.json: unreadable")
