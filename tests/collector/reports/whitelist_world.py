"""A whitelisting vendor and an honest one through the vendor simulator, as judged probes.

"white" and "honest" both deliver 70 % (p_arrive 0.7); "white" knows the test number
MSISDN_KNOWN (`known_test_number` subscriber, `known_number_p_arrive = 1.0`), so it always
arrives through "white". MSISDN_OTHER is a China Mobile number ported to Unicom.
"""

from __future__ import annotations

from collections.abc import Sequence

from collector.reports.figures import JudgedProbe
from collector.reports.lines import line_type
from collector.vendors.simulator.network import Accepted, CarrierNetwork, RecordingModemSink
from collector.vendors.simulator.scenario import parse_scenario
from collector.vendors.simulator.truth import TruthLog, TruthRecord
from tests.collector.vendors.helpers import (
    MSISDN_CMCC,
    MSISDN_CUCC,
    MSISDN_KNOWN,
    run,
    whitelisting_doc,
)

MSISDN_OTHER = "13500135000"
SIG = "探针科技"
SIMS = (MSISDN_CMCC, MSISDN_CUCC, MSISDN_KNOWN, MSISDN_OTHER)


def probe(vendor: str, sim: str, outcome: str, i: int, line: str = "home") -> JudgedProbe:
    return JudgedProbe(
        probe_id=f"{vendor}-{sim}-{i}", vendor=vendor, carrier="china_mobile", region="bj",
        profile="notification", band="day", submitted_at_ns=i, accepted=True, outcome=outcome,
        dlr="consistent", dlr_claim="success", content="intact", sim=sim, line=line,
    )  # fmt: skip


def counts(vendor: str, sim: str, arrived: int, judged: int) -> list[JudgedProbe]:
    return [probe(vendor, sim, "delivered" if i < arrived else "lost", i) for i in range(judged)]


def simulate(per_sim: int) -> list[TruthRecord]:
    doc = whitelisting_doc()
    # A China Mobile number ported to Unicom: the simulator's truth says where it lives.
    doc["subscribers"].append({"msisdn": MSISDN_OTHER, "modem": "m4", "carrier": "cucc"})

    async def scenario() -> list[TruthRecord]:
        net = CarrierNetwork(parse_scenario(doc), RecordingModemSink(), TruthLog(None))
        try:
            for i in range(per_sim):
                for vendor in ("white", "honest"):
                    for msisdn in SIMS:
                        out = net.submit(
                            vendor, msisdn=msisdn, content=f"您的订单{i:06d}已发货。", signature=SIG
                        )
                        assert isinstance(out, Accepted), out
            await net.wait_idle()
        finally:
            await net.close()
        return list(net.truth.records)

    return run(scenario())


# The simulator's carrier (the network the subscriber lives on) as the IMSI would say it.
IMSI_CARRIER = {"cmcc": "china_mobile", "cucc": "china_unicom", "ctcc": "china_telecom"}


def judged_from_truth(records: Sequence[TruthRecord]) -> list[JudgedProbe]:
    """The simulator's fates as the figures see them (the judge is tested elsewhere)."""
    return [
        probe(r.vendor, r.msisdn, "delivered" if r.fate == "delivered" else "lost", i,
               line=line_type(r.msisdn, IMSI_CARRIER[r.carrier]))
        for i, r in enumerate(records)
    ]  # fmt: skip
