"""The receive path end to end: simulated modems on real ptys, the real driver, SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from agent.modem.simulator.faults import Fault
from agent.wire.records import AgentEvent
from tests.agent.harness import Running, eventually, make_sim, running_agent


def test_single_and_multipart_messages_are_received_and_deleted(tmp_path: Path) -> None:
    async def scenario() -> None:
        sim = make_sim(1)
        async with running_agent(tmp_path, [sim]) as agent:
            sim.deliver_text("10690001", "hello world")
            long = "验证码123456，" * 20  # UCS2, several parts
            parts = sim.deliver_text("10690002", long)
            assert parts > 1
            msgs = await eventually(lambda: len(agent.messages()) >= 2 and agent.messages())
            texts = sorted(m.text for m in msgs)
            assert texts == sorted(["hello world", long])
            multi = next(m for m in msgs if m.text == long)
            assert len(multi.parts) == parts and not multi.partial
            # Persisted, then deleted: the SIM storage is empty again.
            await eventually(lambda: sim.status()["counters"]["deleted"] == parts + 1)
            assert "modem_connected" in agent.events()

    asyncio.run(scenario())


def _run(coro_fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(coro_fn())


def _texts(agent: Running) -> list[str]:
    return sorted(m.text for m in agent.messages())


def test_urc_mid_response_and_garbage_lose_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        sim = make_sim(2, seed=7)
        sim.set_fault(Fault.URC_MID_RESPONSE, probability=1.0)
        sim.set_fault(Fault.GARBAGE_BYTES, probability=0.5)
        async with running_agent(tmp_path, [sim]) as agent:
            for i in range(6):
                sim.deliver_text("10690001", f"msg {i}")
            await eventually(lambda: len(agent.messages()) >= 6)
            assert _texts(agent) == [f"msg {i}" for i in range(6)]

    _run(scenario)


def test_lost_urc_is_found_by_the_sweep(tmp_path: Path) -> None:
    async def scenario() -> None:
        sim = make_sim(3)
        sim.set_fault(Fault.LOST_URC, probability=1.0)
        async with running_agent(tmp_path, [sim], sweep_s=0.3) as agent:
            await eventually(lambda: "modem_connected" in agent.events())
            sim.deliver_text("10690001", "no urc for me")
            await eventually(lambda: _texts(agent) == ["no urc for me"])
            assert sim.status()["counters"]["urc_lost"] >= 1

    _run(scenario)


def test_slow_finals_are_waited_for(tmp_path: Path) -> None:
    async def scenario() -> None:
        sim = make_sim(4, seed=3)
        sim.set_fault(Fault.SLOW_FINAL, delay_s=0.1)
        async with running_agent(tmp_path, [sim], command_timeout_s=1.0) as agent:
            for i in range(3):
                sim.deliver_text("10690001", f"slow {i}")
            await eventually(lambda: len(agent.messages()) >= 3, timeout_s=40)
            assert _texts(agent) == [f"slow {i}" for i in range(3)]
            assert "modem_not_responding" not in agent.events()

    _run(scenario)


def test_missing_finals_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        sim = make_sim(14, seed=5)
        async with running_agent(tmp_path, [sim], command_timeout_s=0.5) as agent:
            await eventually(lambda: "modem_connected" in agent.events())
            sim.set_fault(Fault.MISSING_FINAL, probability=0.1)
            for i in range(5):
                sim.deliver_text("10690001", f"final {i}")
            await eventually(lambda: len(agent.messages()) >= 5, timeout_s=40)
            assert _texts(agent) == [f"final {i}" for i in range(5)]

    _run(scenario)


def test_parts_out_of_order_are_reassembled(tmp_path: Path) -> None:
    async def scenario() -> None:
        sim = make_sim(5, seed=11)
        sim.set_fault(Fault.PARTS_OUT_OF_ORDER)
        text = "The quick brown fox jumps over the lazy dog. " * 8
        async with running_agent(tmp_path, [sim]) as agent:
            parts = sim.deliver_text("10690009", text)
            assert parts >= 3
            (msg,) = await eventually(lambda: agent.messages())
            assert msg.text == text and [p.part_seq for p in msg.parts] == list(range(1, parts + 1))

    _run(scenario)


def test_duplicate_delivery_is_recorded_twice(tmp_path: Path) -> None:
    async def scenario() -> None:
        sim = make_sim(6)
        sim.set_fault(Fault.DUPLICATE_DELIVERY)
        async with running_agent(tmp_path, [sim]) as agent:
            sim.deliver_text("10690001", "twice")
            await eventually(lambda: len(agent.messages()) >= 2)
            a, b = agent.messages()
            assert a.text == b.text == "twice"
            assert a.parts[0].raw_pdu == b.parts[0].raw_pdu
            assert a.parts[0].index != b.parts[0].index

    _run(scenario)


def test_full_storage_is_drained_and_the_smsc_backlog_follows(tmp_path: Path) -> None:
    async def scenario() -> None:
        sim = make_sim(7, me_capacity=4, sm_capacity=4)
        # Fill the storage before the agent runs: 4 stored, the rest rejected (RP cause 22)
        # and retried by the SMSC once space is freed.
        for i in range(7):
            sim.deliver_text("10690001", f"full {i}")
        for _ in range(50):
            sim.tick()
        assert sim.status()["storage"]["ME"][0] == 4
        async with running_agent(tmp_path, [sim]) as agent:
            await eventually(lambda: len(agent.messages()) >= 7, timeout_s=30)
            assert _texts(agent) == [f"full {i}" for i in range(7)]

    _run(scenario)


def test_port_vanish_is_refound_and_reinitialised(tmp_path: Path) -> None:
    async def scenario() -> None:
        sim = make_sim(8)
        async with running_agent(tmp_path, [sim]) as agent:
            await eventually(lambda: "modem_connected" in agent.events())
            sim.set_fault(Fault.PORT_VANISH, seconds=0.5)
            await eventually(lambda: "modem_lost" in agent.events())
            sim.deliver_text("10690001", "while away")
            await eventually(lambda: "modem_reinitialised" in agent.events())
            await eventually(lambda: _texts(agent) == ["while away"])
            assert sim.status()["settings"]["cnmi"][1] == 1  # CNMI set again after the boot

    _run(scenario)


def test_hang_is_recovered_with_a_reset(tmp_path: Path) -> None:
    async def scenario() -> None:
        sim = make_sim(9)
        async with running_agent(tmp_path, [sim], command_timeout_s=0.5) as agent:
            await eventually(lambda: "modem_connected" in agent.events())
            sim.set_fault(Fault.HANG)
            sim.deliver_text("10690001", "after the hang")
            await eventually(lambda: "modem_reset" in agent.events(), timeout_s=30)
            await eventually(lambda: "modem_reinitialised" in agent.events(), timeout_s=30)
            await eventually(lambda: _texts(agent) == ["after the hang"], timeout_s=30)
            assert sim.status()["counters"]["reboots"] >= 1
            kinds = agent.events()
            assert kinds.index("modem_not_responding") < kinds.index("modem_reset")

    _run(scenario)


def test_reread_after_crash_is_recognised(tmp_path: Path) -> None:
    """The agent committed a PDU and died before AT+CMGD: the next run reads the same slot,
    recognises the copy, deletes it, and stores nothing twice."""
    from agent.outbox.reassembly import PartFacts
    from agent.outbox.store import ModemRef, Outbox
    from agent.receive.receiver import decode_part

    async def scenario() -> None:
        sim = make_sim(15)
        sim.deliver_text("10690001", "persisted before the crash")
        for _ in range(20):
            sim.tick()
        (truth,) = sim.truth_records()
        pdu = bytes.fromhex(str(truth["pdu"]))
        link = tmp_path / "by-id-modem0"
        facts = decode_part(pdu)
        assert isinstance(facts, PartFacts)
        with Outbox(tmp_path / "outbox.sqlite") as box:  # what the dead agent left behind
            box.persist_part(
                ModemRef(str(link)), str(truth["memory"]), int(truth["index"]), pdu, facts
            )
        async with running_agent(tmp_path, [sim]) as agent:
            await eventually(lambda: sim.status()["counters"]["deleted"] == 1)
            await eventually(lambda: "modem_connected" in agent.events())
            assert [m.text for m in agent.messages()] == ["persisted before the crash"]

    _run(scenario)


def test_outbox_full_stops_reading_and_resumes_when_acked(tmp_path: Path) -> None:
    """Past the age bound the receiver neither reads nor deletes: the SIM keeps the
    backlog. Once the collector acks, reading resumes and nothing was lost."""

    async def scenario() -> None:
        sim = make_sim(16)
        async with running_agent(tmp_path, [sim], health_s=300, max_age_s=1.0) as agent:
            box = agent.reader
            box.max_age_s = 1.0
            await eventually(lambda: "modem_connected" in agent.events())
            # Nothing is acked: after 1 s the oldest pending record exceeds the age bound.
            await eventually(lambda: box.pressure().full)
            sim.deliver_text("10690001", "held by the SIM")
            await eventually(lambda: sim.status()["storage"]["ME"][0] == 1)
            # Absence can only be checked over time: several 0.5 s sweeps pass.
            await asyncio.sleep(1.5)
            assert agent.messages() == []
            assert sim.status()["storage"]["ME"][0] == 1  # not read, not deleted
            box.mark_acked(range(1, box.last_seq() + 1))
            await eventually(lambda: [m.text for m in agent.messages()] == ["held by the SIM"])
            await eventually(lambda: sim.status()["storage"]["ME"][0] == 0)

    _run(scenario)


def test_split_writes_duplicate_urcs_and_reboot_mid_response(tmp_path: Path) -> None:
    async def scenario() -> None:
        sim = make_sim(17, seed=9)
        sim.set_fault(Fault.SPLIT_WRITES, probability=0.5, max_delay_s=0.01)
        sim.set_fault(Fault.DUPLICATE_URC, probability=1.0)
        async with running_agent(tmp_path, [sim]) as agent:
            await eventually(lambda: "modem_connected" in agent.events())
            for i in range(3):
                sim.deliver_text("10690001", f"dup urc {i}")
            await eventually(lambda: len(agent.messages()) >= 3)
            sim.set_fault(Fault.REBOOT_MID_RESPONSE, probability=1.0)
            sim.deliver_text("10690001", "after the reboot")
            await eventually(lambda: len(agent.messages()) >= 4, timeout_s=40)
            assert _texts(agent) == sorted(
                [*(f"dup urc {i}" for i in range(3)), "after the reboot"]
            )
            await eventually(lambda: sim.status()["counters"]["reboots"] >= 1)

    _run(scenario)


def test_auto_profile_is_matched_from_the_modem_identity(tmp_path: Path) -> None:
    async def scenario() -> None:
        sim = make_sim(18, profile="huawei_e3372")
        async with running_agent(tmp_path, [sim], profile="auto") as agent:
            sim.deliver_text("10690001", "auto detected")
            await eventually(lambda: _texts(agent) == ["auto detected"])
            (connected,) = [
                r.body
                for r in agent.reader.records(kinds=("agent_event",))
                if isinstance(r.body, AgentEvent) and r.body.kind == "modem_connected"
            ]
            assert "E3372" in connected.attributes["model"]

    _run(scenario)
