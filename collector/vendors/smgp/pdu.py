"""SMGP 3.0 PDUs, pure (no I/O). Sections: the SMGP 3.0 document, §5 (messages) and its
TLV list.

Header (§5.1): PacketLength u32, RequestID u32, SequenceID u32 (12 octets).
MsgID (§5.2.3 Submit_Resp): 10 octets of BCD = SMGW code 6 digits, MMDDHHMM 8 digits,
sequence 6 digits; we keep it as those 20 digits (its hex).
Optional parameters follow the fixed body of Submit and Deliver as TLVs: Tag u16,
Length u16, Value.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime

from collector.vendors.cngw.wire import (
    GatewayDecodeError,
    Pdu,
    Reader,
    decode_frame,
    fixed,
    frame,
    int_sequence,
)

__all__ = [
    "Command",
    "Deliver",
    "Login",
    "LoginResp",
    "MessageResp",
    "SmgpCodec",
    "StatusReport",
    "Submit",
    "Tag",
    "decode_report",
    "encode_report",
    "make_msg_id",
    "msg_id_text",
]


class Command(enum.IntEnum):
    LOGIN = 0x00000001
    LOGIN_RESP = 0x80000001
    SUBMIT = 0x00000002
    SUBMIT_RESP = 0x80000002
    DELIVER = 0x00000003
    DELIVER_RESP = 0x80000003
    ACTIVE_TEST = 0x00000004
    ACTIVE_TEST_RESP = 0x80000004
    EXIT = 0x00000006
    EXIT_RESP = 0x80000006


class Tag(enum.IntEnum):
    """The TLV tags we read or write (SMGP 3.0 TLV list); others are kept as they came."""

    TP_PID = 0x0001
    TP_UDHI = 0x0002
    LINK_ID = 0x0003
    PK_TOTAL = 0x0009
    PK_NUMBER = 0x000A
    SUBMIT_MSG_TYPE = 0x000B


def make_msg_id(gateway: str, at: datetime, sequence: int) -> bytes:
    """The 10-octet BCD MsgID: SMGW code (6 digits), MMDDHHMM, sequence (6 digits)."""
    digits = f"{gateway:0>6}"[-6:] + at.strftime("%m%d%H%M") + f"{sequence % 1_000_000:06d}"
    return bytes.fromhex(digits)


def msg_id_text(msg_id: bytes) -> str:
    return msg_id.hex()


@dataclass(frozen=True, slots=True)
class Login:
    client_id: str  # 8
    authenticator: bytes  # MD5(ClientID + 7 x 0x00 + shared secret + timestamp)
    login_mode: int  # 0 send, 1 receive, 2 transmit (both)
    timestamp: int  # MMDDHHMMSS as a number
    version: int = 0x30


@dataclass(frozen=True, slots=True)
class LoginResp:
    status: int  # 4 octets
    authenticator: bytes  # MD5(Status + AuthenticatorClient + shared secret)
    version: int = 0x30


@dataclass(frozen=True, slots=True)
class MessageResp:
    """Submit_Resp and Deliver_Resp: MsgID 10, Status 4."""

    msg_id: bytes
    status: int


@dataclass(frozen=True, slots=True)
class Submit:
    dest_term_ids: tuple[str, ...]
    msg_content: bytes
    src_term_id: str = ""  # 21: the 106 number shown to the handset
    service_id: str = ""  # 10
    msg_type: int = 6  # 6: an MT message
    need_report: int = 1
    priority: int = 0
    fee_type: str = "00"  # 00: free
    fee_code: str = "000000"
    fixed_fee: str = "000000"
    msg_format: int = 8  # 0 ASCII, 8 UCS-2, 15 GB18030
    valid_time: str = ""  # 17
    at_time: str = ""  # 17
    charge_term_id: str = ""  # 21
    tlvs: tuple[tuple[int, bytes], ...] = ()

    def tlv(self, tag: int) -> bytes | None:
        return _tlv(self.tlvs, tag)


@dataclass(frozen=True, slots=True)
class Deliver:
    msg_id: bytes  # 10
    is_report: int  # 1: MsgContent is a status report
    msg_content: bytes
    src_term_id: str = ""
    dest_term_id: str = ""
    msg_format: int = 0
    recv_time: str = ""  # 14: YYYYMMDDHHMMSS
    tlvs: tuple[tuple[int, bytes], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class StatusReport:
    """The report in a Deliver's MsgContent with IsReport 1 (SMGP 3.0 §5.2.4):
    id:<MsgID 10> sub:001 dlvrd:001 submit_date:YYMMDDHHMM done_date:YYMMDDHHMM
    stat:<7> err:<3> txt:<20>."""

    msg_id: bytes
    stat: str
    submit_date: str
    done_date: str
    err: str
    sub: int = 1
    dlvrd: int = 1
    text: bytes = b""


def _tlv(tlvs: tuple[tuple[int, bytes], ...], tag: int) -> bytes | None:
    for t, value in tlvs:
        if t == tag:
            return value
    return None


def encode_report(r: StatusReport) -> bytes:
    if len(r.msg_id) != 10:
        raise ValueError("MsgID is 10 octets")
    return (
        b"id:" + r.msg_id
        + f" sub:{r.sub:03d} dlvrd:{r.dlvrd:03d} submit_date:".encode()
        + fixed(r.submit_date, 10, "submit_date")
        + b" done_date:" + fixed(r.done_date, 10, "done_date")
        + b" stat:" + fixed(r.stat, 7, "stat")
        + b" err:" + fixed(r.err, 3, "err")
        + b" txt:" + fixed(r.text[:20], 20, "txt")
    )  # fmt: skip


_REPORT_TAIL = re.compile(
    rb" sub:(\d{3}) dlvrd:(\d{3}) submit[ _]date:(\d{10}) done[ _]date:(\d{10})"
    rb" stat:(.{7}) err:(.{3}) (?:txt|text):(.*)\Z",
    re.IGNORECASE | re.DOTALL,
)
_HEX20 = re.compile(rb"[0-9A-Fa-f]{20}")


def decode_report(content: bytes) -> StatusReport:
    """Read a status report: the MsgID as the 10 octets the document lays out, or as its
    20 hex digits (gateways send both); field names in any case, `_` or space."""
    if content[:3].lower() != b"id:":
        raise GatewayDecodeError(f"SMGP status report does not start with id: {content[:16]!r}")
    if _HEX20.fullmatch(content[3:23]) and content[23:28].lower() == b" sub:":
        msg_id, tail = bytes.fromhex(content[3:23].decode()), content[23:]
    else:
        msg_id, tail = content[3:13], content[13:]
    m = _REPORT_TAIL.match(tail)
    if len(msg_id) != 10 or m is None:
        raise GatewayDecodeError(f"SMGP status report is not laid out as §5.2.4: {content!r}")
    try:
        stat, err = m.group(5).decode("ascii").strip("\x00 "), m.group(6).decode("ascii")
    except UnicodeDecodeError:
        raise GatewayDecodeError(f"SMGP status report: stat/err not ASCII: {content!r}") from None
    return StatusReport(
        msg_id=msg_id, stat=stat, submit_date=m.group(3).decode(), done_date=m.group(4).decode(),
        err=err.strip("\x00 "), sub=int(m.group(1)), dlvrd=int(m.group(2)),
        text=m.group(7).rstrip(b"\x00"),
    )  # fmt: skip


def _encode_tlvs(tlvs: tuple[tuple[int, bytes], ...]) -> bytes:
    return b"".join(t.to_bytes(2, "big") + len(v).to_bytes(2, "big") + v for t, v in tlvs)


def _decode_tlvs(r: Reader) -> tuple[tuple[int, bytes], ...]:
    out: list[tuple[int, bytes]] = []
    while r.remaining:
        tag = r.uint(2, "TLV Tag")
        out.append((tag, r.octets(r.uint(2, "TLV Length"), f"TLV {tag:#06x} Value")))
    return tuple(out)


class SmgpCodec:
    name = "smgp"
    header_len = 12

    def encode(self, pdu: Pdu) -> bytes:
        if not isinstance(pdu.sequence, int):
            raise TypeError("SMGP sequence ids are integers")
        body = self._body(pdu.body)
        return frame(pdu.command, pdu.sequence.to_bytes(4, "big"), body)

    def _body(self, b: object) -> bytes:
        if b is None:
            return b""
        if isinstance(b, Login):
            return (
                fixed(b.client_id, 8, "ClientID")
                + fixed(b.authenticator, 16, "AuthenticatorClient")
                + bytes([b.login_mode])
                + b.timestamp.to_bytes(4, "big")
                + bytes([b.version])
            )
        if isinstance(b, LoginResp):
            return (
                b.status.to_bytes(4, "big")
                + fixed(b.authenticator, 16, "AuthenticatorServer")
                + bytes([b.version])
            )
        if isinstance(b, MessageResp):
            return fixed(b.msg_id, 10, "MsgID") + b.status.to_bytes(4, "big")
        if isinstance(b, Submit):
            if not 1 <= len(b.dest_term_ids) <= 100:
                raise ValueError("DestTermIDCount is 1..100")
            if len(b.msg_content) > 255:
                raise ValueError("MsgContent longer than 255 octets")
            return (
                bytes([b.msg_type, b.need_report, b.priority])
                + fixed(b.service_id, 10, "ServiceID")
                + fixed(b.fee_type, 2, "FeeType")
                + fixed(b.fee_code, 6, "FeeCode")
                + fixed(b.fixed_fee, 6, "FixedFee")
                + bytes([b.msg_format])
                + fixed(b.valid_time, 17, "ValidTime")
                + fixed(b.at_time, 17, "AtTime")
                + fixed(b.src_term_id, 21, "SrcTermID")
                + fixed(b.charge_term_id, 21, "ChargeTermID")
                + bytes([len(b.dest_term_ids)])
                + b"".join(fixed(d, 21, "DestTermID") for d in b.dest_term_ids)
                + bytes([len(b.msg_content)])
                + b.msg_content
                + bytes(8)
                + _encode_tlvs(b.tlvs)
            )
        if isinstance(b, Deliver):
            if len(b.msg_content) > 255:
                raise ValueError("MsgContent longer than 255 octets")
            return (
                fixed(b.msg_id, 10, "MsgID")
                + bytes([b.is_report, b.msg_format])
                + fixed(b.recv_time, 14, "RecvTime")
                + fixed(b.src_term_id, 21, "SrcTermID")
                + fixed(b.dest_term_id, 21, "DestTermID")
                + bytes([len(b.msg_content)])
                + b.msg_content
                + bytes(8)
                + _encode_tlvs(b.tlvs)
            )
        raise TypeError(f"not an SMGP body: {type(b).__name__}")

    def decode(self, raw: bytes) -> Pdu:
        return decode_frame(
            raw,
            protocol="smgp",
            names=("PacketLength", "RequestID"),
            header_len=12,
            read_sequence=int_sequence,
            commands=Command,
            decode_body=self._decode_body,
        )

    def _decode_body(self, cmd: Command, r: Reader) -> object:
        if cmd in (Command.ACTIVE_TEST, Command.ACTIVE_TEST_RESP, Command.EXIT,
                   Command.EXIT_RESP):  # fmt: skip
            return None
        if cmd is Command.LOGIN:
            return Login(
                client_id=r.text(8, "ClientID"),
                authenticator=r.octets(16, "AuthenticatorClient"),
                login_mode=r.uint(1, "LoginMode"),
                timestamp=r.uint(4, "TimeStamp"),
                version=r.uint(1, "ClientVersion"),
            )
        if cmd is Command.LOGIN_RESP:
            return LoginResp(
                status=r.uint(4, "Status"),
                authenticator=r.octets(16, "AuthenticatorServer"),
                version=r.uint(1, "ServerVersion"),
            )
        if cmd in (Command.SUBMIT_RESP, Command.DELIVER_RESP):
            return MessageResp(r.octets(10, "MsgID"), r.uint(4, "Status"))
        if cmd is Command.SUBMIT:
            msg_type, need_report, priority = (r.uint(1, "MsgType"), r.uint(1, "NeedReport"),
                                               r.uint(1, "Priority"))  # fmt: skip
            service_id, fee_type = r.text(10, "ServiceID"), r.text(2, "FeeType")
            fee_code, fixed_fee = r.text(6, "FeeCode"), r.text(6, "FixedFee")
            msg_format = r.uint(1, "MsgFormat")
            valid_time, at_time = r.text(17, "ValidTime"), r.text(17, "AtTime")
            src, charge = r.text(21, "SrcTermID"), r.text(21, "ChargeTermID")
            count = r.uint(1, "DestTermIDCount")
            if not 1 <= count <= 100:
                raise GatewayDecodeError(f"smgp SUBMIT: DestTermIDCount {count} outside 1..100")
            dests = tuple(r.text(21, "DestTermID") for _ in range(count))
            content = r.octets(r.uint(1, "MsgLength"), "MsgContent")
            r.octets(8, "Reserve")
            return Submit(
                dest_term_ids=dests, msg_content=content, src_term_id=src, service_id=service_id,
                msg_type=msg_type, need_report=need_report, priority=priority, fee_type=fee_type,
                fee_code=fee_code, fixed_fee=fixed_fee, msg_format=msg_format,
                valid_time=valid_time, at_time=at_time, charge_term_id=charge,
                tlvs=_decode_tlvs(r),
            )  # fmt: skip
        if cmd is Command.DELIVER:
            msg_id = r.octets(10, "MsgID")
            is_report, msg_format = r.uint(1, "IsReport"), r.uint(1, "MsgFormat")
            recv_time = r.text(14, "RecvTime")
            src, dest = r.text(21, "SrcTermID"), r.text(21, "DestTermID")
            content = r.octets(r.uint(1, "MsgLength"), "MsgContent")
            r.octets(8, "Reserve")
            return Deliver(
                msg_id=msg_id, is_report=is_report, msg_content=content, src_term_id=src,
                dest_term_id=dest, msg_format=msg_format, recv_time=recv_time,
                tlvs=_decode_tlvs(r),
            )  # fmt: skip
        raise GatewayDecodeError(f"smgp: {cmd.name} is not handled")
