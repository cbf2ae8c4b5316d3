"""How the shared gateway session speaks SMGP 3.0, and the gateway-side login check the
simulator uses. Status codes: SMGP 3.0 §5.3 (error codes of Login_Resp, Submit_Resp and
Deliver_Resp Status)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime

import structlog

from collector.vendors.cngw.control import ControlCommands, LinkControl
from collector.vendors.cngw.session import LoginRefusedError, SubmitRefusedError
from collector.vendors.cngw.wire import GatewayDecodeError, Part, Pdu, ReceiptInfo, md5, mmddhhmmss
from collector.vendors.smgp.pdu import (
    Command,
    Deliver,
    Login,
    LoginResp,
    MessageResp,
    SmgpCodec,
    Submit,
    Tag,
    decode_report,
    msg_id_text,
)

__all__ = [
    "LOGIN_MODE_TRANSMIT",
    "STATUS_AUTH",
    "STATUS_BUSY",
    "SmgpAccount",
    "SmgpDialect",
    "authenticator_client",
    "authenticator_server",
    "check_login",
    "valid_msg_id",
]

log = structlog.get_logger("collector.vendors.smgp")

LOGIN_MODE_TRANSMIT = 2  # §5.2.1 LoginMode: 0 send, 1 receive, 2 both (reports come back)
STATUS_BUSY = 1  # system busy: not accepted, send later (our flow control)
STATUS_AUTH = 21  # authentication error
STATUS_VERSION = 22
STATUS_BAD_DEST = 47  # illegal receiving terminal number
_NAMES = {
    1: "system busy", 2: "too many connections", 10: "bad message structure",
    11: "bad command", 12: "duplicate sequence", 20: "bad IP address",
    21: "authentication error", 22: "version too high", 30: "bad message type",
    31: "bad priority", 32: "bad fee type", 33: "bad fee code", 34: "bad message format",
    35: "bad time format", 36: "bad message length", 37: "expired", 38: "bad query type",
    39: "routing error", 40: "bad fixed fee", 41: "bad update type", 42: "bad route number",
    43: "bad service id", 44: "bad valid time", 45: "bad at time",
    46: "bad source number", 47: "bad destination number", 48: "bad charge number",
    49: "bad SP code",
}  # fmt: skip
_AUTH = frozenset({20, STATUS_AUTH})


def status_name(status: int) -> str:
    return _NAMES.get(status, "other error")


def authenticator_client(client_id: str, secret: str, timestamp: str) -> bytes:
    """§5.2.1 AuthenticatorClient = MD5(ClientID + 7 octets of 0 + shared secret +
    Timestamp "MMDDHHMMSS")."""
    return md5(client_id.encode("ascii"), bytes(7), secret.encode(), timestamp.encode("ascii"))


def authenticator_server(status: int, client_auth: bytes, secret: str) -> bytes:
    """§5.2.2 AuthenticatorServer = MD5(Status (4 octets) + AuthenticatorClient + secret)."""
    return md5(status.to_bytes(4, "big"), client_auth, secret.encode())


def check_login(login: Login, secrets: Mapping[str, str]) -> tuple[int, bytes]:
    """The gateway's verdict on a Login: (status, AuthenticatorServer)."""
    secret = secrets.get(login.client_id)
    if secret is None:
        status = STATUS_AUTH
    elif login.version >> 4 > 3:
        status = STATUS_VERSION
    else:
        expected = authenticator_client(login.client_id, secret, f"{login.timestamp:010d}")
        status = 0 if expected == login.authenticator else STATUS_AUTH
    return status, authenticator_server(status, login.authenticator, secret or "")


def valid_msg_id(msg_id: bytes) -> bool:
    """10 octets of BCD whose time part is a real MMDDHHMM."""
    digits = msg_id.hex()
    if len(msg_id) != 10 or not digits.isdigit():
        return False
    month, day, hour, minute = (int(digits[i : i + 2]) for i in (6, 8, 10, 12))
    return 1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60


@dataclass(frozen=True, slots=True)
class SmgpAccount:
    client_id: str  # 8
    secret: str
    src_term_id: str  # the 106 number (+ extension) shown to the handset
    service_id: str = ""


class SmgpDialect(LinkControl):
    control = ControlCommands(
        terminate=Command.EXIT,
        terminate_resp=Command.EXIT_RESP,
        deliver=(Command.DELIVER,),
        active_test=Command.ACTIVE_TEST,
        active_test_resp=Command.ACTIVE_TEST_RESP,
    )
    keepalive = True

    def __init__(self, account: SmgpAccount) -> None:
        self.codec = SmgpCodec()
        self._account = account

    def sequence(self, n: int, now: datetime) -> Hashable:
        return n

    def login(self, sequence: Hashable, now: datetime) -> Pdu:
        stamp = mmddhhmmss(now)
        a = self._account
        auth = authenticator_client(a.client_id, a.secret, stamp)
        return Pdu(Command.LOGIN, sequence,
                   Login(a.client_id, auth, LOGIN_MODE_TRANSMIT, int(stamp)))  # fmt: skip

    def check_login(self, request: Pdu, response: Pdu) -> None:
        body = response.body
        if response.command != Command.LOGIN_RESP or not isinstance(body, LoginResp):
            raise LoginRefusedError("not an SMGP Login_Resp", status=-1, is_auth=False)
        if body.status != 0:
            raise LoginRefusedError(f"SMGP Login refused: {status_name(body.status)}",
                                    status=body.status, is_auth=body.status in _AUTH)  # fmt: skip
        sent = request.body
        assert isinstance(sent, Login)
        if body.authenticator != authenticator_server(0, sent.authenticator, self._account.secret):
            log.warning("smgp_server_authenticator_mismatch", got=body.authenticator.hex())

    def submit(self, sequence: Hashable, part: Part, to: str) -> Pdu:
        a = self._account
        tlvs: tuple[tuple[int, bytes], ...] = ()
        if part.total > 1:
            tlvs = (
                (Tag.TP_UDHI, bytes([int(part.udhi)])),
                (Tag.PK_TOTAL, bytes([part.total])),
                (Tag.PK_NUMBER, bytes([part.number])),
            )
        return Pdu(
            Command.SUBMIT,
            sequence,
            Submit(
                dest_term_ids=(to,),
                msg_content=part.content,
                src_term_id=a.src_term_id,
                service_id=a.service_id,
                tlvs=tlvs,
            ),
        )

    def accepted_id(self, request: Pdu, response: Pdu) -> str:
        body = response.body
        if response.command != Command.SUBMIT_RESP or not isinstance(body, MessageResp):
            raise SubmitRefusedError("not an SMGP Submit_Resp", status=-1, ambiguous=True)
        if body.status != 0:
            raise SubmitRefusedError(
                f"SMGP Submit refused: {status_name(body.status)}",
                status=body.status,
                throttled=body.status == STATUS_BUSY,
                number=body.status == STATUS_BAD_DEST,
            )
        return msg_id_text(body.msg_id)

    def read_deliver(self, pdu: Pdu) -> ReceiptInfo | None:
        body = pdu.body
        if not isinstance(body, Deliver) or body.is_report != 1:
            return None  # IsReport 0: a mobile-originated message
        report = decode_report(body.msg_content)
        if not valid_msg_id(report.msg_id):
            raise GatewayDecodeError(f"MsgID {report.msg_id.hex()} is not an SMGP MsgID")
        if not report.stat:
            raise GatewayDecodeError("SMGP status report without a stat")
        return ReceiptInfo(
            message_id=msg_id_text(report.msg_id),
            stat=report.stat,
            submit_time=report.submit_date,
            done_time=report.done_date,
            destination=body.src_term_id,
            err=report.err,
        )

    def deliver_response(self, pdu: Pdu, ok: bool) -> Pdu:
        body = pdu.body
        msg_id = body.msg_id if isinstance(body, Deliver) else bytes(10)
        # Status 0 ok; 1 (system busy) asks the gateway to resend later.
        return Pdu(Command.DELIVER_RESP, pdu.sequence, MessageResp(msg_id, 0 if ok else 1))
