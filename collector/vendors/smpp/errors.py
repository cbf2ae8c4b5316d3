"""The SMPP package's error tree and the one place command_status codes are classified.

    SmppError                         root
    ├── SmppStatusError(status)       the peer answered with a non-OK command_status
    │   ├── SmppThrottledError        RTHROTTLED 0x58, RMSGQFUL 0x14: retry later
    │   ├── SmppTransientStatusError  RX_T_APPN 0x64: vendor hiccup, nothing accepted
    │   ├── SmppAmbiguousStatusError  RSYSERR 0x08: may have been accepted
    │   ├── SmppBindRefusedError      bind_*_resp non-OK (RBINDFAIL, RINVPASWD, RALYBND...)
    │   └── SmppRejectedError         everything else: permanent for this message
    ├── SmppNotBoundError             no bound session; nothing was sent, safe to retry
    ├── SmppAmbiguousSubmitError      sent, but no response (timeout or connection lost)
    └── SmppProtocolError             generic_nack or an undecodable PDU from the peer

Codes: SMPP 3.4 §5.1.3; how each is classified and why: docs/vendors.md.
"""

from __future__ import annotations

from collector.vendors.smpp.pdu import CommandStatus, status_name


class SmppError(Exception):
    """Root of everything this package raises at runtime."""


class SmppStatusError(SmppError):
    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(f"{message}: {status_name(status)}")
        self.status = status


class SmppThrottledError(SmppStatusError):
    """The SMSC asked us to slow down; resend the same message later with a new sequence."""


class SmppTransientStatusError(SmppStatusError):
    """A temporary SMSC-side failure that did not accept the message."""


class SmppAmbiguousStatusError(SmppStatusError):
    """RSYSERR: the SMSC may or may not have taken the message; never resend blindly."""


class SmppBindRefusedError(SmppStatusError):
    """bind_*_resp with a non-OK status."""

    @property
    def is_auth(self) -> bool:
        return self.status in _AUTH_STATUSES


class SmppRejectedError(SmppStatusError):
    """A permanent refusal of this message (address, content, encoding, route...)."""


class SmppNotBoundError(SmppError):
    """No bound session within the wait; the request was never written."""


class SmppAmbiguousSubmitError(SmppError):
    """The request was written but its response never came: it may have been accepted."""


class SmppProtocolError(SmppError):
    """The peer could not parse our PDU (generic_nack) or sent one we cannot parse."""


_THROTTLE_STATUSES = frozenset({CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL})
_TRANSIENT_STATUSES = frozenset({CommandStatus.ESME_RX_T_APPN})
_AMBIGUOUS_STATUSES = frozenset({CommandStatus.ESME_RSYSERR})
_AUTH_STATUSES = frozenset(
    {
        CommandStatus.ESME_RBINDFAIL,
        CommandStatus.ESME_RINVPASWD,
        CommandStatus.ESME_RINVSYSID,
        CommandStatus.ESME_RINVSYSTYP,
    }
)


def classify_submit_status(status: int, message: str = "submit_sm refused") -> SmppStatusError:
    """The error for a non-OK submit_sm_resp (SMPP 3.4 §5.1.3; Kannel maps the same four
    codes to "temporary" and the rest to "rejected")."""
    if status in _THROTTLE_STATUSES:
        return SmppThrottledError(message, status=status)
    if status in _TRANSIENT_STATUSES:
        return SmppTransientStatusError(message, status=status)
    if status in _AMBIGUOUS_STATUSES:
        return SmppAmbiguousStatusError(message, status=status)
    return SmppRejectedError(message, status=status)
