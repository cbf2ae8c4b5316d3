"""The driver against the modem simulator (agent/modem/simulator/) on real ptys: every profile,
the receive cycle (URC -> read -> delete), discovery, and named faults."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from agent.discovery import discover, probe_port
from agent.modem.at import AtChannel, MemoryTranscript
from agent.modem.errors import AtError, AtTimeoutError, ModemError, PortGoneError
from agent.modem.events import ModemBooted, ModemEvent, NewMessage, SimChanged, StorageFull
from agent.modem.gsm import GsmModem, SimState
from agent.modem.profiles import load_profiles
from agent.modem.simulator import Fault, Fleet, FleetConfig, ModemSimulator, ModemSpec
from agent.modem.transport import SerialByteStream

PROFILES = load_profiles()
NAMES = sorted(PROFILES)

Body = Callable[[GsmModem, ModemSimulator, "asyncio.Queue[ModemEvent]"], Awaitable[None]]


def spec(name: str, profile: str, link: Path, **kw: object) -> ModemSpec:
    return ModemSpec(
        name,
        profile=profile,
        link=link,
        timing_scale=0.01,
        noise_interval_s=0.05,
        reenumerate_s=0.2,
        inter_part_s=0.01,
        **kw,  # type: ignore[arg-type]
    )


async def initialise(modem: GsmModem, deadline_s: float = 10.0) -> None:
    """Retry transient failures (SMS not ready yet) with a deadline, as the agent does."""
    async with asyncio.timeout(deadline_s):
        while True:
            try:
                await modem.initialise()
                return
            except AtError as exc:
                if not exc.transient:
                    raise
                await asyncio.sleep(0.05)


def run(tmp_path: Path, profile: str, body: Body, **spec_kw: object) -> MemoryTranscript:
    transcript = MemoryTranscript()

    async def main() -> None:
        link = tmp_path / "modem"
        async with Fleet(FleetConfig(modems=(spec("m1", profile, link, **spec_kw),))) as fleet:
            sim = fleet.find("m1").simulator
            channel = AtChannel(SerialByteStream(str(link)), transcript=transcript)
            await channel.start()
            events: asyncio.Queue[ModemEvent] = asyncio.Queue(maxsize=1000)
            modem = GsmModem(channel, PROFILES[profile], events=events)
            try:
                await body(modem, sim, events)
            finally:
                await channel.close()

    asyncio.run(main())
    return transcript


async def next_event(
    events: asyncio.Queue[ModemEvent], kind: type, timeout_s: float = 10.0
) -> ModemEvent:
    async with asyncio.timeout(timeout_s):
        while True:
            event = await events.get()
            if isinstance(event, kind):
                return event


@pytest.mark.parametrize("profile", NAMES)
def test_receive_cycle_every_profile(tmp_path: Path, profile: str) -> None:
    async def body(modem: GsmModem, sim: ModemSimulator, events: asyncio.Queue[ModemEvent]) -> None:
        await initialise(modem)
        ident = await modem.identify()
        assert (ident.imei, ident.imsi, ident.iccid) == (
            sim.identity.imei,
            sim.identity.imsi,
            sim.identity.iccid,
        )
        assert ident.operator_mcc_mnc == sim.identity.operator
        sim.deliver_text("10086", "您的验证码是 123456【中国移动】")
        event = await next_event(events, NewMessage)
        assert isinstance(event, NewMessage) and event.kind == "sms"
        stored = await modem.read_message(event.storage, event.index)
        assert stored is not None
        truth = sim.truth_records()[-1]
        assert stored.pdu.hex().upper() == truth["pdu"].upper()
        await modem.delete_message(event.storage, event.index)
        assert await modem.read_message(event.storage, event.index) is None
        assert (await modem.list_messages(event.storage)).messages == ()
        assert not await modem.settings_lost()

    run(tmp_path, profile, body)


def test_list_catches_messages_that_arrived_while_not_listening(tmp_path: Path) -> None:
    async def body(modem: GsmModem, sim: ModemSimulator, events: asyncio.Queue[ModemEvent]) -> None:
        await initialise(modem)
        for i in range(3):
            sim.deliver_text("1069000", f"message {i}")
        async with asyncio.timeout(10):
            while len(sim.truth_records()) < 3:
                await asyncio.sleep(0.01)
        storages = {r["memory"] for r in sim.truth_records()}
        listed = [m for s in sorted(storages) for m in (await modem.list_messages(s)).messages]
        assert sorted(m.pdu.hex().upper() for m in listed) == sorted(
            r["pdu"].upper() for r in sim.truth_records()
        )

    run(tmp_path, "quectel_ec25", body)


def test_faults_urc_mid_response_and_garbage(tmp_path: Path) -> None:
    async def body(modem: GsmModem, sim: ModemSimulator, events: asyncio.Queue[ModemEvent]) -> None:
        await initialise(modem)
        sim.set_fault(Fault.URC_MID_RESPONSE, probability=1.0)
        sim.set_fault(Fault.GARBAGE_BYTES, probability=0.5)
        for i in range(3):
            sim.deliver_text("10010", f"m{i}")
        seen: set[tuple[str, int]] = set()
        async with asyncio.timeout(15):
            while len(seen) < 3:
                event = await events.get()
                if isinstance(event, NewMessage):
                    seen.add((event.storage, event.index))
                # Commands keep working while URCs and garbage interleave.
                await modem.signal()
        for storage, index in sorted(seen):
            msg = await modem.read_message(storage, index)
            assert msg is not None

    run(tmp_path, "huawei_e3372", body)


def test_power_cycle_is_noticed_and_init_replayed(tmp_path: Path) -> None:
    async def body(modem: GsmModem, sim: ModemSimulator, events: asyncio.Queue[ModemEvent]) -> None:
        await initialise(modem)
        assert not await modem.settings_lost()
        sim.power_cycle()
        await next_event(events, ModemBooted)
        async with asyncio.timeout(10):
            while True:
                try:
                    if await modem.settings_lost():
                        break
                except ModemError:
                    pass
                await asyncio.sleep(0.05)
        await initialise(modem)
        assert not await modem.settings_lost()

    run(tmp_path, "simcom_sim800", body)


def test_port_vanish_reports_port_gone(tmp_path: Path) -> None:
    async def body(modem: GsmModem, sim: ModemSimulator, events: asyncio.Queue[ModemEvent]) -> None:
        await initialise(modem)
        sim.set_fault(Fault.PORT_VANISH, after_s=0.0, seconds=5.0, repeat_s=0.0)
        assert modem.channel.closed is not None
        reason = await asyncio.wait_for(modem.channel.closed, 10)
        assert isinstance(reason, PortGoneError)
        with pytest.raises(PortGoneError):
            await modem.signal()

    run(tmp_path, "quectel_eg25", body)


@pytest.mark.parametrize(
    "profile", ["quectel_ec25", "simcom_sim7600", "huawei_me909", "ublox_lara_r2"]
)
def test_probe_port_identifies_profile(tmp_path: Path, profile: str) -> None:
    async def main() -> None:
        link = tmp_path / "m"
        async with Fleet(FleetConfig(modems=(spec("m1", profile, link),))) as fleet:
            sim = fleet.find("m1").simulator
            found = await probe_port(str(link), 5.0, profiles=PROFILES)
            assert found is not None
            assert found.profile == profile
            assert found.identity.imei == sim.identity.imei
            assert found.carrier.carrier == "china_mobile"  # Identity.derive default 46000

    asyncio.run(main())


def test_discover_finds_several_and_skips_silent_ports(tmp_path: Path) -> None:
    import os
    import tty

    async def main() -> None:
        specs = (
            spec("a", "quectel_ec25", tmp_path / "ttyA"),
            spec("b", "simcom_sim800", tmp_path / "ttyB", operator="46001"),
        )
        master, slave = os.openpty()  # a tty nobody answers on (a wrong port)
        tty.setraw(slave)
        os.symlink(os.ttyname(slave), tmp_path / "ttyZ")
        try:
            async with Fleet(FleetConfig(modems=specs)):
                found = await discover([str(tmp_path / "tty*")], 1.5, profiles=PROFILES)
        finally:
            os.close(master)
            os.close(slave)
        by_profile = {m.profile: m for m in found}
        assert set(by_profile) == {"quectel_ec25", "simcom_sim800"}
        assert by_profile["simcom_sim800"].carrier.carrier == "china_unicom"

    asyncio.run(main())


def test_receive_over_socket_url(tmp_path: Path) -> None:
    # The same driver over pyserial's socket:// (ser2net-style remote serial, sim --listen).
    async def main() -> None:
        modem_spec = spec("m1", "simcom_sim7600", tmp_path / "unused", listen=("127.0.0.1", 0))
        async with Fleet(FleetConfig(modems=(modem_spec,))) as fleet:
            running = fleet.find("m1")
            assert running.server.tcp_address is not None
            host, port = running.server.tcp_address
            channel = AtChannel(SerialByteStream(f"socket://{host}:{port}"))
            await channel.start()
            events: asyncio.Queue[ModemEvent] = asyncio.Queue()
            modem = GsmModem(channel, PROFILES["simcom_sim7600"], events=events)
            try:
                await initialise(modem)
                running.simulator.deliver_text("95588", "over tcp")
                event = await next_event(events, NewMessage)
                assert isinstance(event, NewMessage)
                assert await modem.read_message(event.storage, event.index) is not None
            finally:
                await channel.close()

    asyncio.run(main())


def test_missing_final_times_out_then_channel_resyncs(tmp_path: Path) -> None:
    async def body(modem: GsmModem, sim: ModemSimulator, events: asyncio.Queue[ModemEvent]) -> None:
        await initialise(modem)
        sim.set_fault(Fault.MISSING_FINAL, probability=1.0)
        with pytest.raises(AtTimeoutError):
            await modem.channel.command("AT+CSQ", timeout_s=0.3)
        sim.set_fault(Fault.MISSING_FINAL, on=False)
        sig = await modem.signal()
        assert sig.rssi_dbm == -113 + 2 * 21  # the sim's default rssi 21, not a stale answer

    run(tmp_path, "quectel_ec25", body)


def test_hang_then_reset_recovers(tmp_path: Path) -> None:
    async def body(modem: GsmModem, sim: ModemSimulator, events: asyncio.Queue[ModemEvent]) -> None:
        await initialise(modem)
        sim.set_fault(Fault.HANG)
        assert not await modem.ping(timeout_s=0.3)
        await modem.reset()  # SIM800 is UART-only: no re-enumeration, boot URCs follow
        await next_event(events, ModemBooted)
        async with asyncio.timeout(10):
            while not await modem.ping(timeout_s=0.5):
                pass
        await initialise(modem)
        assert not await modem.settings_lost()

    run(tmp_path, "simcom_sim800", body)


def test_sim_missing_and_not_registered_are_reported(tmp_path: Path) -> None:
    async def body(modem: GsmModem, sim: ModemSimulator, events: asyncio.Queue[ModemEvent]) -> None:
        await initialise(modem)
        assert (await modem.registration()).registered
        assert (await modem.sim_state()).state is SimState.READY
        sim.set_fault(Fault.NOT_REGISTERED, stat=2.0)
        assert not (await modem.registration()).registered
        sim.set_fault(Fault.SIM_MISSING)
        assert await next_event(events, SimChanged) == SimChanged("+CPIN: NOT INSERTED")
        assert (await modem.sim_state()).state is SimState.NOT_INSERTED

    run(tmp_path, "quectel_ec25", body)


def test_storage_full_vendor_urc(tmp_path: Path) -> None:
    async def body(modem: GsmModem, sim: ModemSimulator, events: asyncio.Queue[ModemEvent]) -> None:
        await initialise(modem)
        sim.set_fault(Fault.STORAGE_FULL)
        sim.deliver_text("10086", "no room")
        event = await next_event(events, StorageFull)
        assert isinstance(event, StorageFull) and event.line.startswith("+SMS FULL")

    run(tmp_path, "simcom_sim7600", body)
