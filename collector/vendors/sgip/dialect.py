"""How the shared gateway session speaks SGIP 1.2, and the bind check both listening ends
use (the SMG for the SP's binds, the SP's report listener for the SMG's). Result codes:
SGIP 1.2 §4.3 (error codes, shared by every *_Resp Result and a Report's ErrorCode)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime

from collector.vendors.cngw.control import ControlCommands, LinkControl
from collector.vendors.cngw.session import LoginRefusedError, SubmitRefusedError
from collector.vendors.cngw.wire import GatewayDecodeError, Part, Pdu, ReceiptInfo, mmddhhmmss
from collector.vendors.sgip.pdu import (
    Bind,
    Command,
    Report,
    Result,
    SgipCodec,
    SgipSeq,
    Submit,
    format_seq,
)

__all__ = [
    "LOGIN_SMG_TO_SP",
    "LOGIN_SP_TO_SMG",
    "RESULT_BAD_LOGIN",
    "RESULT_NODE_BUSY",
    "SgipAccount",
    "SgipDialect",
    "check_bind",
    "error_name",
    "national",
]

LOGIN_SP_TO_SMG = 1  # §4.2.3.1 Login Type
LOGIN_SMG_TO_SP = 2
RESULT_BAD_LOGIN = 1  # illegal login: wrong name or password
RESULT_BAD_NUMBER = 6  # illegal mobile number
RESULT_NODE_BUSY = 11  # the node is busy: not accepted, send later (our flow control)
RESULT_SYSTEM_FAILURE = 32
_ERRORS = {
    1: "illegal login", 2: "repeated login", 3: "too many connections", 4: "wrong login type",
    5: "bad parameter format", 6: "illegal mobile number", 7: "bad message id",
    8: "bad message length", 9: "illegal sequence number", 10: "illegal GNS operation",
    11: "node busy", 21: "destination unreachable", 22: "routing error",
    23: "route does not exist", 24: "invalid charge number", 25: "user cannot communicate",
    26: "handset memory full", 27: "handset does not support SMS",
    28: "handset error receiving", 29: "unknown user", 30: "function not provided",
    31: "illegal device", 32: "system failure", 33: "SMSC queue full",
}  # fmt: skip
_NUMBER_RESULTS = frozenset({RESULT_BAD_NUMBER, 29})
# Report State (§4.2.3.6): 0 delivered, 1 waiting, 2 failed; the words we store for them.
STATE_WORDS = {0: "DELIVRD", 1: "ENROUTE", 2: "UNDELIV"}


def error_name(code: int) -> str:
    return _ERRORS.get(code, "other error")


def national(number: str) -> str:
    """SGIP numbers carry the 86 country code (§4.2.3.3 UserNumber); we keep national ones."""
    return number[2:] if number.startswith("86") and len(number) == 13 else number


def check_bind(bind: Bind, login_type: int, accounts: Mapping[str, str]) -> int:
    """A listener's verdict on a Bind: 0 or the §4.3 error code."""
    if bind.login_type != login_type:
        return 4
    if accounts.get(bind.login_name) != bind.login_password:
        return RESULT_BAD_LOGIN
    return 0


@dataclass(frozen=True, slots=True)
class SgipAccount:
    login_name: str  # 16
    password: str  # 16
    sp_number: str  # the 106 number (+ extension) shown to the handset
    corp_id: str  # 5 digits: the SP's enterprise code
    node_id: int  # 3AAAAQQQQQ: 3, area code, corp id (§4.2.1): our Sequence Number source
    service_type: str = ""


class SgipDialect(LinkControl):
    control = ControlCommands(
        terminate=Command.UNBIND,
        terminate_resp=Command.UNBIND_RESP,
        deliver=(Command.REPORT, Command.DELIVER),
    )
    keepalive = False  # SGIP 1.2 has no link test: the SP connects per batch (§3)

    def __init__(self, account: SgipAccount) -> None:
        self.codec = SgipCodec()
        self._account = account

    def sequence(self, n: int, now: datetime) -> Hashable:
        return (self._account.node_id, int(mmddhhmmss(now)), n)

    def login(self, sequence: Hashable, now: datetime) -> Pdu:
        a = self._account
        return Pdu(Command.BIND, sequence, Bind(LOGIN_SP_TO_SMG, a.login_name, a.password))

    def check_login(self, request: Pdu, response: Pdu) -> None:
        body = response.body
        if response.command != Command.BIND_RESP or not isinstance(body, Result):
            raise LoginRefusedError("not an SGIP Bind_Resp", status=-1, is_auth=False)
        if body.result != 0:
            raise LoginRefusedError(
                f"SGIP Bind refused: {error_name(body.result)}",
                status=body.result,
                is_auth=body.result == RESULT_BAD_LOGIN,
            )

    def submit(self, sequence: Hashable, part: Part, to: str) -> Pdu:
        a = self._account
        return Pdu(
            Command.SUBMIT,
            sequence,
            Submit(
                user_numbers=(to if to.startswith("86") else "86" + to,),
                message_content=part.content,
                sp_number=a.sp_number,
                corp_id=a.corp_id,
                service_type=a.service_type,
                tp_udhi=int(part.udhi),
            ),
        )

    def accepted_id(self, request: Pdu, response: Pdu) -> str:
        body = response.body
        if response.command != Command.SUBMIT_RESP or not isinstance(body, Result):
            raise SubmitRefusedError("not an SGIP Submit_Resp", status=-1, ambiguous=True)
        if body.result != 0:
            raise SubmitRefusedError(
                f"SGIP Submit refused: {error_name(body.result)}",
                status=body.result,
                throttled=body.result == RESULT_NODE_BUSY,
                number=body.result in _NUMBER_RESULTS,
            )
        seq = request.sequence
        assert isinstance(seq, tuple)
        return format_seq(seq)

    def read_deliver(self, pdu: Pdu) -> ReceiptInfo | None:
        body = pdu.body
        if not isinstance(body, Report) or body.report_type != 0:
            return None  # an MO Deliver, or the report on a forwarded Deliver: not ours
        seq: SgipSeq = body.submit_sequence
        stamp = f"{seq[1]:010d}"
        month, day, hour = int(stamp[:2]), int(stamp[2:4]), int(stamp[4:6])
        if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and seq[0]):
            # an all-zero or garbled SubmitSequenceNumber can match no submission
            raise GatewayDecodeError(f"SubmitSequenceNumber {format_seq(seq)} is not one of ours")
        word = STATE_WORDS.get(body.state)
        if word is None:
            raise GatewayDecodeError(f"SGIP Report State {body.state} is not 0, 1 or 2")
        return ReceiptInfo(
            message_id=format_seq(seq),
            stat=word,
            destination=national(body.user_number),
            err=str(body.error_code) if body.state == 2 else "",
        )

    def deliver_response(self, pdu: Pdu, ok: bool) -> Pdu:
        command = Command.REPORT_RESP if pdu.command == Command.REPORT else Command.DELIVER_RESP
        # Result 0 ok; a non-zero Result (system failure) asks the SMG to send it again.
        return Pdu(command, pdu.sequence, Result(0 if ok else RESULT_SYSTEM_FAILURE))
