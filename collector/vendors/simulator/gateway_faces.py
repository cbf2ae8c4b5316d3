"""The gateway side of each China carrier protocol, as the simulator plays it: login
checks, reading submits, answering them with the protocol's own message ids and result
codes, and building status reports. One `Face` per protocol (CMPP 2.0/3.0, SGIP 1.2,
SMGP 3.0); gateway_api.py does the rest.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from collector.vendors.base import RejectReason
from collector.vendors.cmpp.dialect import RESULT_FLOW_CONTROL, check_connect
from collector.vendors.cmpp.pdu import (
    ActiveTestResp,
    CmppCodec,
    Command,
    Connect,
    ConnectResp,
    Deliver,
    MessageResp,
    Report,
    Submit,
    encode_report,
    make_msg_id,
)
from collector.vendors.cngw.link import Codec
from collector.vendors.cngw.wire import GatewayDecodeError, Pdu, decode_content
from collector.vendors.sgip import pdu as sgip
from collector.vendors.sgip.dialect import (
    LOGIN_SMG_TO_SP,
    LOGIN_SP_TO_SMG,
    RESULT_BAD_NUMBER,
    RESULT_NODE_BUSY,
    check_bind,
    national,
)
from collector.vendors.simulator.network import SimulatedDlr
from collector.vendors.simulator.scenario import VendorProtocol, VendorScenario
from collector.vendors.smgp import pdu as smgp
from collector.vendors.smgp.dialect import STATUS_BAD_DEST, STATUS_BUSY
from collector.vendors.smgp.dialect import check_login as smgp_check_login

__all__ = ["Face", "SubmitIn", "face_for"]

Refusal = RejectReason | Literal["throttled"] | None


@dataclass(frozen=True, slots=True)
class SubmitIn:
    destination: str
    text: str
    concat: tuple[int, int, int] | None  # (reference, total, number)


class Face(Protocol):
    @property
    def codec(self) -> Codec: ...

    reports_inbound: bool  # SGIP: reports go to the SP's listener

    def sequence(self, n: int, now: datetime) -> Hashable: ...

    def login(self, pdu: Pdu, accounts: Mapping[str, str]) -> tuple[Pdu, str | None] | None: ...

    def read_submit(self, pdu: Pdu) -> SubmitIn | None: ...

    def new_id(self, now: datetime, n: int, pdu: Pdu) -> str: ...

    def submit_resp(self, pdu: Pdu, message_id: str, refusal: Refusal) -> Pdu: ...

    def nack(self, exc: GatewayDecodeError) -> Pdu | None: ...

    def answer(self, pdu: Pdu) -> Pdu | None: ...

    def is_terminate(self, pdu: Pdu) -> bool: ...

    def receives_reports(self, login: Pdu) -> bool:
        """Whether a connection that logged in with `login` may be sent status reports."""
        ...

    def receipt(self, sequence: Hashable, dlr: SimulatedDlr, sender: str) -> Pdu: ...

    def receipt_acked(self, resp: Pdu) -> bool: ...

    def outbound_bind(self, sequence: Hashable, account: str, password: str) -> Pdu: ...

    def goodbye(self, sequence: Hashable) -> Pdu: ...


def _yymmddhhmm(at: datetime) -> str:
    return at.strftime("%y%m%d%H%M")


class CmppFace:
    reports_inbound = False
    GATEWAY_ID = 0x1A2B3  # 22-bit ISMG id in the Msg_Ids we hand out

    def __init__(self, version: int) -> None:
        self.codec = CmppCodec(version)
        self._smsc_seq = itertools.count(1)

    def sequence(self, n: int, now: datetime) -> Hashable:
        return n

    def login(self, pdu: Pdu, accounts: Mapping[str, str]) -> tuple[Pdu, str | None] | None:
        body = pdu.body
        if pdu.command != Command.CONNECT or not isinstance(body, Connect):
            return None
        status, auth = check_connect(self.codec, body, accounts)
        resp = Pdu(Command.CONNECT_RESP, pdu.sequence,
                   ConnectResp(status, auth, self.codec.version_octet))  # fmt: skip
        return resp, body.source_addr if status == 0 else None

    def read_submit(self, pdu: Pdu) -> SubmitIn | None:
        body = pdu.body
        if not isinstance(body, Submit):
            return None
        text, concat = decode_content(body.msg_content, body.msg_fmt, bool(body.tp_udhi))
        if concat is None and body.pk_total > 1:  # no UDH, but Pk_total/Pk_number (§7.4.3.1)
            concat = (0, body.pk_total, body.pk_number)
        return SubmitIn(body.dest_terminal_ids[0] if body.dest_terminal_ids else "", text, concat)

    def new_id(self, now: datetime, n: int, pdu: Pdu) -> str:
        return str(make_msg_id(now, self.GATEWAY_ID, n))

    def submit_resp(self, pdu: Pdu, message_id: str, refusal: Refusal) -> Pdu:
        if refusal is None:
            result = 0
        elif refusal == "throttled":
            result = RESULT_FLOW_CONTROL
        elif refusal is RejectReason.NUMBER:
            result = 13  # bad Dest_terminal_Id (3.0 numbering; "other" in 2.0)
        else:
            result = 9 if not self.codec.v3 else 11  # "other" / bad Msg_src: a content refusal
        msg_id = int(message_id) if result == 0 else 0
        return Pdu(Command.SUBMIT_RESP, pdu.sequence, MessageResp(msg_id, result))

    def nack(self, exc: GatewayDecodeError) -> Pdu | None:
        if exc.command == Command.SUBMIT and isinstance(exc.sequence, int):
            return Pdu(Command.SUBMIT_RESP, exc.sequence, MessageResp(0, 1))  # bad structure
        return None

    def answer(self, pdu: Pdu) -> Pdu | None:
        if pdu.command == Command.ACTIVE_TEST:
            return Pdu(Command.ACTIVE_TEST_RESP, pdu.sequence, ActiveTestResp())
        if pdu.command == Command.TERMINATE:
            return Pdu(Command.TERMINATE_RESP, pdu.sequence)
        return None

    def is_terminate(self, pdu: Pdu) -> bool:
        return pdu.command == Command.TERMINATE

    def receives_reports(self, login: Pdu) -> bool:
        return True  # no login modes: every logged-in connection takes reports

    def receipt(self, sequence: Hashable, dlr: SimulatedDlr, sender: str) -> Pdu:
        report = Report(
            msg_id=int(dlr.message_id),
            stat=dlr.status.value,
            submit_time=_yymmddhhmm(dlr.submitted_at),
            done_time=_yymmddhhmm(dlr.done_at),
            dest_terminal_id=dlr.msisdn,
            smsc_sequence=next(self._smsc_seq),
        )
        deliver = Deliver(
            msg_id=make_msg_id(dlr.done_at, self.GATEWAY_ID, next(self._smsc_seq)),
            dest_id=sender,
            src_terminal_id=dlr.msisdn,
            msg_content=encode_report(report, v3=self.codec.v3),
            registered_delivery=1,
        )
        return Pdu(Command.DELIVER, sequence, deliver)

    def receipt_acked(self, resp: Pdu) -> bool:
        return isinstance(resp.body, MessageResp) and resp.body.result == 0

    def outbound_bind(self, sequence: Hashable, account: str, password: str) -> Pdu:
        raise NotImplementedError("CMPP reports travel on the SP's own connection")

    def goodbye(self, sequence: Hashable) -> Pdu:
        return Pdu(Command.TERMINATE, sequence)


class SgipFace:
    """SGIP 1.2: binds with login type 1, Submit_Resp without an id (the submit's Sequence
    Number is the id), reports on a connection of our own to the SP (§3)."""

    reports_inbound = True
    NODE_ID = 2_0010_00001  # an SMG node: 2, area code 0010, SMG id (§4.2.1)

    def __init__(self) -> None:
        self.codec = sgip.SgipCodec()

    def sequence(self, n: int, now: datetime) -> Hashable:
        return (self.NODE_ID, int(now.strftime("%m%d%H%M%S")), n)

    def login(self, pdu: Pdu, accounts: Mapping[str, str]) -> tuple[Pdu, str | None] | None:
        body = pdu.body
        if pdu.command != sgip.Command.BIND or not isinstance(body, sgip.Bind):
            return None
        result = check_bind(body, LOGIN_SP_TO_SMG, accounts)
        resp = Pdu(sgip.Command.BIND_RESP, pdu.sequence, sgip.Result(result))
        return resp, body.login_name if result == 0 else None

    def read_submit(self, pdu: Pdu) -> SubmitIn | None:
        body = pdu.body
        if not isinstance(body, sgip.Submit):
            return None
        text, concat = decode_content(body.message_content, body.message_coding,
                                      bool(body.tp_udhi))  # fmt: skip
        return SubmitIn(national(body.user_numbers[0]), text, concat)

    def new_id(self, now: datetime, n: int, pdu: Pdu) -> str:
        seq = pdu.sequence
        assert isinstance(seq, tuple)
        return sgip.format_seq(seq)

    def submit_resp(self, pdu: Pdu, message_id: str, refusal: Refusal) -> Pdu:
        if refusal is None:
            result = 0
        elif refusal == "throttled":
            result = RESULT_NODE_BUSY
        elif refusal is RejectReason.NUMBER:
            result = RESULT_BAD_NUMBER
        else:
            result = 5  # bad parameter format: SGIP has no content/signature refusal
        return Pdu(sgip.Command.SUBMIT_RESP, pdu.sequence, sgip.Result(result))

    def nack(self, exc: GatewayDecodeError) -> Pdu | None:
        if exc.command == sgip.Command.SUBMIT and isinstance(exc.sequence, tuple):
            return Pdu(sgip.Command.SUBMIT_RESP, exc.sequence, sgip.Result(5))
        return None

    def answer(self, pdu: Pdu) -> Pdu | None:
        if pdu.command == sgip.Command.UNBIND:
            return Pdu(sgip.Command.UNBIND_RESP, pdu.sequence)
        return None

    def is_terminate(self, pdu: Pdu) -> bool:
        return pdu.command == sgip.Command.UNBIND

    def receives_reports(self, login: Pdu) -> bool:
        return True  # unused: reports go to the SP's own listener (reports_inbound)

    def receipt(self, sequence: Hashable, dlr: SimulatedDlr, sender: str) -> Pdu:
        # §4.2.3.6: State 0 delivered, 2 failed with an ErrorCode; SGIP has no word for
        # EXPIRED or REJECTD, so every failure is State 2 with the closest §4.3 code.
        status = dlr.status.value
        state, error = (0, 0) if status == "DELIVRD" else (2, _SGIP_ERRORS.get(status, 29))
        report = sgip.Report(sgip.parse_seq(dlr.message_id), "86" + dlr.msisdn, state, error)
        return Pdu(sgip.Command.REPORT, sequence, report)

    def receipt_acked(self, resp: Pdu) -> bool:
        return isinstance(resp.body, sgip.Result) and resp.body.result == 0

    def outbound_bind(self, sequence: Hashable, account: str, password: str) -> Pdu:
        return Pdu(sgip.Command.BIND, sequence, sgip.Bind(LOGIN_SMG_TO_SP, account, password))

    def goodbye(self, sequence: Hashable) -> Pdu:
        return Pdu(sgip.Command.UNBIND, sequence)


_SGIP_ERRORS = {"EXPIRED": 28, "REJECTD": 25, "UNDELIV": 29}


class SmgpFace:
    """SMGP 3.0: Login with the MD5 authenticator, BCD MsgIDs, reports as Deliver with
    IsReport 1 on the client's own connection (login mode 2)."""

    reports_inbound = False
    SMGW_CODE = "059001"  # 6-digit SMGW code in the MsgIDs we hand out

    def __init__(self) -> None:
        self.codec = smgp.SmgpCodec()

    def sequence(self, n: int, now: datetime) -> Hashable:
        return n

    def login(self, pdu: Pdu, accounts: Mapping[str, str]) -> tuple[Pdu, str | None] | None:
        body = pdu.body
        if pdu.command != smgp.Command.LOGIN or not isinstance(body, smgp.Login):
            return None
        status, auth = smgp_check_login(body, accounts)
        resp = Pdu(smgp.Command.LOGIN_RESP, pdu.sequence, smgp.LoginResp(status, auth))
        return resp, body.client_id if status == 0 else None

    def read_submit(self, pdu: Pdu) -> SubmitIn | None:
        body = pdu.body
        if not isinstance(body, smgp.Submit):
            return None
        udhi = body.tlv(smgp.Tag.TP_UDHI)
        text, concat = decode_content(body.msg_content, body.msg_format, bool(udhi and udhi[0]))
        total, number = body.tlv(smgp.Tag.PK_TOTAL), body.tlv(smgp.Tag.PK_NUMBER)
        if concat is None and total and number and total[0] > 1:  # TLVs, no UDH
            concat = (0, total[0], number[0])
        return SubmitIn(body.dest_term_ids[0], text, concat)

    def new_id(self, now: datetime, n: int, pdu: Pdu) -> str:
        return smgp.msg_id_text(smgp.make_msg_id(self.SMGW_CODE, now, n))

    def submit_resp(self, pdu: Pdu, message_id: str, refusal: Refusal) -> Pdu:
        if refusal is None:
            status = 0
        elif refusal == "throttled":
            status = STATUS_BUSY
        elif refusal is RejectReason.NUMBER:
            status = STATUS_BAD_DEST
        else:
            status = 34  # bad message format: the nearest to a content/signature refusal
        msg_id = bytes.fromhex(message_id) if status == 0 else bytes(10)
        return Pdu(smgp.Command.SUBMIT_RESP, pdu.sequence, smgp.MessageResp(msg_id, status))

    def nack(self, exc: GatewayDecodeError) -> Pdu | None:
        if exc.command == smgp.Command.SUBMIT and isinstance(exc.sequence, int):
            return Pdu(smgp.Command.SUBMIT_RESP, exc.sequence, smgp.MessageResp(bytes(10), 10))
        return None

    def answer(self, pdu: Pdu) -> Pdu | None:
        if pdu.command == smgp.Command.ACTIVE_TEST:
            return Pdu(smgp.Command.ACTIVE_TEST_RESP, pdu.sequence)
        if pdu.command == smgp.Command.EXIT:
            return Pdu(smgp.Command.EXIT_RESP, pdu.sequence)
        return None

    def is_terminate(self, pdu: Pdu) -> bool:
        return pdu.command == smgp.Command.EXIT

    def receives_reports(self, login: Pdu) -> bool:
        # §5.2.1 LoginMode: 0 send only (MT), 1 receive (MO and reports), 2 both
        return not (isinstance(login.body, smgp.Login) and login.body.login_mode == 0)

    def receipt(self, sequence: Hashable, dlr: SimulatedDlr, sender: str) -> Pdu:
        report = smgp.StatusReport(
            msg_id=bytes.fromhex(dlr.message_id),
            stat=dlr.status.value,
            submit_date=_yymmddhhmm(dlr.submitted_at),
            done_date=_yymmddhhmm(dlr.done_at),
            err=(dlr.err or "000")[:3],
            text=dlr.text.encode("utf-16-be")[:20],
        )
        assert isinstance(sequence, int)
        deliver = smgp.Deliver(
            msg_id=smgp.make_msg_id(self.SMGW_CODE, dlr.done_at, sequence),
            is_report=1,
            msg_content=smgp.encode_report(report),
            src_term_id=dlr.msisdn,
            dest_term_id=sender,
            recv_time=dlr.done_at.strftime("%Y%m%d%H%M%S"),
        )
        return Pdu(smgp.Command.DELIVER, sequence, deliver)

    def receipt_acked(self, resp: Pdu) -> bool:
        return isinstance(resp.body, smgp.MessageResp) and resp.body.status == 0

    def outbound_bind(self, sequence: Hashable, account: str, password: str) -> Pdu:
        raise NotImplementedError("SMGP reports travel on the SP's own connection")

    def goodbye(self, sequence: Hashable) -> Pdu:
        return Pdu(smgp.Command.EXIT, sequence)


def face_for(vendor: VendorScenario) -> Face:
    protocol = vendor.protocol
    if protocol is VendorProtocol.CMPP2:
        return CmppFace(2)
    if protocol is VendorProtocol.CMPP3:
        return CmppFace(3)
    if protocol is VendorProtocol.SGIP:
        return SgipFace()
    if protocol is VendorProtocol.SMGP:
        return SmgpFace()
    raise ValueError(f"vendor {vendor.name}: {protocol.value} is not a gateway protocol")
