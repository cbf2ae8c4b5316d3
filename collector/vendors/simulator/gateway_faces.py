"""The gateway side of each China carrier protocol, as the simulator plays it: login
checks, reading submits, answering them with the protocol's own message ids and result
codes, and building status reports. One `Face` per protocol; gateway_api.py does the rest.
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
from collector.vendors.simulator.network import SimulatedDlr
from collector.vendors.simulator.scenario import VendorProtocol, VendorScenario

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


def face_for(vendor: VendorScenario) -> Face:
    protocol = vendor.protocol
    if protocol is VendorProtocol.CMPP2:
        return CmppFace(2)
    if protocol is VendorProtocol.CMPP3:
        return CmppFace(3)
    raise ValueError(f"vendor {vendor.name}: {protocol.value} is not a gateway protocol")
