"""What each vendor says it billed, read by the adapters from the simulator's wire formats:
253 `data.fee`, Tencent `SendStatusSet[].Fee`, Alibaba SmsReport `sms_size` (SendSms carries
no fee), the in-process simulator's fee, and one SMPP submit_sm_resp per acknowledged part.
The simulator inflates the fee on demand (knob p_fee_inflated) and says so in its truth."""

from __future__ import annotations

import json
from typing import Any

import pytest

from collector.vendors.base import DlrSource, OutgoingSms, SubmitResult
from collector.vendors.config import DlrFieldSpec
from collector.vendors.http import classify_submit_response, parse_dlr_item
from tests.collector.vendors.helpers import MSISDN_CMCC, http_vendor_config, run, vendor_scenario
from tests.collector.vendors.test_vendor_contract import NOTE_TEMPLATE, SIG, Rig, _receipts, rig

# 80 characters with the signature: two parts by the 67-per-part rule
LONG = "您的工单A7K3Q9已受理，" + "我们将尽快安排工程师上门处理，请保持电话畅通。" * 3
KNOBS = {**vendor_scenario()["knobs"], "p_fee_inflated": 1.0, "fee_inflated_by": 2}
# kind -> (billed parts with the fee inflated by 2, where the adapter read it)
EXPECTED = {
    "http": (4, "submit:data.fee"),
    "tencent": (4, "submit:Response.SendStatusSet[0].Fee"),
    "aliyun": (4, "dlr:push:sms_size"),
    "inprocess": (4, "submit:fee"),
    "smpp": (2, "acks:smpp"),  # acks count what was received: no fee to inflate
}


async def _send(kind: str, inflate: bool) -> tuple[SubmitResult, Rig]:
    knobs = KNOBS if inflate else vendor_scenario()["knobs"]
    async with rig(kind, knobs=knobs, templates={NOTE_TEMPLATE: LONG}) as r:
        result = await r.vendor.submit(OutgoingSms("p-1", MSISDN_CMCC, LONG, signature=SIG))
        await _receipts(kind, r, 2 if kind == "smpp" else 1)
    return result, r


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_the_vendors_billed_parts_are_read_with_their_source(kind: str) -> None:
    result, r = run(_send(kind, inflate=True))
    figures = [(d.billed_parts, d.billed_from) for d in r.sink.dlrs]
    if kind == "aliyun":  # SendSms carries no fee: the report does
        assert (result.billed_parts, result.billed_from) == (None, "")
        assert figures == [EXPECTED[kind]]
    else:
        assert (result.billed_parts, result.billed_from) == EXPECTED[kind]
        assert {f for f in figures} == {(None, "")}
    (truth,) = r.network.truth.records
    assert truth.parts == 2 and truth.billed_parts == (2 if kind == "smpp" else 4)
    assert truth.fee_inflated is (kind != "smpp")


@pytest.mark.parametrize("kind", ["http", "tencent", "aliyun", "inprocess"])
def test_an_honest_fee_is_the_rules_parts(kind: str) -> None:
    result, r = run(_send(kind, inflate=False))
    billed = [d.billed_parts for d in r.sink.dlrs] if kind == "aliyun" else [result.billed_parts]
    assert billed == [2]
    (truth,) = r.network.truth.records
    assert (truth.billed_parts, truth.fee_inflated) == (2, False)


SPEC = DlrFieldSpec(message_id="biz_id", status="success", billed_parts="sms_size")


@pytest.mark.parametrize(
    ("value", "billed"), [("3", 3), (3, 3), (0, 0), (None, None), ("absent", None)]
)
def test_a_report_items_billed_parts(value: Any, billed: int | None) -> None:
    item: dict[str, Any] = {"biz_id": "B1", "success": True}
    if value != "absent":
        item["sms_size"] = value
    dlr = parse_dlr_item(item, SPEC, vendor="v", source=DlrSource.PUSH, received_at_ns=1, raw=b"")
    assert dlr.billed_parts == billed
    assert dlr.billed_from == ("" if billed is None else "dlr:push:sms_size")


@pytest.mark.parametrize("value", ["two", -1, 2.5, True, {"n": 2}, "²"])
def test_a_report_with_an_unreadable_billed_figure_is_refused_naming_the_field(
    value: Any,
) -> None:
    # Refused items are quarantined raw by the push and pull paths (docs/vendors.md).
    item = {"biz_id": "B1", "success": True, "sms_size": value}
    with pytest.raises(ValueError, match="sms_size"):
        parse_dlr_item(item, SPEC, vendor="v", source=DlrSource.PUSH, received_at_ns=1, raw=b"")


@pytest.mark.parametrize(("fee", "billed"), [(3, 3), ("3", 3), ("x", None), (-2, None)])
def test_an_unreadable_fee_leaves_the_submit_accepted_without_a_figure(
    fee: object, billed: int | None
) -> None:
    body = json.dumps({"code": "0", "data": {"msgid": "M1", "fee": fee}}).encode()
    result = classify_submit_response(
        http_vendor_config("v", "http://127.0.0.1:9"), status=200, body=body,
        retry_after_header=None, raw_request=b"", accepted_at_ns=1, signed_text="【S】hi",
    )  # fmt: skip
    assert result.message_ids == ("M1",) and result.raw_response == body
    assert result.billed_parts == billed
    assert result.parts == (1 if billed is None else billed)  # else the 70/67 rule's
