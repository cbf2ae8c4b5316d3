"""How the shared gateway session speaks CMPP 2.0/3.0, and the gateway-side checks the
simulator uses. Result codes: CMPP 2.0/3.0 §7.4.3.2 (CMPP_SUBMIT_RESP Result), §7.4.1.2
(CMPP_CONNECT_RESP Status)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime

import structlog

from collector.vendors.cmpp.pdu import (
    ActiveTestResp,
    CmppCodec,
    Command,
    Connect,
    ConnectResp,
    Deliver,
    MessageResp,
    Submit,
    decode_report,
    split_msg_id,
)
from collector.vendors.cngw.control import ControlCommands, LinkControl
from collector.vendors.cngw.session import LoginRefusedError, SubmitRefusedError
from collector.vendors.cngw.wire import GatewayDecodeError, Part, Pdu, ReceiptInfo, md5, mmddhhmmss

__all__ = [
    "CONNECT_AUTH_FAILED",
    "RESULT_FLOW_CONTROL",
    "CmppAccount",
    "CmppDialect",
    "authenticator_ismg",
    "authenticator_source",
    "check_connect",
]

log = structlog.get_logger("collector.vendors.cmpp")

# §7.4.1.2 Status: 0 ok, 1 bad structure, 2 bad Source_Addr, 3 authentication, 4 version too high
CONNECT_BAD_SOURCE = 2
CONNECT_AUTH_FAILED = 3
CONNECT_VERSION = 4
_CONNECT_AUTH = frozenset({CONNECT_BAD_SOURCE, CONNECT_AUTH_FAILED})
# §7.4.3.2 Result: 8 = flow control (too fast for the window/rate): not accepted, send later
RESULT_FLOW_CONTROL = 8
_RESULT_NAMES = {
    1: "bad structure", 2: "bad command", 3: "duplicate sequence", 4: "bad length",
    5: "bad fee code", 6: "too long", 7: "bad service id", 8: "flow control",
    9: "fee number not served here", 10: "bad Src_Id", 11: "bad Msg_src",
    12: "bad Fee_terminal_Id", 13: "bad Dest_terminal_Id",
}  # fmt: skip
_NUMBER_RESULTS = frozenset({13})


def authenticator_source(source_addr: str, secret: str, timestamp: str) -> bytes:
    """§7.4.1.1 AuthenticatorSource = MD5(Source_Addr + 9 octets of 0 + shared secret +
    timestamp "MMDDHHMMSS")."""
    return md5(source_addr.encode("ascii"), bytes(9), secret.encode(), timestamp.encode("ascii"))


def authenticator_ismg(status: int, status_len: int, source_auth: bytes, secret: str) -> bytes:
    """§7.4.1.2 AuthenticatorISMG = MD5(Status + AuthenticatorSource + shared secret)."""
    return md5(status.to_bytes(status_len, "big"), source_auth, secret.encode())


@dataclass(frozen=True, slots=True)
class CmppAccount:
    source_addr: str  # the SP enterprise code, 6 digits
    secret: str
    src_id: str  # the 106 service number (+ extension) shown to the handset
    service_id: str = ""


def check_connect(
    codec: CmppCodec, connect: Connect, secrets: Mapping[str, str]
) -> tuple[int, bytes]:
    """The gateway's verdict on a CMPP_CONNECT: (status, AuthenticatorISMG)."""
    secret = secrets.get(connect.source_addr)
    major = connect.version >> 4
    if secret is None:
        status = CONNECT_BAD_SOURCE
    elif major > (3 if codec.v3 else 2):
        status = CONNECT_VERSION
    else:
        expected = authenticator_source(connect.source_addr, secret, f"{connect.timestamp:010d}")
        status = 0 if expected == connect.authenticator else CONNECT_AUTH_FAILED
    status_len = 4 if codec.v3 else 1
    return status, authenticator_ismg(status, status_len, connect.authenticator, secret or "")


class CmppDialect(LinkControl):
    control = ControlCommands(
        terminate=Command.TERMINATE,
        terminate_resp=Command.TERMINATE_RESP,
        deliver=(Command.DELIVER,),
        active_test=Command.ACTIVE_TEST,
        active_test_resp=Command.ACTIVE_TEST_RESP,
        active_test_resp_body=ActiveTestResp(),
    )
    keepalive = True

    def __init__(self, version: int, account: CmppAccount) -> None:
        self.codec = CmppCodec(version)
        self._account = account

    def sequence(self, n: int, now: datetime) -> Hashable:
        return n

    def login(self, sequence: Hashable, now: datetime) -> Pdu:
        stamp = mmddhhmmss(now)
        a = self._account
        return Pdu(
            Command.CONNECT,
            sequence,
            Connect(
                a.source_addr,
                authenticator_source(a.source_addr, a.secret, stamp),
                self.codec.version_octet,
                int(stamp),
            ),
        )

    def check_login(self, request: Pdu, response: Pdu) -> None:
        body = response.body
        if response.command != Command.CONNECT_RESP or not isinstance(body, ConnectResp):
            raise LoginRefusedError("not a CMPP_CONNECT_RESP", status=-1, is_auth=False)
        if body.status != 0:
            raise LoginRefusedError(
                "CMPP_CONNECT refused", status=body.status, is_auth=body.status in _CONNECT_AUTH
            )
        sent = request.body
        assert isinstance(sent, Connect)
        # Ambiguity (docs/vendors.md): 3.0 widened Status to 4 octets; gateways hash either width.
        candidates = {
            authenticator_ismg(0, width, sent.authenticator, self._account.secret)
            for width in (1, 4)
        }
        if body.authenticator not in candidates:
            log.warning("cmpp_ismg_authenticator_mismatch", got=body.authenticator.hex())

    def submit(self, sequence: Hashable, part: Part, to: str) -> Pdu:
        a = self._account
        return Pdu(
            Command.SUBMIT,
            sequence,
            Submit(
                dest_terminal_ids=(to,),
                msg_content=part.content,
                msg_src=a.source_addr,
                src_id=a.src_id,
                service_id=a.service_id,
                tp_udhi=int(part.udhi),
                pk_total=part.total,
                pk_number=part.number,
                registered_delivery=1,
            ),
        )

    def accepted_id(self, request: Pdu, response: Pdu) -> str:
        body = response.body
        if not isinstance(body, MessageResp):
            raise SubmitRefusedError("not a CMPP_SUBMIT_RESP", status=-1, ambiguous=True)
        if body.result != 0:
            name = _RESULT_NAMES.get(body.result, "other error")
            raise SubmitRefusedError(
                f"CMPP_SUBMIT refused: {name}",
                status=body.result,
                throttled=body.result == RESULT_FLOW_CONTROL,
                number=body.result in _NUMBER_RESULTS,
            )
        return str(body.msg_id)

    def read_deliver(self, pdu: Pdu) -> ReceiptInfo | None:
        body = pdu.body
        if not isinstance(body, Deliver) or body.registered_delivery != 1:
            return None  # §7.4.5.1 Registered_Delivery 0: a mobile-originated message
        report = decode_report(body.msg_content, v3=self.codec.v3)
        month, day, hour, minute, second, _, _ = split_msg_id(report.msg_id)
        if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60):
            # §7.4.3.1 structure; a zero or garbled id can match no submission (docs/vendors.md)
            raise GatewayDecodeError(f"Msg_Id {report.msg_id} is not a CMPP Msg_Id")
        if not report.stat:
            raise GatewayDecodeError("CMPP status report without a Stat")
        return ReceiptInfo(
            message_id=str(report.msg_id),
            stat=report.stat,
            submit_time=report.submit_time,
            done_time=report.done_time,
            destination=report.dest_terminal_id,
        )

    def deliver_response(self, pdu: Pdu, ok: bool) -> Pdu:
        body = pdu.body
        msg_id = body.msg_id if isinstance(body, Deliver) else 0
        # §7.4.5.2 Result 0 ok; 9 ("other") asks the gateway to resend later.
        return Pdu(Command.DELIVER_RESP, pdu.sequence, MessageResp(msg_id, 0 if ok else 9))
