"""CMPP 2.0 / 3.0 PDUs, pure (no I/O). Sections: the CMPP 2.0 and 3.0 documents, §7.4
(message definitions); the two versions differ only where marked (`v3`).

Header (§7.3): Total_Length u32, Command_Id u32, Sequence_Id u32 (12 octets).
Msg_Id (§7.4.3.1): u64 = month 4 bits, day 5, hour 5, minute 6, second 6, gateway id 22,
sequence 16; rendered as its unsigned decimal, as resellers and our ledger show it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
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
    "ActiveTestResp",
    "CmppCodec",
    "Command",
    "Connect",
    "ConnectResp",
    "Deliver",
    "MessageResp",
    "Report",
    "Submit",
    "decode_report",
    "encode_report",
    "make_msg_id",
    "split_msg_id",
]


class Command(enum.IntEnum):
    CONNECT = 0x00000001
    CONNECT_RESP = 0x80000001
    TERMINATE = 0x00000002
    TERMINATE_RESP = 0x80000002
    SUBMIT = 0x00000004
    SUBMIT_RESP = 0x80000004
    DELIVER = 0x00000005
    DELIVER_RESP = 0x80000005
    ACTIVE_TEST = 0x00000008
    ACTIVE_TEST_RESP = 0x80000008


def make_msg_id(at: datetime, gateway: int, sequence: int) -> int:
    """§7.4.3.1 Msg_Id from the gateway's local time, its 22-bit id and a 16-bit sequence."""
    return (
        at.month << 60
        | at.day << 55
        | at.hour << 50
        | at.minute << 44
        | at.second << 38
        | (gateway & 0x3FFFFF) << 16
        | (sequence & 0xFFFF)
    )


def split_msg_id(msg_id: int) -> tuple[int, int, int, int, int, int, int]:
    """(month, day, hour, minute, second, gateway id, sequence)."""
    return (
        msg_id >> 60 & 0xF,
        msg_id >> 55 & 0x1F,
        msg_id >> 50 & 0x1F,
        msg_id >> 44 & 0x3F,
        msg_id >> 38 & 0x3F,
        msg_id >> 16 & 0x3FFFFF,
        msg_id & 0xFFFF,
    )


@dataclass(frozen=True, slots=True)
class Connect:
    source_addr: str  # 6 octets: the SP's enterprise code
    authenticator: bytes  # MD5(Source_Addr + 9 x 0x00 + secret + timestamp)
    version: int  # 0x20 / 0x30
    timestamp: int  # MMDDHHMMSS as a number


@dataclass(frozen=True, slots=True)
class ConnectResp:
    status: int  # 1 octet in 2.0, 4 in 3.0
    authenticator: bytes  # MD5(Status + AuthenticatorSource + secret)
    version: int


@dataclass(frozen=True, slots=True)
class Submit:
    dest_terminal_ids: tuple[str, ...]
    msg_content: bytes
    msg_src: str = ""  # 6: the SP's enterprise code
    src_id: str = ""  # 21: the 106 number shown to the handset
    service_id: str = ""
    msg_fmt: int = 8  # 8 UCS-2, 15 GBK, 0 ASCII
    tp_udhi: int = 0
    tp_pid: int = 0
    pk_total: int = 1
    pk_number: int = 1
    registered_delivery: int = 1  # 1: a status report is wanted
    msg_level: int = 0
    fee_user_type: int = 2
    fee_terminal_id: str = ""
    fee_terminal_type: int = 0  # v3
    fee_type: str = "01"
    fee_code: str = "000000"
    valid_time: str = ""
    at_time: str = ""
    dest_terminal_type: int = 0  # v3
    link_id: str = ""  # v3
    msg_id: int = 0  # filled by the gateway


@dataclass(frozen=True, slots=True)
class MessageResp:
    """CMPP_SUBMIT_RESP and CMPP_DELIVER_RESP: Msg_Id, Result (1 octet in 2.0, 4 in 3.0)."""

    msg_id: int
    result: int


@dataclass(frozen=True, slots=True)
class Deliver:
    msg_id: int
    dest_id: str
    src_terminal_id: str
    msg_content: bytes
    registered_delivery: int = 0  # 1: Msg_Content is a status report
    service_id: str = ""
    tp_pid: int = 0
    tp_udhi: int = 0
    msg_fmt: int = 0
    src_terminal_type: int = 0  # v3
    link_id: str = ""  # v3


@dataclass(frozen=True, slots=True)
class Report:
    """§7.4.5.1 the status report inside CMPP_DELIVER's Msg_Content."""

    msg_id: int
    stat: str  # 7: DELIVRD, EXPIRED, UNDELIV, REJECTD, MA:xxxx ...
    submit_time: str  # YYMMDDHHMM
    done_time: str
    dest_terminal_id: str
    smsc_sequence: int


@dataclass(frozen=True, slots=True)
class ActiveTestResp:
    reserved: int = 0


def _term(v3: bool) -> int:
    return 32 if v3 else 21  # terminal numbers: 21 octets in 2.0, 32 in 3.0


def encode_report(r: Report, *, v3: bool) -> bytes:
    return (
        r.msg_id.to_bytes(8, "big")
        + fixed(r.stat, 7, "Stat")
        + fixed(r.submit_time, 10, "Submit_time")
        + fixed(r.done_time, 10, "Done_time")
        + fixed(r.dest_terminal_id, _term(v3), "Dest_terminal_Id")
        + r.smsc_sequence.to_bytes(4, "big")
    )


def decode_report(content: bytes, *, v3: bool) -> Report:
    expected = 8 + 7 + 10 + 10 + _term(v3) + 4  # 60 in 2.0, 71 in 3.0
    if len(content) != expected:
        raise GatewayDecodeError(f"CMPP status report: {len(content)} octets, expected {expected}")
    r = Reader(content, "CMPP status report")
    return Report(
        msg_id=r.uint(8, "Msg_Id"),
        stat=r.text(7, "Stat"),
        submit_time=r.text(10, "Submit_time"),
        done_time=r.text(10, "Done_time"),
        dest_terminal_id=r.text(_term(v3), "Dest_terminal_Id"),
        smsc_sequence=r.uint(4, "SMSC_sequence"),
    )


class CmppCodec:
    header_len = 12

    def __init__(self, version: int) -> None:
        if version not in (2, 3):
            raise ValueError("CMPP version is 2 or 3")
        self.v3 = version == 3
        self.name = f"cmpp{version}"
        self.version_octet = 0x30 if self.v3 else 0x20

    # -- encode ------------------------------------------------------------------------

    def encode(self, pdu: Pdu) -> bytes:
        body = self._body(pdu)
        if not isinstance(pdu.sequence, int):
            raise TypeError("CMPP sequence ids are integers")
        return frame(pdu.command, pdu.sequence.to_bytes(4, "big"), body)

    def _body(self, pdu: Pdu) -> bytes:
        b = pdu.body
        status_len = 4 if self.v3 else 1
        term = _term(self.v3)
        if b is None:
            return b""
        if isinstance(b, Connect):
            return (
                fixed(b.source_addr, 6, "Source_Addr")
                + fixed(b.authenticator, 16, "AuthenticatorSource")
                + bytes([b.version])
                + b.timestamp.to_bytes(4, "big")
            )
        if isinstance(b, ConnectResp):
            return (
                b.status.to_bytes(status_len, "big")
                + fixed(b.authenticator, 16, "AuthenticatorISMG")
                + bytes([b.version])
            )
        if isinstance(b, MessageResp):
            return b.msg_id.to_bytes(8, "big") + b.result.to_bytes(status_len, "big")
        if isinstance(b, ActiveTestResp):
            return bytes([b.reserved])
        if isinstance(b, Submit):
            if not 1 <= len(b.dest_terminal_ids) <= 100:
                raise ValueError("CMPP_SUBMIT takes 1..100 destinations")
            if len(b.msg_content) > 255:
                raise ValueError("Msg_Content longer than 255 octets")
            out = (
                b.msg_id.to_bytes(8, "big")
                + bytes([b.pk_total, b.pk_number, b.registered_delivery, b.msg_level])
                + fixed(b.service_id, 10, "Service_Id")
                + bytes([b.fee_user_type])
                + fixed(b.fee_terminal_id, term, "Fee_terminal_Id")
            )
            if self.v3:
                out += bytes([b.fee_terminal_type])
            out += (
                bytes([b.tp_pid, b.tp_udhi, b.msg_fmt])
                + fixed(b.msg_src, 6, "Msg_src")
                + fixed(b.fee_type, 2, "FeeType")
                + fixed(b.fee_code, 6, "FeeCode")
                + fixed(b.valid_time, 17, "ValId_Time")
                + fixed(b.at_time, 17, "At_Time")
                + fixed(b.src_id, 21, "Src_Id")
                + bytes([len(b.dest_terminal_ids)])
                + b"".join(fixed(d, term, "Dest_terminal_Id") for d in b.dest_terminal_ids)
            )
            if self.v3:
                out += bytes([b.dest_terminal_type])
            out += bytes([len(b.msg_content)]) + b.msg_content
            return out + (fixed(b.link_id, 20, "LinkID") if self.v3 else bytes(8))
        if isinstance(b, Deliver):
            out = (
                b.msg_id.to_bytes(8, "big")
                + fixed(b.dest_id, 21, "Dest_Id")
                + fixed(b.service_id, 10, "Service_Id")
                + bytes([b.tp_pid, b.tp_udhi, b.msg_fmt])
                + fixed(b.src_terminal_id, term, "Src_terminal_Id")
            )
            if self.v3:
                out += bytes([b.src_terminal_type])
            if len(b.msg_content) > 255:
                raise ValueError("Msg_Content longer than 255 octets")
            out += bytes([b.registered_delivery, len(b.msg_content)]) + b.msg_content
            return out + (fixed(b.link_id, 20, "LinkID") if self.v3 else bytes(8))
        raise TypeError(f"not a CMPP body: {type(b).__name__}")

    # -- decode ------------------------------------------------------------------------

    def decode(self, raw: bytes) -> Pdu:
        return decode_frame(
            raw,
            protocol=self.name,
            names=("Total_Length", "Command_Id"),
            header_len=12,
            read_sequence=int_sequence,
            commands=Command,
            decode_body=self._decode_body,
        )

    def _decode_body(self, cmd: Command, r: Reader) -> object:
        status_len = 4 if self.v3 else 1
        term = _term(self.v3)
        if cmd in (Command.TERMINATE, Command.TERMINATE_RESP, Command.ACTIVE_TEST):
            return None
        if cmd is Command.ACTIVE_TEST_RESP:
            return ActiveTestResp(r.uint(1, "Reserved")) if r.remaining else ActiveTestResp()
        if cmd is Command.CONNECT:
            return Connect(
                source_addr=r.text(6, "Source_Addr"),
                authenticator=r.octets(16, "AuthenticatorSource"),
                version=r.uint(1, "Version"),
                timestamp=r.uint(4, "Timestamp"),
            )
        if cmd is Command.CONNECT_RESP:
            return ConnectResp(
                status=r.uint(status_len, "Status"),
                authenticator=r.octets(16, "AuthenticatorISMG"),
                version=r.uint(1, "Version"),
            )
        if cmd in (Command.SUBMIT_RESP, Command.DELIVER_RESP):
            return MessageResp(r.uint(8, "Msg_Id"), r.uint(status_len, "Result"))
        if cmd is Command.SUBMIT:
            msg_id = r.uint(8, "Msg_Id")
            pk_total, pk_number = r.uint(1, "Pk_total"), r.uint(1, "Pk_number")
            registered, level = r.uint(1, "Registered_Delivery"), r.uint(1, "Msg_level")
            service_id = r.text(10, "Service_Id")
            fee_user_type = r.uint(1, "Fee_UserType")
            fee_terminal_id = r.text(term, "Fee_terminal_Id")
            fee_terminal_type = r.uint(1, "Fee_terminal_type") if self.v3 else 0
            tp_pid, tp_udhi, msg_fmt = (
                r.uint(1, "TP_pId"),
                r.uint(1, "TP_udhi"),
                r.uint(1, "Msg_Fmt"),
            )
            msg_src = r.text(6, "Msg_src")
            fee_type, fee_code = r.text(2, "FeeType"), r.text(6, "FeeCode")
            valid_time, at_time = r.text(17, "ValId_Time"), r.text(17, "At_Time")
            src_id = r.text(21, "Src_Id")
            count = r.uint(1, "DestUsr_tl")
            dests = tuple(r.text(term, "Dest_terminal_Id") for _ in range(count))
            dest_type = r.uint(1, "Dest_terminal_type") if self.v3 else 0
            content = r.octets(r.uint(1, "Msg_Length"), "Msg_Content")
            link_id = r.text(20, "LinkID") if self.v3 else ""
            if not self.v3:
                r.octets(8, "Reserve")
            return Submit(
                dest_terminal_ids=dests, msg_content=content, msg_src=msg_src, src_id=src_id,
                service_id=service_id, msg_fmt=msg_fmt, tp_udhi=tp_udhi, tp_pid=tp_pid,
                pk_total=pk_total, pk_number=pk_number, registered_delivery=registered,
                msg_level=level, fee_user_type=fee_user_type, fee_terminal_id=fee_terminal_id,
                fee_terminal_type=fee_terminal_type, fee_type=fee_type, fee_code=fee_code,
                valid_time=valid_time, at_time=at_time, dest_terminal_type=dest_type,
                link_id=link_id, msg_id=msg_id,
            )  # fmt: skip
        if cmd is Command.DELIVER:
            msg_id = r.uint(8, "Msg_Id")
            dest_id, service_id = r.text(21, "Dest_Id"), r.text(10, "Service_Id")
            tp_pid, tp_udhi, msg_fmt = (
                r.uint(1, "TP_pid"),
                r.uint(1, "TP_udhi"),
                r.uint(1, "Msg_Fmt"),
            )
            src = r.text(term, "Src_terminal_Id")
            src_type = r.uint(1, "Src_terminal_type") if self.v3 else 0
            registered = r.uint(1, "Registered_Delivery")
            content = r.octets(r.uint(1, "Msg_Length"), "Msg_Content")
            link_id = r.text(20, "LinkID") if self.v3 else ""
            if not self.v3:
                r.octets(8, "Reserved")
            return Deliver(
                msg_id=msg_id, dest_id=dest_id, src_terminal_id=src, msg_content=content,
                registered_delivery=registered, service_id=service_id, tp_pid=tp_pid,
                tp_udhi=tp_udhi, msg_fmt=msg_fmt, src_terminal_type=src_type, link_id=link_id,
            )  # fmt: skip
        raise GatewayDecodeError(f"{self.name}: {cmd.name} is not handled")
