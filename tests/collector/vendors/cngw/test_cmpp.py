"""CMPP 2.0/3.0: the pure codec against the spec's layouts, PyPI peers (pycmpp 2.0.2 for
CMPP 2.0, cmppy 0.3 for CMPP 3.0) as clients of the simulator and as readers of what our
adapter sends, and our adapter against the simulator over real sockets with ground truth."""

from __future__ import annotations

import asyncio
import socket
import struct
from datetime import datetime

import pytest
from cmppy.request import ConnectReq as CmppyConnect  # type: ignore[import-untyped]
from cmppy.request import SubmitReq as CmppySubmit
from cmppy.response.ConnectRes import ConnectRes as CmppyConnectRes  # type: ignore[import-untyped]
from cmppy.response.SubmitRes import SubmitRes as CmppySubmitRes  # type: ignore[import-untyped]
from pycmpp import request as pyreq  # type: ignore[import-untyped]
from pycmpp import response as pyresp  # type: ignore[import-untyped]
from pycmpp.cmpp import Cmpp  # type: ignore[import-untyped]

from collector.vendors.base import (
    DlrSource,
    DlrStatus,
    OutgoingSms,
)
from collector.vendors.cmpp.dialect import CmppAccount, CmppDialect, authenticator_source
from collector.vendors.cmpp.pdu import (
    CmppCodec,
    Command,
    Deliver,
    Report,
    encode_report,
    make_msg_id,
    split_msg_id,
)
from collector.vendors.cngw.adapter import GatewayVendor
from collector.vendors.cngw.session import SessionConfig
from collector.vendors.cngw.wire import GatewayDecodeError, Pdu
from collector.vendors.simulator.gateway_api import GatewayVendorSimulator
from collector.vendors.simulator.network import CarrierNetwork, RecordingModemSink
from collector.vendors.simulator.scenario import parse_scenario
from collector.vendors.simulator.truth import TruthLog
from tests.collector.vendors.cngw.support import (
    ScriptedGateway,
    expect_auth_failure,
    second_submit_throttled,
    submit_and_collect,
)
from tests.collector.vendors.helpers import MSISDN_CMCC, ListDlrSink, run, scenario_doc

SP = "901234"  # CMPP Source_Addr: the SP's 6-digit enterprise code
SECRET = "s3cret"
SIG = "探针科技"


def _scenario(protocol: str, **extra: object) -> dict[str, object]:
    table: dict[str, object] = {
        "protocol": protocol,
        "account": SP,
        "password": SECRET,
        "knobs": {
            "p_arrive": 1.0,
            "latency": {"dist": "fixed", "median_s": 0.05},
            "dlr_latency": {"dist": "fixed", "median_s": 0.05},
        },
    }
    table.update(extra)
    return scenario_doc({"gw": table})


async def _world(
    protocol: str, **extra: object
) -> tuple[CarrierNetwork, GatewayVendorSimulator, RecordingModemSink]:
    modems = RecordingModemSink()
    net = CarrierNetwork(parse_scenario(_scenario(protocol, **extra)), modems, TruthLog())
    front = GatewayVendorSimulator(net, "gw")
    await front.start()
    return net, front, modems


def _vendor(version: int, port: int, secret: str = SECRET, **session: object) -> GatewayVendor:
    dialect = CmppDialect(version, CmppAccount(SP, secret, src_id="10690001"))
    return GatewayVendor(
        "gw",
        dialect,
        SessionConfig("127.0.0.1", port, **session),  # type: ignore[arg-type]
        source=DlrSource.CMPP,
        login_timeout_s=5.0,
    )


# --------------------------------------------------------------------------- pure codec


def test_msg_id_bit_layout() -> None:
    """CMPP 2.0 §7.4.3.1: month 4 bits | day 5 | hour 5 | minute 6 | second 6 | gateway 22 |
    sequence 16; the octets worked out by hand from that layout."""
    msg_id = make_msg_id(datetime(2024, 12, 31, 23, 59, 58), 0x3FFFFF, 0xFFFF)
    expected = (
        (12 << 60) | (31 << 55) | (23 << 50) | (59 << 44) | (58 << 38) | (0x3FFFFF << 16) | 0xFFFF
    )
    assert msg_id == expected
    assert split_msg_id(msg_id) == (12, 31, 23, 59, 58, 0x3FFFFF, 0xFFFF)
    # by hand: 1100 11111 10111 111011 111010 then 38 ones -> c f d f b e b f...
    assert msg_id.to_bytes(8, "big").hex() == "cfdfbebfffffffff"


@pytest.mark.parametrize("version", [2, 3])
def test_report_sizes_and_round_trip(version: int) -> None:
    """§7.4.5.1: the status report is 60 octets in 2.0 (21-octet terminal id), 71 in 3.0."""
    v3 = version == 3
    report = Report(
        make_msg_id(datetime(2024, 5, 6, 7, 8, 9), 7, 9),
        "DELIVRD",
        "2405060708",
        "2405060709",
        "13800138000",
        42,
    )
    raw = encode_report(report, v3=v3)
    assert len(raw) == (71 if v3 else 60)
    codec = CmppCodec(version)
    pdu = Pdu(Command.DELIVER, 5, Deliver(1, "10690001", "13800138000", raw, 1))
    decoded = codec.decode(codec.encode(pdu))
    assert decoded == pdu
    assert CmppDialect(version, CmppAccount(SP, SECRET, "1069")).read_deliver(decoded) is not None


def test_malformed_pdus_are_clear_errors() -> None:
    codec = CmppCodec(2)
    good = codec.encode(Pdu(Command.ACTIVE_TEST, 7))
    with pytest.raises(GatewayDecodeError, match="Total_Length"):
        codec.decode(good + b"\x00")
    with pytest.raises(GatewayDecodeError, match="unknown Command_Id") as unknown:
        codec.decode(struct.pack("!III", 12, 0x77, 9))
    assert unknown.value.sequence == 9
    truncated = struct.pack("!III", 20, Command.SUBMIT, 3) + b"\x00" * 8
    with pytest.raises(GatewayDecodeError, match="needs") as short:
        codec.decode(truncated)
    assert short.value.command == Command.SUBMIT and short.value.sequence == 3
    dialect = CmppDialect(2, CmppAccount(SP, SECRET, "1069"))
    bad_id = Pdu(
        Command.DELIVER,
        1,
        Deliver(
            1,
            "1069",
            "138",
            encode_report(Report(0, "DELIVRD", "2401010000", "2401010000", "138", 1), v3=False),
            1,
        ),
    )
    with pytest.raises(GatewayDecodeError, match="not a CMPP Msg_Id"):
        dialect.read_deliver(bad_id)


# --------------------------------------------------------------------------- peers


def test_pycmpp_connect_bytes_match_ours() -> None:
    """pycmpp (CMPP 2.0) builds CMPP_CONNECT from the same formula: its AuthenticatorSource
    equals ours for the timestamp it sent, and our codec reads its PDU."""
    req = pyreq.ConnectRequestInstance()
    raw = req.create(SP, SECRET)
    pdu = CmppCodec(2).decode(raw)
    body = pdu.body
    assert pdu.command == Command.CONNECT
    stamp = f"{body.timestamp:010d}"  # type: ignore[attr-defined]
    assert body.authenticator == authenticator_source(SP, SECRET, stamp)  # type: ignore[attr-defined]
    assert body.authenticator == req.auth_source  # type: ignore[attr-defined]


def _recv_pdu(sock: socket.socket) -> bytes:
    head = b""
    while len(head) < 4:
        head += sock.recv(4 - len(head))
    length = struct.unpack("!L", head)[0]
    rest = b""
    while len(rest) < length - 4:
        rest += sock.recv(length - 4 - len(rest))
    return head + rest


def test_pycmpp_client_against_simulator() -> None:
    """pycmpp's own Cmpp client logs in (right and wrong secret), sends a short and a long
    message (its UDH split, 64 characters a part); the simulator answers each part with a
    Msg_Id pycmpp reads, reassembles the long one and delivers both whole."""
    long_text = f"【{SIG}】" + "长消息测试" * 30

    async def scenario() -> None:
        net, front, modems = await _world("cmpp2")
        loop = asyncio.get_running_loop()

        def client(secret: str) -> tuple[int, list[tuple[int, int]]]:
            peer = Cmpp("127.0.0.1", front.port, SP, secret, SP)
            peer.so.settimeout(5)
            peer.connect()
            peer.auth()
            resp = pyresp.ConnectResponseInstance()
            resp.resolve(_recv_pdu(peer.so))
            results: list[tuple[int, int]] = []
            if resp.status == 0:
                peer.submit(f"【{SIG}】短消息", [MSISDN_CMCC])
                peer.submit(long_text, [MSISDN_CMCC])
                while len(results) < 1 + 3:  # 157 characters at 64 a part: 3 parts
                    raw = _recv_pdu(peer.so)
                    if struct.unpack("!L", raw[4:8])[0] != Command.SUBMIT_RESP:
                        continue  # a status report: pycmpp has no handler for CMPP_DELIVER
                    sub = pyresp.SubmitResponseInstance()
                    sub.resolve(raw)
                    results.append((sub.status, sub.msg_id))
            peer.close()
            return resp.status, results

        try:
            bad_status, _ = await loop.run_in_executor(None, client, "wrong")
            status, results = await loop.run_in_executor(None, client, SECRET)
            await modems.wait_for(2)
            await front.close()  # the client left unread reports: never sent, not in the truth
            await net.wait_idle()
        finally:
            await net.close()
            await front.close()
        assert bad_status == 3  # §7.4.1.2: authentication error
        assert status == 0
        assert [r for r, _ in results] == [0, 0, 0, 0]
        ids = [str(m) for _, m in results]
        assert len(set(ids)) == 4
        texts = sorted(d.sms.text for d in modems.delivered)
        assert texts == sorted([f"【{SIG}】短消息", long_text])
        truth = {r.vendor_message_id: r for r in net.truth.records}
        assert set(truth) == {ids[0], ids[1]}
        assert truth[ids[1]].message_ids == tuple(ids[1:])

    run(scenario())


def test_cmppy_client_against_cmpp3_simulator() -> None:
    """cmppy (CMPP 3.0: 4-octet Status/Result, 32-octet terminal ids, LinkID) logs in and
    submits; it reads our CONNECT_RESP and SUBMIT_RESP at the 3.0 widths."""

    async def scenario() -> None:
        net, front, modems = await _world("cmpp3")

        def client() -> tuple[int, int, int]:
            sock = socket.create_connection(("127.0.0.1", front.port), timeout=5)
            sock.sendall(CmppyConnect(SP, SECRET).message)
            connect = CmppyConnectRes(_recv_pdu(sock))
            sock.sendall(
                CmppySubmit(
                    SP, f"【{SIG}】三点零", src_id="10690001", dest_terminal_id=[MSISDN_CMCC]
                ).message
            )
            submit = CmppySubmitRes(_recv_pdu(sock))
            sock.close()
            return connect.status, submit.result, submit.msg_id

        try:
            status, result, msg_id = await asyncio.get_running_loop().run_in_executor(None, client)
            await modems.wait_for(1)
            await front.close()  # the client left unread reports: never sent, not in the truth
            await net.wait_idle()
        finally:
            await net.close()
            await front.close()
        assert (status, result) == (0, 0)
        assert [r.vendor_message_id for r in net.truth.records] == [str(msg_id)]
        assert modems.delivered[0].sms.text == f"【{SIG}】三点零"

    run(scenario())


# --------------------------------------------------------------------------- our adapter


@pytest.mark.parametrize("version", [2, 3])
def test_adapter_long_message_reports_and_truth(version: int) -> None:
    """Our adapter: a 3-part message, one Msg_Id per part; each part's report (Stat
    DELIVRD) arrives as a DLR with that id and the done time; pycmpp reads our 2.0 submit."""
    body = (
        "这是一条通过CMPP提交的长探针消息，需要拆成多段发送，每段都有自己的消息编号和状态报告。" * 3
    )

    async def scenario() -> None:
        net, front, modems = await _world(f"cmpp{version}")
        vendor = _vendor(version, front.port)
        result, sink = await submit_and_collect(
            vendor, OutgoingSms("p-1", MSISDN_CMCC, body, signature=SIG), net, front
        )
        assert result.parts == 3 and len(set(result.message_ids)) == 3
        assert sorted(d.message_id for d in sink.dlrs) == sorted(result.message_ids)
        assert all(d.status is DlrStatus.DELIVRD and d.source is DlrSource.CMPP for d in sink.dlrs)
        assert all(d.done_at_ns for d in sink.dlrs)
        [delivered] = modems.delivered
        assert delivered.sms.text == f"【{SIG}】{body}"
        [truth] = net.truth.records[-1:]
        assert truth.message_ids == result.message_ids and truth.dlr_status == "DELIVRD"
        if version == 2:
            first = CmppCodec(2).encode(
                CmppCodec(2).decode(
                    result.raw_request[: struct.unpack("!L", result.raw_request[:4])[0]]
                )
            )
            parsed = pyreq.SubmitRequestInstance().resolve(first)
            assert parsed["pk_total"] == 3 and parsed["tp_udhi"] == 1
            assert parsed["dest_terminal_id"].rstrip("\x00") == MSISDN_CMCC
            assert parsed["msg_head"].encode("latin-1")[:3] == b"\x05\x00\x03"

    run(scenario())


def test_wrong_secret_is_auth_failure() -> None:
    async def scenario() -> None:
        net, front, _ = await _world("cmpp2")
        await expect_auth_failure(_vendor(2, front.port, secret="nope"), net, front)

    run(scenario())


def test_flow_control_result_8_is_throttled() -> None:
    """Result=8 (flow control, §7.4.3.2) on a first part: ThrottledError, nothing billed."""

    async def scenario() -> None:
        net, front, _ = await _world("cmpp2", throttle_tps=0.001, throttle_burst=1)
        vendor = _vendor(2, front.port)
        refused = await second_submit_throttled(
            vendor,
            OutgoingSms("p-1", MSISDN_CMCC, "一", signature=SIG),
            OutgoingSms("p-2", MSISDN_CMCC, "二", signature=SIG),
            net,
            front,
        )
        assert refused.code == "8"

    run(scenario())


def _reports_after(simulated_s: float) -> dict[str, object]:
    """Knobs: every message arrives, its report is sent `simulated_s` later (speedup 1000)."""
    return {
        "p_arrive": 1.0,
        "latency": {"dist": "fixed", "median_s": 0.05},
        "dlr_latency": {"dist": "fixed", "median_s": simulated_s},
    }


def test_restarted_vendor_logs_in_again_and_gets_the_queued_report() -> None:
    """A vendor unit taken down is closed and started again by its supervisor: the session
    logs in anew (it used to stay closed: 'no login within 10s' forever, every receipt of
    the account stuck in the gateway's queue). The report the gateway held while we were
    away arrives after the new login, and the truth lists it only once it was sent."""

    async def scenario() -> None:
        net, front, _ = await _world("cmpp3", knobs=_reports_after(400.0))  # 0.4 s
        sink = ListDlrSink()
        vendor = _vendor(3, front.port)
        try:
            await vendor.start(sink)
            result = await vendor.submit(OutgoingSms("p-1", MSISDN_CMCC, "一", signature=SIG))
            await vendor.close()  # down before the report is due
            await asyncio.sleep(0.8)  # the report is due now: queued, not sent
            assert sink.dlrs == [] and front.receipts_sent == 0
            assert all(not t.receipts for t in net.truth.records)
            await vendor.start(sink)
            await sink.wait_for(1)
            await net.wait_idle()
        finally:
            await vendor.close()
            await net.close()
            await front.close()
        assert vendor.session.logins == 2
        assert [d.message_id for d in sink.dlrs] == list(result.message_ids)
        truth = net.truth.records[-1]
        assert [r.status for r in truth.receipts] == ["DELIVRD"]

    run(scenario())


def test_report_never_sent_is_not_in_the_truth() -> None:
    """A report still queued when the gateway closes (no client logged in) never went out:
    the truth has no receipt for it, so a verdict of 'missing' agrees with it."""

    async def scenario() -> None:
        net, front, _ = await _world("cmpp3", knobs=_reports_after(200.0))  # 0.2 s
        vendor = _vendor(3, front.port)
        try:
            await vendor.start(ListDlrSink())
            await vendor.submit(OutgoingSms("p-1", MSISDN_CMCC, "一", signature=SIG))
            await vendor.close()
            await asyncio.sleep(0.5)
        finally:
            await front.close()
            await net.close()
        assert front.receipts_sent == 0
        assert net.truth.records and not net.truth.records[-1].receipts
        assert net.truth.records[-1].fate == "delivered"

    run(scenario())


# --------------------------------------------------------------------------- bad input


def _connect_resp(head: bytes) -> bytes:
    from collector.vendors.cmpp.pdu import ConnectResp

    seq = int.from_bytes(head[8:12], "big")
    return CmppCodec(2).encode(Pdu(Command.CONNECT_RESP, seq, ConnectResp(0, bytes(16), 0x20)))


def _scripted_gateway(script: list[bytes]) -> ScriptedGateway:
    """Accepts any CMPP 2.0 login."""
    return ScriptedGateway(script, _connect_resp, Command.DELIVER_RESP)


def test_malformed_pdus_are_quarantined_and_the_session_goes_on() -> None:
    """An unknown command and a report with a short Msg_Content are each quarantined raw
    with the reason; a good report after them is stored and acknowledged."""
    codec = CmppCodec(2)
    good_id = make_msg_id(datetime(2024, 1, 2, 3, 4, 5), 9, 1)
    good = Report(good_id, "UNDELIV", "2401020304", "2401020305", MSISDN_CMCC, 1)
    unknown = struct.pack("!III", 16, 0x00000077, 1) + b"junk"
    short = codec.encode(Pdu(Command.DELIVER, 2, Deliver(1, "1069", MSISDN_CMCC, b"\x01" * 20, 1)))
    fine = codec.encode(
        Pdu(Command.DELIVER, 3, Deliver(2, "1069", MSISDN_CMCC, encode_report(good, v3=False), 1))
    )

    async def scenario() -> None:
        gateway = _scripted_gateway([unknown, short, fine])
        port = await gateway.start()
        sink = ListDlrSink()
        vendor = _vendor(2, port)
        try:
            await vendor.start(sink)
            await sink.wait_for(1)
        finally:
            await vendor.close()
            await gateway.close()
        assert [q.raw for q in sink.quarantined] == [unknown, short]
        assert "unknown Command_Id" in sink.quarantined[0].reason
        assert "status report: 20 octets" in sink.quarantined[1].reason
        [dlr] = sink.dlrs
        assert (dlr.message_id, dlr.status) == (str(good_id), DlrStatus.UNDELIV)
        assert len(gateway.acks) == 2  # the short report (quarantined, durable) and the good one

    run(scenario())


def test_silent_connection_is_detected_and_replaced() -> None:
    """A gateway that stops answering: CMPP_ACTIVE_TEST goes unanswered, the connection is
    closed and the session logs in again after the back-off."""
    from agent.common.backoff import FixedBackoff

    async def scenario() -> None:
        gateway = _scripted_gateway([])
        port = await gateway.start()
        dialect = CmppDialect(2, CmppAccount(SP, SECRET, "1069"))
        vendor = GatewayVendor(
            "gw",
            dialect,
            SessionConfig("127.0.0.1", port, active_test_interval_s=0.1, response_timeout_s=0.1),
            source=DlrSource.CMPP,
            backoff=FixedBackoff(0.01),
        )
        try:
            await vendor.start(ListDlrSink())
            async with asyncio.timeout(5):
                while vendor.session.logins < 3:
                    await asyncio.sleep(0.02)
        finally:
            await vendor.close()
            await gateway.close()
        assert gateway.logins >= 3

    run(scenario())
