"""SMGP 3.0: the pure codec against byte vectors worked by hand from the document's
layouts (§5.2: Login with AuthenticatorClient, Submit with TLVs, the 10-octet BCD MsgID,
the status report in a Deliver's MsgContent), and our adapter against the simulator over
real sockets with ground truth; bad input quarantined; a silent gateway replaced.

No SMGP implementation installs from PyPI or npm (PyPI `smgp` 1.0.0 is an unrelated
graph library; docs/vendors.md, "SMGP 3.0"), so the independent side here is hand-packed
octets and hashlib over the document's formula, never our codec."""

from __future__ import annotations

import asyncio
import hashlib
import struct
from datetime import datetime

import pytest

from agent.common.backoff import FixedBackoff
from collector.vendors.base import (
    AuthFailedError,
    DlrSource,
    DlrStatus,
    OutgoingSms,
    ThrottledError,
)
from collector.vendors.cngw.adapter import GatewayVendor
from collector.vendors.cngw.config import build_gateway_vendor, parse_gateway_vendor
from collector.vendors.cngw.session import SessionConfig
from collector.vendors.cngw.wire import GatewayDecodeError, Pdu
from collector.vendors.simulator.gateway_api import GatewayVendorSimulator
from collector.vendors.simulator.network import CarrierNetwork, RecordingModemSink
from collector.vendors.simulator.scenario import parse_scenario
from collector.vendors.simulator.truth import TruthLog
from collector.vendors.smgp.dialect import SmgpAccount, SmgpDialect, authenticator_client
from collector.vendors.smgp.pdu import (
    Command,
    Deliver,
    Login,
    SmgpCodec,
    StatusReport,
    Submit,
    Tag,
    decode_report,
    encode_report,
    make_msg_id,
)
from tests.collector.vendors.cngw.support import ScriptedGateway, submit_and_collect
from tests.collector.vendors.helpers import MSISDN_KNOWN, ListDlrSink, run, scenario_doc

CLIENT, SECRET, SIG = "sp01", "s3cret", "探针科技"
MSISDN = MSISDN_KNOWN  # a subscriber with a modem in scenario_doc


async def _world(**extra: object) -> tuple[CarrierNetwork, GatewayVendorSimulator,
                                           RecordingModemSink]:  # fmt: skip
    table: dict[str, object] = {
        "protocol": "smgp", "account": CLIENT, "password": SECRET,
        "knobs": {"p_arrive": 1.0, "latency": {"dist": "fixed", "median_s": 0.05},
                  "dlr_latency": {"dist": "fixed", "median_s": 0.05}},
    }  # fmt: skip
    table.update(extra)
    modems = RecordingModemSink()
    net = CarrierNetwork(parse_scenario(scenario_doc({"gw": table})), modems, TruthLog())
    front = GatewayVendorSimulator(net, "gw")
    await front.start()
    return net, front, modems


def _vendor(port: int, secret: str = SECRET) -> GatewayVendor:
    table = {"kind": "smgp", "host": "127.0.0.1", "port": port, "client_id": CLIENT,
             "shared_secret": secret, "src_term_id": "10690001"}  # fmt: skip
    return build_gateway_vendor(parse_gateway_vendor("gw", table, file="collector.toml"))


# --------------------------------------------------------------------------- pure codec


def test_login_bytes_and_authenticator_from_the_document() -> None:
    """§5.2.1 Login: ClientID 8, AuthenticatorClient 16 = MD5(ClientID + 7 octets of 0 +
    shared secret + "MMDDHHMMSS"), LoginMode 1, TimeStamp u32, ClientVersion 0x30: 42 octets."""
    auth = hashlib.md5(b"sp01" + bytes(7) + b"s3cret" + b"1206093000").digest()
    assert authenticator_client(CLIENT, SECRET, "1206093000") == auth
    by_hand = (struct.pack("!III", 42, 1, 5) + b"sp01".ljust(8, b"\0") + auth + b"\x02"
               + struct.pack("!I", 1206093000) + b"\x30")  # fmt: skip
    dialect = SmgpDialect(SmgpAccount(CLIENT, SECRET, "1069"))
    login = dialect.login(5, datetime(2026, 12, 6, 9, 30, 0))
    assert SmgpCodec().encode(login) == by_hand
    assert SmgpCodec().decode(by_hand) == Pdu(Command.LOGIN, 5, Login(CLIENT, auth, 2, 1206093000))


def test_msg_id_is_bcd_gateway_time_sequence() -> None:
    """§5.2.3 MsgID: 10 octets of BCD: SMGW code 6 digits, MMDDHHMM, sequence 6 digits."""
    msg_id = make_msg_id("059001", datetime(2024, 12, 31, 23, 59), 123456)
    assert msg_id == bytes([0x05, 0x90, 0x01, 0x12, 0x31, 0x23, 0x59, 0x12, 0x34, 0x56])


def test_submit_tlvs_and_fixed_part() -> None:
    """§5.2.3 Submit: MsgFormat at offset 27 (1+1+1+10+2+6+6), MsgLength at 126 for one
    destination (+17+17+21+21+1+21), MsgContent, Reserve 8, then TLVs (Tag u16,
    Length u16): TP_udhi 0x0002, PkTotal 0x0009, PkNumber 0x000A."""
    part = "你".encode("utf-16-be")
    sub = Submit(
        ("18900000000",),
        part,
        src_term_id="10690001",
        tlvs=((Tag.TP_UDHI, b"\x01"), (Tag.PK_TOTAL, b"\x03"), (Tag.PK_NUMBER, b"\x01")),
    )
    raw = SmgpCodec().encode(Pdu(Command.SUBMIT, 9, sub))
    body = raw[12:]
    assert (body[0], body[1], body[27]) == (6, 1, 8)  # MsgType MT, NeedReport, MsgFormat UCS-2
    assert body[104] == 1 and body[105:116] == b"18900000000"  # DestTermIDCount, DestTermID
    assert body[126] == 2 and body[127:129] == part and body[129:137] == bytes(8)
    assert body[137:].hex() == "0002000101" + "0009000103" + "000a000101"
    assert SmgpCodec().decode(raw).body == sub


def test_status_report_layouts() -> None:
    """§5.2.4: the report in MsgContent with the MsgID as 10 raw octets (as laid out) or as
    its 20 digits (as many gateways send it), field names in either case."""
    msg_id = make_msg_id("059001", datetime(2024, 12, 31, 23, 58), 7)
    tail = (
        b" sub:001 dlvrd:001 submit_date:2412312358 done_date:2412312359 stat:DELIVRD err:000 txt:"
    )
    raw = b"id:" + msg_id + tail + bytes(20)
    report = decode_report(raw)
    assert (report.msg_id, report.stat, report.done_date, report.err) == (
        msg_id,
        "DELIVRD",
        "2412312359",
        "000",
    )
    assert encode_report(StatusReport(msg_id, "DELIVRD", "2412312358", "2412312359", "000")) == raw
    upper = b"id:" + msg_id.hex().encode() + tail.replace(b"submit_date", b"Submit date").upper()
    assert decode_report(upper).msg_id == msg_id
    with pytest.raises(GatewayDecodeError):
        decode_report(b"id:" + msg_id + b" stat:DELIVRD")


# --------------------------------------------------------------------------- our adapter


def test_adapter_long_message_reports_and_truth() -> None:
    """3 parts, one MsgID each; each part's report (Deliver IsReport 1, stat DELIVRD) is a
    DLR with that id and its done time; the handset got the whole text; truth agrees."""
    body = (
        "这是一条通过SMGP提交的长探针消息，需要拆成多段发送，每段都有自己的消息编号和状态报告。" * 3
    )

    async def scenario() -> None:
        net, front, modems = await _world()
        vendor = _vendor(front.port)
        result, sink = await submit_and_collect(
            vendor, OutgoingSms("p-1", MSISDN, body, signature=SIG), net, front
        )
        assert result.parts == 3 and len(set(result.message_ids)) == 3
        assert all(len(m) == 20 and m.startswith("059001") for m in result.message_ids)
        assert sorted(d.message_id for d in sink.dlrs) == sorted(result.message_ids)
        assert all(d.status is DlrStatus.DELIVRD and d.source is DlrSource.SMGP for d in sink.dlrs)
        assert all(d.done_at_ns for d in sink.dlrs)
        [delivered] = modems.delivered
        assert delivered.sms.text == f"【{SIG}】{body}"
        [truth] = net.truth.records[-1:]
        assert truth.message_ids == result.message_ids and truth.dlr_status == "DELIVRD"

    run(scenario())


def test_wrong_secret_is_auth_failure_and_busy_is_throttled() -> None:
    async def scenario() -> str | None:
        net, front, _ = await _world(throttle_tps=0.001, throttle_burst=1)
        bad = _vendor(front.port, secret="nope")
        vendor = _vendor(front.port)
        try:
            with pytest.raises(AuthFailedError):
                await bad.start(ListDlrSink())
            await vendor.start(ListDlrSink())
            await vendor.submit(OutgoingSms("p-1", MSISDN, "一", signature=SIG))
            with pytest.raises(ThrottledError) as exc:
                await vendor.submit(OutgoingSms("p-2", MSISDN, "二", signature=SIG))
        finally:
            await bad.close()
            await vendor.close()
            await net.close()
            await front.close()
        return exc.value.code

    assert run(scenario()) == "1"  # Status 1, system busy


def _send_only_login() -> bytes:
    """§5.2.1 Login with LoginMode 0 (send only), packed by hand: 42 octets."""
    auth = hashlib.md5(CLIENT.encode() + bytes(7) + SECRET.encode() + b"1206093000").digest()
    return (struct.pack("!III", 42, 1, 1) + CLIENT.encode().ljust(8, b"\0") + auth + b"\x00"
            + struct.pack("!I", 1206093000) + b"\x30")  # fmt: skip


def test_a_send_only_login_is_sent_no_reports() -> None:
    """LoginMode 0 means the SP only submits (as the go_smgp transmitter logs in, seen when
    it was run against the simulator by hand): a report due while only such a login is
    open waits for a login that receives (mode 1 or 2), and the truth lists it only then."""

    async def scenario() -> None:
        knobs = {"p_arrive": 1.0, "latency": {"dist": "fixed", "median_s": 50.0},
                 "dlr_latency": {"dist": "fixed", "median_s": 200.0}}  # fmt: skip
        net, front, _ = await _world(knobs=knobs)
        sink = ListDlrSink()
        vendor = _vendor(front.port)
        reader, writer = await asyncio.open_connection("127.0.0.1", front.port)
        try:
            await vendor.start(sink)
            result = await vendor.submit(OutgoingSms("p-1", MSISDN, "一", signature=SIG))
            await vendor.close()  # only the send-only login below is open when it is due
            writer.write(_send_only_login())
            head = await reader.readexactly(12)
            length, command, _ = struct.unpack("!III", head)
            status = struct.unpack("!I", (await reader.readexactly(length - 12))[:4])[0]
            assert (command, status) == (0x80000001, 0)  # Login_Resp, logged in
            await asyncio.sleep(0.5)  # 500 simulated seconds: the report is long due
            assert front.receipts_sent == 0 and not net.truth.records[-1].receipts
            with pytest.raises(TimeoutError):  # nothing came on the send-only connection
                await asyncio.wait_for(reader.read(1), 0.2)
            await vendor.start(sink)  # logs in with mode 2: the report comes now
            await sink.wait_for(1)
            await net.wait_idle()
        finally:
            writer.close()
            await vendor.close()
            await net.close()
            await front.close()
        assert [d.message_id for d in sink.dlrs] == list(result.message_ids)
        assert [r.status for r in net.truth.records[-1].receipts] == ["DELIVRD"]

    run(scenario())


# --------------------------------------------------------------------------- bad input


def _login_resp(head: bytes) -> bytes:
    return (struct.pack("!III", 33, 0x80000001, int.from_bytes(head[8:12], "big"))
            + bytes(4) + bytes(16) + b"\x30")  # fmt: skip


def _scripted_gateway(script: list[bytes]) -> ScriptedGateway:
    """A real TCP SMGP gateway: accepts any Login, sends `script`, answers nothing else."""
    return ScriptedGateway(script, _login_resp, 0x80000003)


def test_malformed_pdus_are_quarantined_and_the_session_goes_on() -> None:
    """An unknown RequestID, a report whose MsgContent is not a report and one whose MsgID
    is not BCD are quarantined raw; a good one after them is stored; 3 reports acked."""
    codec = SmgpCodec()
    good_id = make_msg_id("059001", datetime(2026, 1, 2, 3, 4), 1)
    good = encode_report(StatusReport(good_id, "UNDELIV", "2601020304", "2601020305", "012"))
    unknown = struct.pack("!III", 16, 0x77, 1) + b"junk"
    garbled = codec.encode(Pdu(Command.DELIVER, 2, Deliver(bytes(10), 1, b"stat:DELIVRD")))
    not_bcd = codec.encode(
        Pdu(Command.DELIVER, 3, Deliver(bytes(10), 1, good.replace(good_id, b"\xff" * 10)))
    )
    fine = codec.encode(Pdu(Command.DELIVER, 4, Deliver(bytes(10), 1, good, src_term_id=MSISDN)))

    async def scenario() -> None:
        gateway = _scripted_gateway([unknown, garbled, not_bcd, fine])
        port = await gateway.start()
        sink = ListDlrSink()
        vendor = _vendor(port)
        try:
            await vendor.start(sink)
            await sink.wait_for(1)
            async with asyncio.timeout(5):
                while len(gateway.acks) < 3:
                    await asyncio.sleep(0.01)
        finally:
            await vendor.close()
            await gateway.close()
        assert [q.raw for q in sink.quarantined] == [unknown, garbled, not_bcd]
        assert "unknown RequestID" in sink.quarantined[0].reason
        [dlr] = sink.dlrs
        assert (dlr.message_id, dlr.status, dlr.err) == (good_id.hex(), DlrStatus.UNDELIV, "012")
        assert dlr.msisdn == MSISDN

    run(scenario())


def test_silent_gateway_is_detected_and_replaced() -> None:
    """Active_Test (§5.2.6) goes unanswered: the connection is closed and the session logs
    in again after the back-off."""

    async def scenario() -> int:
        gateway = _scripted_gateway([])
        port = await gateway.start()
        vendor = GatewayVendor(
            "gw", SmgpDialect(SmgpAccount(CLIENT, SECRET, "1069")),
            SessionConfig("127.0.0.1", port, active_test_interval_s=0.1, response_timeout_s=0.1),
            source=DlrSource.SMGP, backoff=FixedBackoff(0.01),
        )  # fmt: skip
        try:
            await vendor.start(ListDlrSink())
            async with asyncio.timeout(5):
                while vendor.session.logins < 3:
                    await asyncio.sleep(0.02)
        finally:
            await vendor.close()
            await gateway.close()
        return gateway.logins

    assert run(scenario()) >= 3
