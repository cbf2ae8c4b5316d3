"""What the receive loop needs from a modem driver: one open session (agent.receive.gsm_session
adapts agent.modem.gsm.GsmModem to it; tests use real simulated modems through it), the
events it acts on, and the one failure that ends a session."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from agent.config import ModemConfig
from agent.health import HealthInputs
from agent.modem.errors import AtTimeoutError, PortGoneError
from agent.modem.events import DirectPdu, ModemBooted, NewMessage, StorageFull
from agent.modem.gsm import ModemIdentity


@dataclass(frozen=True, slots=True)
class Stored:
    """A PDU in modem storage (AT+CMGL / AT+CMGR)."""

    storage: str
    index: int
    pdu: bytes


# The modem events the receive loop acts on (agent.modem.events has them all).
ModemEvent = NewMessage | DirectPdu | ModemBooted | StorageFull


class ModemSession(Protocol):
    """One open connection to one modem."""

    storages: tuple[str, ...]  # receive storages to sweep (SM, ME, MT ...), SR separately
    needs_cnma: bool

    async def initialise(self) -> None: ...
    async def identify(self) -> ModemIdentity: ...
    async def list_messages(self, storage: str) -> list[Stored]: ...
    async def read_message(self, storage: str, index: int) -> Stored | None: ...
    async def delete_message(self, storage: str, index: int) -> None: ...
    async def ack_direct(self) -> None: ...
    async def health(self) -> HealthInputs: ...
    async def settings_lost(self) -> bool: ...
    async def reset(self) -> None: ...
    async def send_pdu(self, pdu: bytes, tpdu_length: int) -> int: ...
    async def close(self) -> None: ...

    @property
    def lost(self) -> asyncio.Future[object]: ...


# (port, config, event sink) -> an open, not yet initialised session
ModemOpener = Callable[[str, ModemConfig, Callable[[ModemEvent], None]], Awaitable[ModemSession]]


class ModemFailureError(Exception):
    """The session cannot go on (port gone, modem not answering); the supervisor recovers."""

    def __init__(self, reason: str, port_gone: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.port_gone = port_gone


# Error classification, in one place: which driver errors mean "the port is gone" and
# which "the modem does not answer" (both end the session).
def classify_error(exc: BaseException) -> ModemFailureError | None:
    if isinstance(exc, PortGoneError | OSError):
        return ModemFailureError(f"port gone: {exc}", port_gone=True)
    if isinstance(exc, AtTimeoutError):
        return ModemFailureError(f"not responding: {exc}")
    return None
