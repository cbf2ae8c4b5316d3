"""The agent's promise under storage faults, on the real `smsprobe-agent run`: every SMS
that reaches a SIM is persisted exactly once before it leaves the SIM.

Faults are injected at the OS boundary with an LD_PRELOAD shim (tests/faults): fsync made
slow, writes failing with ENOSPC/EROFS, fsync failing with EIO; the event loop is stalled
by stopping the whole process (SIGSTOP/SIGCONT) while the modems keep talking; and the
agent is SIGKILLed and restarted in the middle. The simulated modems keep ground truth
(what was delivered, what was deleted) and an AT transcript of every byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from agent.modem.simulator.modem import ModemSimulator
from agent.modem.simulator.pty import ModemServer
from agent.modem.simulator.transcript import Transcript
from agent.outbox.store import Outbox
from agent.wire.records import AgentEvent, ModemHealth
from tests.agent.agent_proc import all_deleted, outbox_list, start_agent, write_config
from tests.agent.harness import eventually, make_sim, running_agent
from tests.faults import ERRNOS, FsFault

SEED = 20261206
_FINALS = (b"OK", b"ERROR", b"+CMS ERROR", b"+CME ERROR", b"NO CARRIER")


def commands_before_final(
    entries: list[tuple[datetime, str, str, bytes]], restarts: list[datetime]
) -> list[str]:
    """Commands the TE sent while the previous command still had no final result (or,
    for AT+CMGS, no prompt before its PDU). A restart of the agent starts afresh."""
    violations: list[str] = []
    state: dict[str, tuple[bytes | None, bytes, bytes, int]] = {}
    for when, modem, direction, data in entries:
        started = sum(1 for r in restarts if r <= when)
        awaiting, tx, rx, epoch = state.get(modem, (None, b"", b"", started))
        if epoch != started:
            awaiting, tx, rx = None, b"", b""
        if direction == "<":
            tx += data
            while True:
                cut = min((i for i in (tx.find(b"\r"), tx.find(b"\x1a")) if i >= 0), default=-1)
                if cut < 0:
                    break
                unit, tx = tx[:cut].strip(b"\n"), tx[cut + 1 :]
                if not unit.upper().startswith(b"AT"):
                    continue  # a PDU after the prompt, or an escape
                if awaiting is not None:
                    violations.append(f"{modem}: {unit!r} sent before {awaiting!r} ended")
                awaiting = unit
        else:
            rx += data
            parts = rx.replace(b"\n", b"\r").split(b"\r")
            rx = parts.pop()
            if rx.strip() == b">":
                rx = b""  # the prompt: the PDU may follow
            if any(line.strip().startswith(_FINALS) for line in parts):
                awaiting = None
        state[modem] = (awaiting, tx, rx, started)
    return violations


@contextlib.asynccontextmanager
async def modems(tmp_path: Path, sims: list[ModemSimulator]) -> AsyncIterator[list[Path]]:
    """The simulated modems served on ptys, as the agent finds them: their by-id links."""
    links = [tmp_path / f"by-id-modem{i}" for i in range(len(sims))]
    async with contextlib.AsyncExitStack() as stack:
        for sim, link in zip(sims, links, strict=True):
            await stack.enter_async_context(ModemServer(sim, link))
        yield links


def _check_exactly_once(config: Path, expected: list[tuple[str, str]]) -> None:
    listed = outbox_list(config)
    got = Counter((str(m["modem_imei"]), str(m["text"])) for m in listed)
    assert got == Counter(expected), "every delivered message exactly once, on its modem"
    assert all(not m["partial"] and not m["decode_error"] for m in listed)


@pytest.mark.parametrize(
    ("fsync_ms", "count", "stalls"), [(250, 24, (0.7, 2.0, 0.7)), (1000, 8, (2.0,))]
)
def test_slow_disk_and_stalled_loop_lose_and_double_nothing(
    tmp_path: Path, fsync_ms: int, count: int, stalls: tuple[float, ...]
) -> None:
    rng = random.Random(SEED + fsync_ms)
    transcript = Transcript(keep=200_000)
    sims = [make_sim(40 + i, seed=SEED + i) for i in range(4)]
    for sim in sims:
        sim.transcript = transcript
    fault = FsFault(tmp_path / "disk", tmp_path / "fsfault.ctl")
    (tmp_path / "disk").mkdir()
    expected: list[tuple[str, str]] = []
    restarts: list[datetime] = []

    def deliver(n: int) -> None:
        for _ in range(n):
            i = len(expected)
            sim = sims[i % len(sims)]
            text = f"long {i} " + "x" * 200 if i % 4 == 3 else f"short {i}"
            sim.deliver_text(f"1069{i:04d}", text)
            expected.append((sim.identity.imei, text))

    async def scenario() -> None:
        async with modems(tmp_path, sims) as links:
            config = write_config(
                tmp_path / "disk", links, agent_id="slowdisk", health_s=30, command_timeout_s=10
            )
            fault.set(fsync_delay_ms=fsync_ms)
            log = (tmp_path / "agent.log").open("ab")
            proc = await start_agent(config, log, fault.env())
            restarts.append(sims[0].clock.now())
            deliver(count // 2)
            for stall in stalls:
                await asyncio.sleep(rng.uniform(0.2, 1.5))
                proc.send_signal(signal.SIGSTOP)  # the loop (and everything) stalls
                deliver(1)
                await asyncio.sleep(stall)
                proc.send_signal(signal.SIGCONT)
            # kill -9 in the middle of the traffic, restart on the same slow disk
            await asyncio.sleep(rng.uniform(0.1, 1.0))
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            deliver(count - len(expected))
            proc = await start_agent(config, log, fault.env())
            restarts.append(sims[0].clock.now())
            await eventually(lambda: all_deleted(sims), timeout_s=240, interval_s=0.2)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 60) == 0
            log.close()

    asyncio.run(scenario())
    _check_exactly_once(tmp_path / "disk" / "agent.toml", expected)
    assert commands_before_final(list(transcript.entries), restarts) == []


def _kinds(box: Outbox) -> tuple[list[AgentEvent], list[ModemHealth]]:
    events = [r.body for r in box.records(kinds=("agent_event",)) if isinstance(r.body, AgentEvent)]
    health = [
        r.body for r in box.records(kinds=("modem_health",)) if isinstance(r.body, ModemHealth)
    ]
    return events, health


@pytest.mark.parametrize(
    ("fault_kw", "reason"),
    [
        ({"write_errno": ERRNOS["ENOSPC"]}, "disk_full"),
        ({"write_errno": ERRNOS["EROFS"]}, "io_error"),
        ({"fsync_errno": ERRNOS["EIO"]}, "io_error"),
    ],
)
def test_unwritable_disk_keeps_messages_on_the_sim_and_recovers_by_itself(
    tmp_path: Path, fault_kw: dict[str, int], reason: str
) -> None:
    sims = [make_sim(50 + i, seed=SEED + i) for i in range(2)]
    fault = FsFault(tmp_path / "disk", tmp_path / "fsfault.ctl")
    (tmp_path / "disk").mkdir()
    expected: list[tuple[str, str]] = []

    def deliver(n: int, tag: str) -> None:
        for _ in range(n):
            i = len(expected)
            sim = sims[i % len(sims)]
            text = f"{tag} {i} " + "y" * 180 if i % 3 == 2 else f"{tag} {i}"
            sim.deliver_text(f"1069{i:04d}", text)
            expected.append((sim.identity.imei, text))

    def stored(truth: dict[str, object]) -> bool:
        """This part is in the outbox, as another process reading it sees it."""
        db = sqlite3.connect(tmp_path / "disk" / "outbox.sqlite")
        try:
            pdus = {bytes(r[0]).hex().upper() for r in db.execute("SELECT pdu FROM parts")}
        finally:
            db.close()
        return any(p.endswith(str(truth["pdu"]).upper()) for p in pdus)

    def log_has(event: str) -> bool:
        return f'"{event}"'.encode() in (tmp_path / "agent.log").read_bytes()

    async def scenario() -> None:
        async with modems(tmp_path, sims) as links:
            config = write_config(tmp_path / "disk", links, agent_id="fulldisk", health_s=1)
            log = (tmp_path / "agent.log").open("ab")
            proc = await start_agent(config, log, fault.env())
            deliver(4, "before")
            await eventually(lambda: all_deleted(sims), timeout_s=60)
            fault.set(**fault_kw)
            seen = {(s.name, r["truth_id"]) for s in sims for r in s.truth_records()}

            def unseen() -> list[dict[str, object]]:
                return [
                    r
                    for s in sims
                    for r in s.truth_records()
                    if (s.name, r["truth_id"]) not in seen
                ]

            deliver(6, "during")
            await eventually(lambda: log_has("outbox_write_failed"), timeout_s=30)
            # Absence over time: sweeps every 0.2 s keep failing, nothing is deleted unsaved.
            await asyncio.sleep(2.0)
            assert proc.returncode is None, "the agent stays up while the disk is bad"
            during = unseen()
            assert during and all(stored(r) for r in during if r["deleted_at"])
            if "write_errno" in fault_kw:  # nothing can be stored: nothing may leave the SIM
                assert not any(r["deleted_at"] for r in during)
            # kill -9 while the disk is bad, start again on the bad disk
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            proc = await start_agent(config, log, fault.env())
            deliver(2, "restart")
            await asyncio.sleep(2.0)
            assert proc.returncode is None
            assert len(unseen()) > len(during)
            assert all(stored(r) for r in unseen() if r["deleted_at"])
            fault.set()  # the disk recovers: reading resumes by itself
            await eventually(lambda: all_deleted(sims), timeout_s=60, interval_s=0.2)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 60) == 0
            log.close()

    asyncio.run(scenario())
    _check_exactly_once(tmp_path / "disk" / "agent.toml", expected)
    with Outbox(tmp_path / "disk" / "outbox.sqlite") as box:
        events, health = _kinds(box)
    unwritable = [e for e in events if e.kind == "outbox_unwritable"]
    # The run that was killed never got to record its window; the restarted one records
    # its own from its first failed open (SQLite cannot open a WAL database on a full disk
    # and says "disk I/O error", hence io_error beside the write's own reason).
    assert unwritable and {e.attributes["reason"] for e in unwritable} <= {reason, "io_error"}
    blind = [h for h in health if "outbox_unwritable" in h.reasons]
    # Each modem says it was blind from when the disk failed (probes there: inconclusive).
    assert {h.iccid for h in blind} == {s.identity.iccid for s in sims}
    assert all(not h.healthy for h in blind)


def test_acked_records_never_hold_reading_back(tmp_path: Path) -> None:
    """Outbox pressure counts what the collector does not have: once everything is acked,
    reading resumes although the acked records are still kept (retention) on disk."""

    async def scenario() -> None:
        sim = make_sim(60)
        async with running_agent(tmp_path, [sim], health_s=300, max_bytes=40_000) as agent:
            box = agent.reader
            box.max_bytes = 40_000
            for i in range(60):
                sim.deliver_text("10690001", f"fill {i} " + "z" * 120)
            await eventually(lambda: box.pressure().full, timeout_s=30)
            held = len(agent.messages())
            await eventually(lambda: sim.status()["storage"]["ME"][0] > 0)
            await asyncio.sleep(1.5)  # several sweeps: still paused, the SIM holds the rest
            assert len(agent.messages()) == held < 60
            # The collector acks everything so far (what the uplink does on its acks).
            box.mark_acked(range(1, box.last_seq() + 1))
            assert box.used_bytes() > 0 and box.depth() == 0
            await eventually(lambda: len(agent.messages()) > held, timeout_s=20)

    asyncio.run(scenario())


def test_the_transcript_check_sees_a_command_sent_before_the_final_result() -> None:
    t0 = datetime(2026, 1, 1)
    entries = [
        (t0, "m", "<", b"AT+CMGL=4\r"),
        (t0, "m", ">", b"\r\n+CMGL: 1,0,,24\r\n0791"),
        (t0, "m", "<", b"AT+CMGD=1\r"),  # the listing has not ended yet
        (t0, "m", ">", b"\r\nOK\r\n\r\nOK\r\n"),
        (t0, "m", "<", b"AT+CMGS=24\r"),
        (t0, "m", ">", b"\r\n> "),
        (t0, "m", "<", b"0011000B91\x1a"),
        (t0, "m", ">", b"\r\n+CMGS: 7\r\n\r\nOK\r\n"),
        (t0, "m", "<", b"AT\r"),
    ]
    assert commands_before_final(entries, [t0]) == [
        "m: b'AT+CMGD=1' sent before b'AT+CMGL=4' ended"
    ]
