"""Receive paths beyond store-and-notify, through one supervised modem on a real pty:
direct +CMT with AT+CNMA, status reports from SR storage, undecodable PDUs, a modem that
comes back under another name (found by IMEI), and a UART modem that reboots in place."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from agent.common.backoff import ExponentialBackoff
from agent.config import ModemConfig, ReceiveConfig
from agent.modem.profiles import load_profiles
from agent.modem.simulator.modem import ModemSimulator
from agent.modem.simulator.pty import ModemServer
from agent.outbox.io import OutboxIO
from agent.outbox.store import Outbox
from agent.receive.gsm_session import open_gsm_session
from agent.receive.session import ModemOpener
from agent.receive.supervisor import ModemSupervisor
from agent.wire.records import AgentEvent, ReceivedSms, StatusReport
from tests.agent.harness import eventually, make_sim

RECEIVE = ReceiveConfig(sweep_interval_s=0.5, health_interval_s=0.5, command_timeout_s=1.0)


@contextlib.asynccontextmanager
async def supervised(
    outbox: Outbox,
    modem: ModemConfig,
    opener: ModemOpener = open_gsm_session,
    **kw: Any,
) -> AsyncIterator[ModemSupervisor]:
    sup = ModemSupervisor(
        modem,
        RECEIVE,
        OutboxIO(outbox),
        opener,
        backoff=ExponentialBackoff(base_s=0.1, max_s=0.2),
        **kw,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(sup.run(stop))
    try:
        await asyncio.wait_for(sup.connected.wait(), 20)
        yield sup
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


def messages(outbox: Outbox) -> list[ReceivedSms]:
    return [
        r.body for r in outbox.records(kinds=("received_sms",)) if isinstance(r.body, ReceivedSms)
    ]


def events(outbox: Outbox) -> list[AgentEvent]:
    return [
        r.body for r in outbox.records(kinds=("agent_event",)) if isinstance(r.body, AgentEvent)
    ]


def test_direct_cmt_is_persisted_then_acked_with_cnma(tmp_path: Path) -> None:
    """CSMS=1 + CNMI mt=2: the modem stores nothing; an unacked +CMT would be redelivered."""
    table = load_profiles()
    base = table["quectel_ec25"]
    direct = dataclasses.replace(
        base,
        name="direct_cmt",
        init=(*base.init, "AT+CSMS=1"),
        cnmi=("2,2,0,1,0",),
        quirks=dataclasses.replace(base.quirks, needs_cnma=True),
    )
    opener = functools.partial(open_gsm_session, profiles={**table, "direct_cmt": direct})

    async def scenario() -> None:
        sim = make_sim(40)
        link = tmp_path / "modem"
        async with ModemServer(sim, link):
            with Outbox(tmp_path / "o.sqlite") as box:
                async with supervised(box, ModemConfig(str(link), profile="direct_cmt"), opener):
                    sim.deliver_text("10690001", "flash through +CMT")
                    await eventually(lambda: len(messages(box)) == 1)
                    await eventually(lambda: sim.truth_records()[0]["acked_at"] is not None)
                (msg,) = messages(box)
                assert msg.text == "flash through +CMT"
                assert msg.parts[0].index == -1 and msg.parts[0].storage == ""
                assert sim.truth_records()[0]["routed"] == "cmt"

    asyncio.run(scenario())


def test_status_report_from_sr_storage_is_persisted(tmp_path: Path) -> None:
    async def scenario() -> None:
        sim = make_sim(41)
        link = tmp_path / "modem"
        async with ModemServer(sim, link):
            with Outbox(tmp_path / "o.sqlite") as box:
                async with supervised(box, ModemConfig(str(link), profile="quectel_ec25")) as sup:
                    (mr,) = await sup.send_sms("+8613900000002", "report me", status_report=True)

                    def reports() -> list[StatusReport]:
                        return [
                            r.body
                            for r in box.records(kinds=("status_report",))
                            if isinstance(r.body, StatusReport)
                        ]

                    await eventually(lambda: len(reports()) == 1, timeout_s=20)
                    (rep,) = reports()
                    assert rep.message_reference == mr and rep.status == 0
                    assert rep.storage == "SR" and rep.recipient.endswith("8613900000002")
                    await eventually(lambda: sim.status()["storage"]["SR"][0] == 0)

    asyncio.run(scenario())


def test_undecodable_pdu_is_kept_raw_and_flagged(tmp_path: Path) -> None:
    async def scenario() -> None:
        sim = make_sim(42)
        link = tmp_path / "modem"
        good = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"
        broken = good[:40]  # cut inside TP-SCTS: no decoder can read this
        async with ModemServer(sim, link):
            with Outbox(tmp_path / "o.sqlite") as box:
                async with supervised(box, ModemConfig(str(link), profile="quectel_ec25")):
                    sim.deliver_pdus([broken])
                    await eventually(lambda: len(messages(box)) == 1)
                    await eventually(lambda: sim.status()["counters"]["deleted"] == 1)
                (msg,) = messages(box)
                assert msg.undecodable and msg.parts[0].decode_error
                assert msg.parts[0].raw_pdu == bytes.fromhex(broken)

    asyncio.run(scenario())


def test_modem_back_under_another_name_is_found_by_imei(tmp_path: Path) -> None:
    async def scenario() -> None:
        sim = make_sim(43)
        first, second = tmp_path / "ttyUSB2", tmp_path / "ttyUSB7"
        candidates: list[str] = []
        server = ModemServer(sim, first)
        await server.start()
        with Outbox(tmp_path / "o.sqlite") as box:
            modem = ModemConfig(str(first), profile="quectel_ec25", imei=sim.identity.imei)
            cand: Callable[[], Sequence[str]] = lambda: list(candidates)  # noqa: E731
            async with supervised(box, modem, candidates=cand) as sup:
                await server.close()  # unplugged; its name is gone for good
                first.unlink(missing_ok=True)
                await eventually(lambda: "modem_lost" in [e.kind for e in events(box)])
                server = ModemServer(sim, second)
                await server.start()
                candidates.append(str(second))
                await eventually(lambda: "modem_found" in [e.kind for e in events(box)], 30)
                await eventually(lambda: sup.connected.is_set(), 30)
                assert sup.port == str(second)
                sim.deliver_text("10690001", "via the new name")
                await eventually(lambda: [m.text for m in messages(box)] == ["via the new name"])
            await server.close()

    asyncio.run(scenario())


def test_uart_modem_reboot_in_place_is_reinitialised(tmp_path: Path) -> None:
    """SIM800 behind a USB bridge: a brown-out reboot keeps the port, prints boot URCs and
    forgets CNMI/CMGF; the agent notices and replays its init (docs/modems.md, "Initialisation")."""

    async def scenario() -> None:
        sim: ModemSimulator = make_sim(44, profile="simcom_sim800")
        link = tmp_path / "modem"
        async with ModemServer(sim, link):
            with Outbox(tmp_path / "o.sqlite") as box:
                modem = ModemConfig(str(link), profile="simcom_sim800")
                async with supervised(box, modem):
                    sim.power_cycle()
                    await eventually(
                        lambda: any(e.kind == "modem_reinitialised" for e in events(box)),
                        30,
                    )
                    await eventually(lambda: sim.status()["settings"]["cnmi"][1] == 1, 20)
                    sim.deliver_text("10690001", "after the brown-out")
                    await eventually(
                        lambda: [m.text for m in messages(box)] == ["after the brown-out"]
                    )
                assert "modem_lost" not in [e.kind for e in events(box)]

    asyncio.run(scenario())


def test_a_receiver_stuck_behind_a_slow_send_says_so(tmp_path: Path) -> None:
    """A canary's AT+CMGS that takes long (congested cell) holds the AT channel; the
    receiver waits behind it. The supervisor records it as a stalled, unhealthy receiver
    (dated from the stuck step's start) instead of going silent, and the SMS that arrived
    meanwhile is read once the channel is free."""
    from agent.modem.simulator.faults import Fault
    from agent.wire.records import ModemHealth

    def health(outbox: Outbox) -> list[ModemHealth]:
        return [
            r.body for r in outbox.records(kinds=("modem_health",))
            if isinstance(r.body, ModemHealth)
        ]  # fmt: skip

    async def scenario() -> None:
        sim = make_sim(45)
        link = tmp_path / "modem"
        async with ModemServer(sim, link):
            with Outbox(tmp_path / "o.sqlite") as box:
                async with supervised(box, ModemConfig(str(link))) as sup:
                    assert sup.stall_after_s == 3.0  # 3 x the 1 s command timeout
                    sim.set_fault(Fault.SLOW_SEND, delay_s=6.0)
                    send = asyncio.create_task(sup.send_sms("+8613800000099", "canary"))
                    await eventually(lambda: bool(sim.sent), 10)  # the PDU is in
                    sim.deliver_text("10690001", "while the canary was out")
                    await eventually(
                        lambda: any("receiver_stalled" in h.reasons for h in health(box)), 10
                    )
                    refs = await asyncio.wait_for(send, 20)
                    assert len(refs) == 1
                    await eventually(
                        lambda: [m.text for m in messages(box)] == ["while the canary was out"]
                    )
                    await eventually(lambda: health(box)[-1].healthy, 10)
                stalled = next(h for h in health(box) if "receiver_stalled" in h.reasons)
                assert not stalled.healthy and not stalled.responding
                # Dated from when the step began waiting, before the SMS was read.
                (msg,) = messages(box)
                assert stalled.at_ns < msg.parts[0].received_at_ns

    asyncio.run(scenario())
