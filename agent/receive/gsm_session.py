"""The real driver as a `ModemSession`: SerialByteStream -> AtChannel -> GsmModem."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import structlog

from agent.config import ModemConfig
from agent.health import HealthInputs, RegState, StorageState
from agent.modem.at import AtChannel
from agent.modem.errors import AtError, ResponseParseError
from agent.modem.events import DirectPdu, ModemBooted, NewMessage, StorageFull
from agent.modem.gsm import GsmModem, ModemIdentity
from agent.modem.profiles import GENERIC, load_profiles, match_profile
from agent.modem.transport import SerialByteStream
from agent.receive.session import (
    ModemEvent,
    Stored,
)

_log = structlog.get_logger("agent.receiver")


class GsmSession:
    """`ModemSession` over agent.modem.gsm.GsmModem on a pyserial port."""

    def __init__(self, modem: Any, channel: Any, sink: Callable[[ModemEvent], None]) -> None:
        self.modem = modem
        self.channel = channel
        self.sink = sink
        profile = modem.profile
        self.storages: tuple[str, ...] = tuple(profile.storages) or ("SM",)
        self.needs_cnma: bool = bool(profile.quirks.needs_cnma)
        self._closing = False

    @property
    def lost(self) -> asyncio.Future[object]:
        closed: asyncio.Future[object] = self.channel.closed
        return closed

    async def on_event(self, event: object) -> None:
        if isinstance(event, NewMessage | DirectPdu | ModemBooted | StorageFull):
            self.sink(event)

    async def initialise(self) -> None:
        await self.modem.initialise()

    async def identify(self) -> ModemIdentity:
        identity: ModemIdentity = await self.modem.identify()
        return identity

    async def list_messages(self, storage: str) -> list[Stored]:
        listing = await self.modem.list_messages(storage, 4)
        for entry in listing.unparsed:
            # Not persisted, so never deleted: the slot stays on the SIM for a person to see.
            _log.warning(
                "sms_listing_entry_unparsed",
                storage=storage,
                index=entry.index,
                reason=entry.reason,
                lines=list(entry.lines),
            )
        return [Stored(s.storage, s.index, s.pdu) for s in listing.messages if s.index >= 0]

    async def read_message(self, storage: str, index: int) -> Stored | None:
        s = await self.modem.read_message(storage, index)
        return None if s is None else Stored(s.storage, s.index, s.pdu)

    async def delete_message(self, storage: str, index: int) -> None:
        await self.modem.delete_message(storage, index)

    async def ack_direct(self) -> None:
        await self.modem.ack_direct()

    async def settings_lost(self) -> bool:
        return bool(await self.modem.settings_lost())

    async def reset(self) -> None:
        await self.modem.reset()

    async def send_pdu(self, pdu: bytes, tpdu_length: int) -> int:
        return int(await self.modem.send_pdu(pdu, tpdu_length))

    async def health(self) -> HealthInputs:

        soft = (AtError, ResponseParseError)
        rssi: float | None = None
        ber: int | None = None
        regs: tuple[RegState, ...] = ()
        mcc_mnc = ""
        op_act: int | None = None
        sim = ""
        storages: tuple[StorageState, ...] = ()
        with contextlib.suppress(*soft):
            sig = await self.modem.signal()
            rssi = sig.rssi_dbm if sig.rssi_dbm is not None else sig.rsrp_dbm
            ber = sig.ber
        with contextlib.suppress(*soft):
            state = await self.modem.registration()
            regs = tuple(RegState(r.domain, int(r.status), r.act) for r in state.entries)
        with contextlib.suppress(*soft):
            op = await self.modem.operator()
            mcc_mnc, op_act = op.mcc_mnc, op.act
        with contextlib.suppress(*soft):
            status = await self.modem.sim_state()
            sim = "READY" if status.state.value == "ready" else (status.raw or status.state.value)
        with contextlib.suppress(*soft):
            storages = tuple(
                StorageState(s.storage, s.used, s.total) for s in await self.modem.storage_status()
            )
        return HealthInputs(
            at_ns=time.time_ns(),
            responding=True,
            rssi_dbm=rssi,
            ber=ber,
            registrations=regs,
            operator_mcc_mnc=mcc_mnc,
            operator_act=op_act,
            sim_state=sim,
            storages=storages,
        )

    async def close(self) -> None:
        await self.channel.close()


async def open_gsm_session(
    port: str,
    modem_config: ModemConfig,
    sink: Callable[[ModemEvent], None],
    *,
    profiles: dict[str, Any] | None = None,
    command_timeout_s: float | None = None,
) -> GsmSession:
    """Open `port` and compose the driver; profile "auto" is matched from +CGMI/+CGMM."""
    table = profiles if profiles is not None else load_profiles()
    # read(1) returns as soon as a byte arrives; the poll only bounds how often an idle
    # reader thread wakes up (16 modems idle must stay well under 1 % of a core).
    channel = AtChannel(SerialByteStream(port, poll_s=1.0), name=port)
    await channel.start()
    holder: list[GsmSession] = []

    async def forward(event: object) -> None:
        if holder:
            await holder[0].on_event(event)

    try:
        if modem_config.profile == "auto":
            probe = GsmModem(channel, table[GENERIC])
            ident = await probe.identify()
            profile = match_profile(ident.manufacturer, ident.model, profiles=table)
        else:
            profile = table[modem_config.profile]
        if command_timeout_s is not None:
            # The config's command timeout replaces the profile's default and scales its
            # long ones (AT+CMGL, AT+CMGS, AT+CFUN=1,1) by the same factor.
            t = profile.timeouts
            factor = command_timeout_s / t.default_s
            timeouts = replace(
                t,
                default_s=command_timeout_s,
                list_s=t.list_s * factor,
                send_s=t.send_s * factor,
                reset_s=t.reset_s * factor,
            )
            profile = replace(profile, timeouts=timeouts)
        modem = GsmModem(channel, profile, on_event=forward)
    except BaseException:
        await channel.close()
        raise
    session = GsmSession(modem, channel, sink)
    holder.append(session)
    return session
