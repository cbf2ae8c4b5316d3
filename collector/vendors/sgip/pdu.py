"""SGIP 1.2 PDUs, pure (no I/O). Sections: the SGIP 1.2 document, §4 (messages).

Header (§4.2.1): Message Length u32, Command ID u32, Sequence Number 12 octets = source
node id u32, time u32 (the decimal MMDDHHMMSS), sequence u32: 20 octets. The Sequence
Number of a Submit is also the message's identity: Submit_Resp carries no message id and
a Report names the submit by it (§4.2.3.6 SubmitSequenceNumber).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from collector.vendors.cngw.wire import (
    GatewayDecodeError,
    Pdu,
    Reader,
    decode_frame,
    fixed,
    frame,
)

__all__ = [
    "HEADER_LEN",
    "Bind",
    "Command",
    "Deliver",
    "Report",
    "Result",
    "SgipCodec",
    "SgipSeq",
    "Submit",
    "format_seq",
    "parse_seq",
]

HEADER_LEN = 20


class Command(enum.IntEnum):
    BIND = 0x1
    BIND_RESP = 0x80000001
    UNBIND = 0x2
    UNBIND_RESP = 0x80000002
    SUBMIT = 0x3
    SUBMIT_RESP = 0x80000003
    DELIVER = 0x4
    DELIVER_RESP = 0x80000004
    REPORT = 0x5
    REPORT_RESP = 0x80000005


SgipSeq = tuple[int, int, int]
"""(node id, MMDDHHMMSS as a number, sequence): the 12-octet Sequence Number."""


def format_seq(seq: SgipSeq) -> str:
    """How we show an SGIP message id: node-MMDDHHMMSS-sequence (docs/vendors.md)."""
    node, stamp, n = seq
    return f"{node}-{stamp:010d}-{n}"


def parse_seq(text: str) -> SgipSeq:
    parts = text.split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise GatewayDecodeError(f"{text!r} is not an SGIP message id (node-MMDDHHMMSS-seq)")
    node, stamp, n = (int(p) for p in parts)
    if max(node, stamp, n) > 0xFFFFFFFF:
        raise GatewayDecodeError(f"{text!r}: a part does not fit 32 bits")
    return node, stamp, n


@dataclass(frozen=True, slots=True)
class Bind:
    """§4.2.3.1: login type 1 = SP to SMG, 2 = SMG to SP (reports), others SMG/GNS."""

    login_type: int
    login_name: str  # 16
    login_password: str  # 16


@dataclass(frozen=True, slots=True)
class Result:
    """Bind_Resp, Submit_Resp, Deliver_Resp, Report_Resp: Result 1 + Reserve 8."""

    result: int


@dataclass(frozen=True, slots=True)
class Submit:
    """§4.2.3.3."""

    user_numbers: tuple[str, ...]  # 21 each, with the 86 country code
    message_content: bytes
    sp_number: str = ""  # 21: the 106 number (+ extension) the handset sees
    charge_number: str = "0" * 21  # 21 zeros: the SP pays (§4.2.3.3 ChargeNumber)
    corp_id: str = ""  # 5
    service_type: str = ""  # 10
    fee_type: int = 0  # 0: free for the charge number
    fee_value: str = "0"  # 6, in fen
    given_value: str = "0"  # 6
    agent_flag: int = 0
    morelateto_mt_flag: int = 2  # 2: an MT not caused by an MO
    priority: int = 0
    expire_time: str = ""  # 16
    schedule_time: str = ""  # 16
    report_flag: int = 1  # 1: always report
    tp_pid: int = 0
    tp_udhi: int = 0
    message_coding: int = 8  # 0 ASCII, 4 binary, 8 UCS-2, 15 GBK
    message_type: int = 0  # 0: a short message


@dataclass(frozen=True, slots=True)
class Deliver:
    """§4.2.3.5: a mobile-originated message, SMG to SP."""

    user_number: str
    sp_number: str
    message_content: bytes
    tp_pid: int = 0
    tp_udhi: int = 0
    message_coding: int = 0


@dataclass(frozen=True, slots=True)
class Report:
    """§4.2.3.6: the status of an earlier Submit (report type 0), SMG to SP.
    State 0 delivered, 1 waiting, 2 failed (then ErrorCode says why)."""

    submit_sequence: SgipSeq
    user_number: str
    state: int
    error_code: int = 0
    report_type: int = 0


def _seq_bytes(seq: SgipSeq) -> bytes:
    return b"".join(v.to_bytes(4, "big") for v in seq)


def _read_seq(r: Reader, field: str) -> SgipSeq:
    return (r.uint(4, f"{field} node"), r.uint(4, f"{field} time"), r.uint(4, f"{field} seq"))


def _header_sequence(octets: bytes) -> SgipSeq:
    return _read_seq(Reader(octets, "sgip header"), "Sequence Number")


def _result_body(result: int) -> bytes:
    return bytes([result]) + bytes(8)


class SgipCodec:
    name = "sgip"
    header_len = HEADER_LEN

    def encode(self, pdu: Pdu) -> bytes:
        seq = pdu.sequence
        if not (isinstance(seq, tuple) and len(seq) == 3):
            raise TypeError("SGIP sequence numbers are (node, time, sequence) triples")
        body = self._body(pdu.body)
        return frame(pdu.command, _seq_bytes(seq), body)

    def _body(self, b: object) -> bytes:
        if b is None:
            return b""
        if isinstance(b, Bind):
            return (
                bytes([b.login_type])
                + fixed(b.login_name, 16, "Login Name")
                + fixed(b.login_password, 16, "Login Password")
                + bytes(8)
            )
        if isinstance(b, Result):
            return _result_body(b.result)
        if isinstance(b, Submit):
            if not 1 <= len(b.user_numbers) <= 100:
                raise ValueError("UserCount is 1..100")
            return (
                fixed(b.sp_number, 21, "SPNumber")
                + fixed(b.charge_number, 21, "ChargeNumber")
                + bytes([len(b.user_numbers)])
                + b"".join(fixed(n, 21, "UserNumber") for n in b.user_numbers)
                + fixed(b.corp_id, 5, "CorpId")
                + fixed(b.service_type, 10, "ServiceType")
                + bytes([b.fee_type])
                + fixed(b.fee_value, 6, "FeeValue")
                + fixed(b.given_value, 6, "GivenValue")
                + bytes([b.agent_flag, b.morelateto_mt_flag, b.priority])
                + fixed(b.expire_time, 16, "ExpireTime")
                + fixed(b.schedule_time, 16, "ScheduleTime")
                + bytes([b.report_flag, b.tp_pid, b.tp_udhi, b.message_coding, b.message_type])
                + len(b.message_content).to_bytes(4, "big")
                + b.message_content
                + bytes(8)
            )
        if isinstance(b, Deliver):
            return (
                fixed(b.user_number, 21, "UserNumber")
                + fixed(b.sp_number, 21, "SPNumber")
                + bytes([b.tp_pid, b.tp_udhi, b.message_coding])
                + len(b.message_content).to_bytes(4, "big")
                + b.message_content
                + bytes(8)
            )
        if isinstance(b, Report):
            return (
                _seq_bytes(b.submit_sequence)
                + bytes([b.report_type])
                + fixed(b.user_number, 21, "UserNumber")
                + bytes([b.state, b.error_code])
                + bytes(8)
            )
        raise TypeError(f"not an SGIP body: {type(b).__name__}")

    def decode(self, raw: bytes) -> Pdu:
        return decode_frame(
            raw,
            protocol="sgip",
            names=("Message Length", "Command ID"),
            header_len=HEADER_LEN,
            read_sequence=_header_sequence,
            commands=Command,
            decode_body=self._decode_body,
        )

    def _decode_body(self, cmd: Command, r: Reader) -> object:
        if cmd in (Command.UNBIND, Command.UNBIND_RESP):
            return None
        if cmd is Command.BIND:
            bind = Bind(r.uint(1, "Login Type"), r.text(16, "Login Name"),
                        r.text(16, "Login Password"))  # fmt: skip
            r.octets(8, "Reserve")
            return bind
        if cmd in (Command.BIND_RESP, Command.SUBMIT_RESP, Command.DELIVER_RESP,
                   Command.REPORT_RESP):  # fmt: skip
            result = Result(r.uint(1, "Result"))
            r.octets(8, "Reserve")
            return result
        if cmd is Command.SUBMIT:
            sp_number, charge = r.text(21, "SPNumber"), r.text(21, "ChargeNumber")
            count = r.uint(1, "UserCount")
            if not 1 <= count <= 100:
                raise GatewayDecodeError(f"sgip SUBMIT: UserCount {count} outside 1..100")
            users = tuple(r.text(21, "UserNumber") for _ in range(count))
            corp_id, service_type = r.text(5, "CorpId"), r.text(10, "ServiceType")
            fee_type = r.uint(1, "FeeType")
            fee_value, given = r.text(6, "FeeValue"), r.text(6, "GivenValue")
            agent, morelate, priority = (r.uint(1, "AgentFlag"), r.uint(1, "MorelatetoMTFlag"),
                                         r.uint(1, "Priority"))  # fmt: skip
            expire, schedule = r.text(16, "ExpireTime"), r.text(16, "ScheduleTime")
            report_flag, tp_pid, tp_udhi = (r.uint(1, "ReportFlag"), r.uint(1, "TP_pid"),
                                            r.uint(1, "TP_udhi"))  # fmt: skip
            coding, mtype = r.uint(1, "MessageCoding"), r.uint(1, "MessageType")
            content = r.octets(r.uint(4, "MessageLength"), "MessageContent")
            r.octets(8, "Reserve")
            return Submit(
                user_numbers=users, message_content=content, sp_number=sp_number,
                charge_number=charge, corp_id=corp_id, service_type=service_type,
                fee_type=fee_type, fee_value=fee_value, given_value=given, agent_flag=agent,
                morelateto_mt_flag=morelate, priority=priority, expire_time=expire,
                schedule_time=schedule, report_flag=report_flag, tp_pid=tp_pid,
                tp_udhi=tp_udhi, message_coding=coding, message_type=mtype,
            )  # fmt: skip
        if cmd is Command.DELIVER:
            user, sp_number = r.text(21, "UserNumber"), r.text(21, "SPNumber")
            tp_pid, tp_udhi, coding = (r.uint(1, "TP_pid"), r.uint(1, "TP_udhi"),
                                       r.uint(1, "MessageCoding"))  # fmt: skip
            content = r.octets(r.uint(4, "MessageLength"), "MessageContent")
            r.octets(8, "Reserve")
            return Deliver(user, sp_number, content, tp_pid, tp_udhi, coding)
        if cmd is Command.REPORT:
            seq = _read_seq(r, "SubmitSequenceNumber")
            report_type = r.uint(1, "ReportType")
            user = r.text(21, "UserNumber")
            state, error = r.uint(1, "State"), r.uint(1, "ErrorCode")
            r.octets(8, "Reserve")
            return Report(seq, user, state, error, report_type)
        raise GatewayDecodeError(f"sgip: {cmd.name} is not handled")
