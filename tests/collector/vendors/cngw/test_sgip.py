"""SGIP 1.2: the pure codec against byte vectors worked by hand from the document's
layouts (§4.2: 20-octet header with the 12-octet Sequence Number; Bind, Submit, Report),
and our adapter against the simulator over real sockets: a connection per batch, reports
coming back on the SP's own listener with its bind check, ground truth, bad input.

No SGIP implementation installs from PyPI or npm (docs/vendors.md, "SGIP 1.2"), so the
independent side here is hand-packed octets from the layout (struct), never our codec."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from collector.vendors.base import (
    DlrSource,
    DlrStatus,
    OutgoingSms,
)
from collector.vendors.cngw.adapter import GatewayVendor
from collector.vendors.cngw.config import build_gateway_vendor, parse_gateway_vendor
from collector.vendors.cngw.wire import GatewayDecodeError, Pdu
from collector.vendors.sgip.dialect import SgipAccount, SgipDialect
from collector.vendors.sgip.pdu import (
    Bind,
    Command,
    Report,
    Result,
    SgipCodec,
    Submit,
    format_seq,
    parse_seq,
)
from collector.vendors.simulator.gateway_api import GatewayVendorSimulator
from collector.vendors.simulator.network import CarrierNetwork, RecordingModemSink
from collector.vendors.simulator.scenario import parse_scenario
from collector.vendors.simulator.truth import TruthLog
from tests.collector.vendors.cngw.support import (
    expect_auth_failure,
    second_submit_throttled,
    submit_and_collect,
)
from tests.collector.vendors.helpers import MSISDN_CUCC, ListDlrSink, run, scenario_doc

LOGIN, PASSWORD, CORP = "sp01", "pw-sgip", "12345"
NODE = 3_0010_12345  # 3 + area code 0010 + corp id
SIG = "探针科技"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _world(report_port: int, **extra: object) -> tuple[CarrierNetwork,
                                                            GatewayVendorSimulator,
                                                            RecordingModemSink]:  # fmt: skip
    table: dict[str, object] = {
        "protocol": "sgip", "account": LOGIN, "password": PASSWORD,
        "sgip_report_to": f"127.0.0.1:{report_port}",
        "knobs": {"p_arrive": 1.0, "latency": {"dist": "fixed", "median_s": 0.05},
                  "dlr_latency": {"dist": "fixed", "median_s": 0.05}},
    }  # fmt: skip
    table.update(extra)
    modems = RecordingModemSink()
    net = CarrierNetwork(parse_scenario(scenario_doc({"gw": table})), modems, TruthLog())
    front = GatewayVendorSimulator(net, "gw")
    await front.start()
    return net, front, modems


def _vendor(port: int, report_port: int, password: str = PASSWORD) -> GatewayVendor:
    table = {
        "kind": "sgip", "host": "127.0.0.1", "port": port, "login_name": LOGIN,
        "password": password, "corp_id": CORP, "sp_number": "10655001", "node_id": NODE,
        "report_listen_host": "127.0.0.1", "report_listen_port": report_port,
        "report_login_name": LOGIN, "report_password": PASSWORD, "response_timeout_s": 5.0,
    }  # fmt: skip
    return build_gateway_vendor(parse_gateway_vendor("gw", table, file="collector.toml"))


# --------------------------------------------------------------------------- pure codec


def _head(length: int, command: int, seq: tuple[int, int, int]) -> bytes:
    return struct.pack("!II", length, command) + struct.pack("!III", *seq)


def test_bind_bytes_from_the_layout() -> None:
    """§4.2.3.1 Bind: header 20 (length, command 0x1, node id, MMDDHHMMSS, sequence), Login
    Type 1, Login Name 16, Login Password 16, Reserve 8 = 61 octets."""
    seq = (NODE, 1206093000, 7)
    by_hand = (
        _head(61, 0x1, seq) + b"\x01" + b"sp01".ljust(16, b"\0") + b"pw".ljust(16, b"\0")
        + bytes(8)
    )  # fmt: skip
    pdu = Pdu(Command.BIND, seq, Bind(1, "sp01", "pw"))
    assert SgipCodec().encode(pdu) == by_hand
    assert SgipCodec().decode(by_hand) == pdu
    # 3001012345 = 3000000000 (0xB2D05E00) + 1012345 (0x000F7279): a 10-digit node id fits u32
    assert by_hand[8:12].hex() == "b2dfd079"


def test_submit_offsets_from_the_layout() -> None:
    """§4.2.3.3 Submit: the fixed part is 144 octets around the content; UserNumber at
    body offset 43, ReportFlag 127, TP_udhi 129, MessageCoding 130, MessageLength 132 (u32),
    MessageContent 136, then Reserve 8 (offsets summed from the field table)."""
    content = "你好".encode("utf-16-be")
    sub = Submit(("8613000130000",), content, sp_number="10655001", corp_id=CORP, tp_udhi=1)
    raw = SgipCodec().encode(Pdu(Command.SUBMIT, (NODE, 1206093000, 8), sub))
    body = raw[20:]
    assert len(raw) == 20 + 144 + len(content)
    assert body[:8] == b"10655001" and body[42] == 1  # SPNumber, UserCount
    assert body[43:64].rstrip(b"\0") == b"8613000130000"
    assert body[64:69] == CORP.encode()
    assert (body[127], body[129], body[130]) == (1, 1, 8)  # ReportFlag, TP_udhi, UCS-2
    assert struct.unpack("!I", body[132:136])[0] == 4 and body[136:140] == content
    assert body[140:] == bytes(8)
    assert SgipCodec().decode(raw).body == sub


def test_report_bytes_and_reading() -> None:
    """§4.2.3.6 Report: SubmitSequenceNumber 12, ReportType 1, UserNumber 21, State 1,
    ErrorCode 1, Reserve 8 = 44 octets of body; State 2 with ErrorCode 29 = UNDELIV, err 29."""
    submit_seq = (NODE, 1206093000, 8)
    by_hand = (
        _head(64, 0x5, (2_0010_00001, 1206093100, 1)) + struct.pack("!III", *submit_seq)
        + b"\x00" + b"8613000130000".ljust(21, b"\0") + b"\x02\x1d" + bytes(8)
    )  # fmt: skip
    pdu = SgipCodec().decode(by_hand)
    assert pdu.body == Report(submit_seq, "8613000130000", 2, 29)
    info = SgipDialect(SgipAccount(LOGIN, PASSWORD, "1065", CORP, NODE)).read_deliver(pdu)
    assert info is not None
    assert (info.message_id, info.stat, info.err, info.destination) == (
        f"{NODE}-1206093000-8", "UNDELIV", "29", MSISDN_CUCC)  # fmt: skip
    assert parse_seq(format_seq(submit_seq)) == submit_seq


def test_malformed_sgip_is_a_clear_error() -> None:
    codec = SgipCodec()
    good = codec.encode(Pdu(Command.UNBIND, (NODE, 1, 1)))
    assert len(good) == 20
    with pytest.raises(GatewayDecodeError, match="Message Length"):
        codec.decode(good + b"\0")
    with pytest.raises(GatewayDecodeError, match="unknown Command ID") as unknown:
        codec.decode(_head(20, 0x77, (NODE, 1, 9)))
    assert unknown.value.sequence == (NODE, 1, 9)
    with pytest.raises(GatewayDecodeError, match="needs"):
        codec.decode(_head(30, 0x5, (NODE, 1, 2)) + bytes(10))
    dialect = SgipDialect(SgipAccount(LOGIN, PASSWORD, "1065", CORP, NODE))
    for report in (Report((0, 0, 0), "8613000130000", 0), Report((NODE, 1206093000, 1), "86", 7)):
        with pytest.raises(GatewayDecodeError):
            dialect.read_deliver(Pdu(Command.REPORT, (1, 1, 1), report))


# --------------------------------------------------------------------------- our adapter


def test_adapter_per_batch_long_message_reports_on_our_listener() -> None:
    """Three parts, one connection (Bind, 3 Submits, Unbind), one id per part (the submit's
    Sequence Number); the simulated SMG binds to our listener (login type 2) and reports each
    part: 3 DLRs with those ids, DELIVRD; the handset got the whole text; truth agrees."""
    body = (
        "这是一条通过SGIP提交的长探针消息，需要拆成多段发送，每段都有自己的序列号和状态报告。" * 3
    )

    async def scenario() -> None:
        report_port = _free_port()
        net, front, modems = await _world(report_port)
        vendor = _vendor(front.port, report_port)
        result, sink = await submit_and_collect(
            vendor, OutgoingSms("p-1", MSISDN_CUCC, body, signature=SIG), net, front
        )
        assert result.parts == 3 and len(set(result.message_ids)) == 3
        assert all(m.startswith(f"{NODE}-") for m in result.message_ids)
        assert sorted(d.message_id for d in sink.dlrs) == sorted(result.message_ids)
        assert all(d.status is DlrStatus.DELIVRD and d.source is DlrSource.SGIP for d in sink.dlrs)
        assert all(d.msisdn == MSISDN_CUCC for d in sink.dlrs)
        [delivered] = modems.delivered
        assert delivered.sms.text == f"【{SIG}】{body}"
        [truth] = net.truth.records[-1:]
        assert truth.message_ids == result.message_ids and truth.dlr_status == "DELIVRD"
        assert vendor.session.logins == 2  # the start-up check and the batch: no keep-alive
        assert front.receipts_sent == 3

    run(scenario())


def test_wrong_password_is_auth_failure() -> None:
    async def scenario() -> None:
        report_port = _free_port()
        net, front, _ = await _world(report_port)
        await expect_auth_failure(_vendor(front.port, report_port, password="nope"), net, front)

    run(scenario())


def test_node_busy_is_throttled() -> None:
    """Result 11 (node busy, §4.3) on a first part: ThrottledError, code 11."""

    async def scenario() -> None:
        report_port = _free_port()
        net, front, _ = await _world(report_port, throttle_tps=0.001, throttle_burst=1)
        vendor = _vendor(front.port, report_port)
        refused = await second_submit_throttled(
            vendor,
            OutgoingSms("p-1", MSISDN_CUCC, "一", signature=SIG),
            OutgoingSms("p-2", MSISDN_CUCC, "二", signature=SIG),
            net,
            front,
        )
        assert refused.code == "11"

    run(scenario())


# --------------------------------------------------------------------------- our listener


def _smg_client(port: int, pdus: list[bytes]) -> list[bytes]:
    """A hand-packed SMG: sends each PDU, collects each response until the SP hangs up."""
    got: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for raw in pdus:
            try:
                sock.sendall(raw)
                head = sock.recv(4)
                if not head:
                    break
                while len(head) < 4:
                    head += sock.recv(4 - len(head))
                length = struct.unpack("!I", head)[0]
                rest = b""
                while len(rest) < length - 4:
                    chunk = sock.recv(length - 4 - len(rest))
                    if not chunk:
                        break
                    rest += chunk
                got.append(head + rest)
            except (ConnectionError, TimeoutError):
                break
    return got


def _bind(login_type: int, password: str, n: int = 1) -> bytes:
    return (
        _head(61, 0x1, (2_0010_00001, 1206093000, n))
        + bytes([login_type])
        + LOGIN.encode().ljust(16, b"\0")
        + password.encode().ljust(16, b"\0")
        + bytes(8)
    )


def _report(n: int, submit_seq: tuple[int, int, int], state: int, error: int = 0) -> bytes:
    return (
        _head(64, 0x5, (2_0010_00001, 1206093000, n))
        + struct.pack("!III", *submit_seq)
        + b"\x00"
        + b"8613000130000".ljust(21, b"\0")
        + bytes([state, error])
        + bytes(8)
    )


def test_listener_checks_the_bind_and_quarantines_bad_reports() -> None:
    """The SP's listener (§3): a Report before any Bind, a Bind with the wrong password and
    one with login type 1 are refused and the connection closed, nothing stored; after a
    good bind, an undecodable PDU, a Report with State 7 and one with an all-zero
    SubmitSequenceNumber are quarantined raw (and the reports acknowledged), a good one is
    stored; the connection survives all of it."""
    good_seq = (NODE, 1206093000, 5)
    garbage = _head(24, 0x77, (2_0010_00001, 1206093000, 3)) + b"junk"
    bad_state = _report(4, good_seq, 7)
    zero_seq = _report(5, (0, 0, 0), 0)
    good = _report(6, good_seq, 0)

    async def scenario() -> tuple[ListDlrSink, list[list[bytes]], int]:
        report_port = _free_port()
        net, front, _ = await _world(report_port)
        sink = ListDlrSink()
        vendor = _vendor(front.port, report_port)
        loop = asyncio.get_running_loop()
        try:
            await vendor.start(sink)
            answers = []
            for script in (
                [_report(1, good_seq, 0)],
                [_bind(2, "wrong")],
                [_bind(1, PASSWORD)],
                [_bind(2, PASSWORD), garbage + bad_state, zero_seq, good,
                 _head(20, 0x2, (2_0010_00001, 1206093000, 7))],
            ):  # fmt: skip
                answers.append(await loop.run_in_executor(None, _smg_client, report_port, script))
            await sink.wait_for(1)
        finally:
            await vendor.close()
            await net.close()
            await front.close()
        assert vendor._receiver is not None
        return sink, answers, vendor._receiver.binds_refused  # type: ignore[attr-defined]

    sink, answers, refused = run(scenario())
    assert answers[0] == []  # no bind: hung up unanswered
    assert [SgipCodec().decode(a).body for a in answers[1] + answers[2]] == [Result(1), Result(4)]
    assert refused == 2
    codec = SgipCodec()
    last = [codec.decode(a) for a in answers[3]]
    # Bind_Resp 0; the garbage (sent with the bad report) unanswered; 3 Report_Resp 0; Unbind_Resp
    assert [p.command for p in last] == [Command.BIND_RESP, Command.REPORT_RESP,
                                        Command.REPORT_RESP, Command.REPORT_RESP,
                                        Command.UNBIND_RESP]  # fmt: skip
    assert all(p.body in (Result(0), None) for p in last)
    assert [q.raw for q in sink.quarantined] == [garbage, bad_state, zero_seq]
    assert "unknown Command ID" in sink.quarantined[0].reason
    assert "State 7" in sink.quarantined[1].reason
    [dlr] = sink.dlrs
    assert (dlr.message_id, dlr.status, dlr.done_at_ns) == (
        format_seq(good_seq),
        DlrStatus.DELIVRD,
        None,
    )
