"""What a modem says on its own, as typed events (URCs turned into values by
agent.modem.gsm.event_from_urc). The one set of modem event types: the driver emits them,
the receive loop (agent.receive) consumes them."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from agent.modem.commands import Registration


@dataclass(frozen=True, slots=True)
class NewMessage:
    """+CMTI (kind "sms") or +CDSI (kind "status"): read it from `storage` at `index`."""

    storage: str
    index: int
    kind: Literal["sms", "status"]


@dataclass(frozen=True, slots=True)
class DirectPdu:
    """+CMT / +CDS: the PDU came with the URC and is not stored anywhere (persist it now).
    `pdu` is None when the modem never sent the PDU line."""

    kind: Literal["sms", "status"]
    pdu: bytes | None
    header: str


@dataclass(frozen=True, slots=True)
class ModemBooted:
    """A (re)boot or readiness marker: volatile settings are probably gone
    (docs/modems.md, "Initialisation")."""

    line: str
    sms_ready: bool = False


@dataclass(frozen=True, slots=True)
class RegistrationChanged:
    registration: Registration


@dataclass(frozen=True, slots=True)
class StorageFull:
    line: str


@dataclass(frozen=True, slots=True)
class SimChanged:
    line: str


@dataclass(frozen=True, slots=True)
class Noise:
    line: str


@dataclass(frozen=True, slots=True)
class PortLost:
    reason: str


ModemEvent = (
    NewMessage
    | DirectPdu
    | ModemBooted
    | RegistrationChanged
    | StorageFull
    | SimChanged
    | Noise
    | PortLost
)
EventCallback = Callable[[ModemEvent], Coroutine[Any, Any, None]]
