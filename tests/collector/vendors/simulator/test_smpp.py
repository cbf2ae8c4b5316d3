"""A scenario vendor reached over SMPP: SmppVendor -> SmppVendorSimulator -> network -> modem."""

from __future__ import annotations

import pytest

from collector.vendors.base import DlrSource, DlrStatus, OutgoingSms, RejectedError, RejectReason
from collector.vendors.simulator.network import CarrierNetwork, RecordingModemSink
from collector.vendors.simulator.scenario import parse_scenario
from collector.vendors.simulator.smpp_api import SmppVendorSimulator
from collector.vendors.simulator.truth import TruthLog
from collector.vendors.smpp.adapter import SmppVendor, SmppVendorConfig
from collector.vendors.smpp.client import SmppClientConfig
from collector.vendors.smpp.pdu import decode as decode_pdu
from collector.vendors.smpp.segment import LongMessages
from tests.collector.vendors.helpers import (
    ACCOUNT,
    MSISDN_CMCC,
    PASSWORD,
    ListDlrSink,
    run,
    scenario_doc,
    vendor_scenario,
)

SIG = "探针科技"


@pytest.mark.parametrize("mode", list(LongMessages))
def test_two_part_message_over_smpp_arrives_whole(mode: LongMessages) -> None:
    """UDH or SAR: one submit and one id per part; message_payload: one submit, one id
    for the whole text. Either way two parts are billed and arrive as one message."""
    body = "这是一条通过SMPP提交的长探针消息，需要拆成两段发送，每段都有自己的消息编号和回执。" * 2

    async def scenario() -> None:
        doc = scenario_doc({"smppv": vendor_scenario(protocol="smpp")})
        modems = RecordingModemSink()
        net = CarrierNetwork(parse_scenario(doc), modems, TruthLog())
        front = SmppVendorSimulator(net, "smppv")
        await front.start()
        sink = ListDlrSink()
        vendor = SmppVendor(
            SmppVendorConfig(
                name="smppv",
                client=SmppClientConfig(
                    host="127.0.0.1", port=front.port, system_id=ACCOUNT, password=PASSWORD
                ),
                long_messages=mode,
            )
        )
        try:
            await vendor.start(sink)
            result = await vendor.submit(
                OutgoingSms(probe_id="p-9", to_msisdn=MSISDN_CMCC, text=body, signature=SIG)
            )
            with_bad_number = OutgoingSms(
                probe_id="p-10", to_msisdn="12345", text="短", signature=SIG
            )
            try:
                await vendor.submit(with_bad_number)
                raise AssertionError("a bad number must be refused")
            except RejectedError as exc:
                assert exc.reason is RejectReason.NUMBER
            await sink.wait_for(len(result.message_ids))
            await net.wait_idle()
        finally:
            await vendor.close()
            await net.close()
            await front.close()
        assert result.parts == 2
        assert len(result.message_ids) == (1 if mode is LongMessages.PAYLOAD else 2)
        submits = [decode_pdu(result.raw_request)] if mode is LongMessages.PAYLOAD else []
        if submits:
            assert submits[0].body.short_message == b""  # type: ignore[union-attr]
        [delivered] = modems.delivered
        assert delivered.sms.text == f"【{SIG}】{body}"
        assert len(delivered.sms.pdus) == 2
        assert all(d.status is DlrStatus.DELIVRD for d in sink.dlrs)
        assert all(d.source is DlrSource.SMPP for d in sink.dlrs)
        truth = [r for r in net.truth.records if r.fate == "delivered"]
        assert len(truth) == 1 and truth[0].message_ids == result.message_ids
        assert truth[0].dlr_count == 1

    run(scenario())
