"""AtChannel over real pyserial on a real pty, answered by a ScriptedPtyPeer.

Covers the framing and failure modes of docs/modems.md: URCs mid-response,
garbage, partial lines, echo on/off, timeouts with late answers, +CME/+CMS, the PDU
prompt, and the device vanishing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from agent.modem.at import AtChannel, FileTranscript, MemoryTranscript, Urc
from agent.modem.errors import AtError, AtTimeoutError, CmeError, CmsError, PortGoneError
from agent.modem.transport import SerialByteStream
from tests.agent.modem.peer import Responder, ScriptedPtyPeer, final, ok

Body = Callable[[AtChannel, ScriptedPtyPeer], Awaitable[None]]


def run(responder: Responder, body: Body, **channel_kw: object) -> None:
    async def main() -> None:
        with ScriptedPtyPeer(responder) as peer:
            channel = AtChannel(SerialByteStream(peer.path), **channel_kw)  # type: ignore[arg-type]
            await channel.start()
            try:
                await body(channel, peer)
            finally:
                await channel.close()

    asyncio.run(main())


async def wait_for(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll with a deadline (for effects that have no awaitable of their own)."""
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.005)


def test_simple_command_echo_on_strips_echo() -> None:
    def responder(cmd: str) -> bytes:
        return cmd.encode() + b"\r" + ok("+CSQ: 21,99")

    async def body(ch: AtChannel, peer: ScriptedPtyPeer) -> None:
        resp = await ch.command("AT+CSQ", timeout_s=5)
        assert resp.lines == ("+CSQ: 21,99",)
        assert resp.final == "OK"
        assert peer.commands == ["AT+CSQ"]

    run(responder, body)


def test_urcs_inside_multiline_response_are_routed_not_collected() -> None:
    pdu = "0891683108200505F00405A10180F60008621010000000001030104E2D56FD79FB52A8301160A8597D"

    def responder(cmd: str) -> bytes:
        return (
            b"\r\n+CMGL: 0,0,,32\r\n" + pdu.encode() + b"\r\n"
            b'\r\n+CMTI: "SM",5\r\n'
            b"\r\n^RSSI:17\r\n"
            b"\r\n+CMGL: 2,1,,32\r\n" + pdu.encode() + b"\r\n"
            b"\r\nOK\r\n"
        )

    async def body(ch: AtChannel, peer: ScriptedPtyPeer) -> None:
        seen: list[Urc] = []
        ch.on_urc(["+CMTI"], seen.append)
        rssi: list[Urc] = []
        ch.on_urc(["^RSSI"], rssi.append)
        resp = await ch.command("AT+CMGL=4", timeout_s=5)
        assert resp.lines == ("+CMGL: 0,0,,32", pdu, "+CMGL: 2,1,,32", pdu)
        assert seen == [Urc('+CMTI: "SM",5')]
        assert rssi == [Urc("^RSSI:17")]

    run(responder, body)


def test_partial_lines_across_reads_and_garbage_before_response() -> None:
    def responder(cmd: str) -> list[bytes | float]:
        return [
            b"\x00\xffgar\xfe\x81bage\r\n\xff\xff\r\n+CS",
            0.02,
            b"Q: 2",
            0.02,
            b"1,99\r",
            0.02,
            b"\n\r\nOK\r\n",
        ]

    async def body(ch: AtChannel, peer: ScriptedPtyPeer) -> None:
        noise: list[str] = []
        ch.on_noise(noise.append)
        resp = await ch.command("AT+CSQ", timeout_s=5)
        assert resp.lines == ("+CSQ: 21,99",)
        # Leading junk is stripped (prefixes still match); junk inside a line makes it noise.
        assert len(noise) == 1 and noise[0].startswith("gar") and noise[0].endswith("bage")

    run(responder, body)


def test_cme_and_cms_errors_raise_typed_errors() -> None:
    def responder(cmd: str) -> bytes:
        if cmd == "AT+CPIN?":
            return final("+CME ERROR: 10")
        if cmd == "AT+CMGR=9":
            return final("+CMS ERROR: 321")
        return final("ERROR")

    async def body(ch: AtChannel, peer: ScriptedPtyPeer) -> None:
        with pytest.raises(CmeError) as cme:
            await ch.command("AT+CPIN?", timeout_s=5)
        assert cme.value.code == 10 and not cme.value.transient
        with pytest.raises(CmsError) as cms:
            await ch.command("AT+CMGR=9", timeout_s=5)
        assert cms.value.empty_slot
        with pytest.raises(AtError) as plain:
            await ch.command("AT+FOO", timeout_s=5)
        assert plain.value.final == "ERROR"

    run(responder, body)


def test_timeout_then_late_answer_is_not_taken_for_the_next_command() -> None:
    late: list[bytes] = []

    def responder(cmd: str) -> bytes | None:
        if cmd == "AT+SLOW":
            late.append(b"\r\n+SLOW: 1\r\n\r\nOK\r\n")
            return None  # answers only later
        if cmd == "AT":
            # The stale answer of AT+SLOW arrives first, then the OK for this AT.
            return (late.pop() if late else b"") + ok()
        if cmd == "AT+CSQ":
            return ok("+CSQ: 10,0")
        return final("ERROR")

    async def body(ch: AtChannel, peer: ScriptedPtyPeer) -> None:
        with pytest.raises(AtTimeoutError) as info:
            await ch.command("AT+SLOW", timeout_s=0.2)
        assert info.value.command == "AT+SLOW"
        resp = await ch.command("AT+CSQ", timeout_s=5)
        assert resp.lines == ("+CSQ: 10,0",)
        assert peer.commands == ["AT+SLOW", "AT", "AT+CSQ"]

    run(responder, body, resync_settle_s=0.1)


def test_pdu_prompt_then_hex_and_ctrl_z() -> None:
    def responder(cmd: str) -> bytes:
        if cmd.startswith("AT+CMGS="):
            return cmd.encode() + b"\r\r\n> "  # echo on, prompt without line end
        if cmd.startswith("<PDU>"):
            # Echo of the PDU (ends in Ctrl-Z) then the answer.
            return cmd[5:].encode() + b"\x1a" + ok("+CMGS: 42")
        return ok()

    async def body(ch: AtChannel, peer: ScriptedPtyPeer) -> None:
        resp = await ch.command("AT+CMGS=13", timeout_s=5, pdu=bytes.fromhex("0011000B916183"))
        assert resp.lines == ("+CMGS: 42",)
        assert peer.commands == ["AT+CMGS=13", "<PDU>0011000B916183"]

    run(responder, body)


def test_pdu_command_rejected_before_prompt() -> None:
    async def body(ch: AtChannel, peer: ScriptedPtyPeer) -> None:
        with pytest.raises(CmsError) as info:
            await ch.command("AT+CMGS=13", timeout_s=5, pdu="0011")
        assert info.value.code == 304
        assert peer.commands == ["AT+CMGS=13"]  # the PDU was never written

    run(lambda cmd: final("+CMS ERROR: 304"), body)


def test_prompt_timeout_sends_escape() -> None:
    def responder(cmd: str) -> bytes | None:
        return b"\r\n> " if cmd.startswith("AT+CMGS") else None

    async def body(ch: AtChannel, peer: ScriptedPtyPeer) -> None:
        with pytest.raises(AtTimeoutError):
            await ch.command("AT+CMGS=2", timeout_s=0.3, pdu="0011")
        await wait_for(lambda: "<PDU>0011" in peer.commands)

    run(responder, body)


def test_prompt_with_a_urc_right_behind_it_in_one_write() -> None:
    def responder(cmd: str) -> bytes:
        if cmd.startswith("AT+CMGS="):
            return b'\r\n> \r\n+CMTI: "SM",0\r\n'
        if cmd.startswith("<PDU>"):
            return ok("+CMGS: 7")
        return ok()

    async def body(ch: AtChannel, peer: ScriptedPtyPeer) -> None:
        seen: list[Urc] = []
        ch.on_urc(["+CMTI"], seen.append)
        resp = await ch.command("AT+CMGS=2", timeout_s=30, pdu="0011")
        assert resp.lines == ("+CMGS: 7",)
        assert [u.line for u in seen] == ['+CMTI: "SM",0']

    run(responder, body)


def test_a_missing_prompt_fails_fast_not_after_the_send_timeout() -> None:
    # No prompt: give up after the prompt timeout (and ESC), not the long send timeout —
    # the channel is shared with the receiver, which must not starve behind a canary.
    def responder(cmd: str) -> bytes | None:
        return None if cmd.startswith("AT+CMGS") else ok()

    async def body(ch: AtChannel, peer: ScriptedPtyPeer) -> None:
        with pytest.raises(AtTimeoutError) as info:
            await ch.command("AT+CMGS=2", timeout_s=60, pdu="0011", prompt_timeout_s=0.3)
        assert (info.value.command, info.value.timeout_s) == ("AT+CMGS=2 (PDU prompt)", 0.3)
        assert (await ch.command("AT", timeout_s=5)).final == "OK"
        assert "<PDU>0011" not in peer.commands

    run(responder, body, resync_settle_s=0.05)


def test_direct_pdu_urc_with_a_urc_between_header_and_pdu() -> None:
    pdu = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"

    async def body(ch: AtChannel, peer: ScriptedPtyPeer) -> None:
        seen: list[Urc] = []
        ch.on_urc([""], seen.append)
        peer.write(b"\r\n+CMT: ,24\r\n\r\n^RSSI:12\r\n" + pdu.encode() + b"\r\n")
        peer.write(b"\r\n+CDS: 25\r\n07911326040000F006")
        peer.write(b"0D\r\n")
        await wait_for(lambda: len(seen) == 3)
        assert seen[0] == Urc("^RSSI:12")
        assert seen[1] == Urc("+CMT: ,24", bytes.fromhex(pdu))
        assert seen[2] == Urc("+CDS: 25", bytes.fromhex("07911326040000F0060D"))

    run(lambda cmd: ok(), body)


def test_direct_pdu_urc_without_pdu_line_is_still_reported() -> None:
    async def body(ch: AtChannel, peer: ScriptedPtyPeer) -> None:
        seen: list[Urc] = []
        ch.on_urc(["+CMT"], seen.append)
        peer.write(b"\r\n+CMT: ,24\r\n")
        resp = await ch.command("AT+CSQ", timeout_s=5)  # the OK interrupts the pending +CMT
        assert resp.final == "OK"
        assert seen == [Urc("+CMT: ,24", None)]

    run(lambda cmd: ok("+CSQ: 1,1"), body)


def test_echo_returning_after_reboot_is_ignored() -> None:
    echo = {"on": False}

    def responder(cmd: str) -> bytes:
        prefix = cmd.encode() + b"\r" if echo["on"] else b""
        return prefix + ok("+CSQ: 5,5") if cmd == "AT+CSQ" else prefix + ok()

    async def body(ch: AtChannel, peer: ScriptedPtyPeer) -> None:
        assert (await ch.command("AT+CSQ", timeout_s=5)).lines == ("+CSQ: 5,5",)
        echo["on"] = True  # silent reboot: echo back on
        assert (await ch.command("AT+CSQ", timeout_s=5)).lines == ("+CSQ: 5,5",)

    run(responder, body)


def test_concurrent_commands_are_serialised() -> None:
    def responder(cmd: str) -> list[bytes | float]:
        n = cmd.removeprefix("AT+N")
        return [b"\r\n+N: " + n.encode(), 0.01, b"\r\n\r\nOK\r\n"]

    async def body(ch: AtChannel, peer: ScriptedPtyPeer) -> None:
        results = await asyncio.gather(*(ch.command(f"AT+N{i}", timeout_s=5) for i in range(5)))
        assert [r.lines for r in results] == [(f"+N: {i}",) for i in range(5)]

    run(responder, body)


def test_port_gone_mid_command_fails_now_and_later() -> None:
    async def body(ch: AtChannel, peer: ScriptedPtyPeer) -> None:
        task = asyncio.create_task(ch.command("AT+HANG", timeout_s=30))
        await wait_for(lambda: peer.commands == ["AT+HANG"])
        peer.unplug()
        with pytest.raises(PortGoneError):
            await task
        assert ch.closed is not None
        reason = await ch.closed
        assert isinstance(reason, PortGoneError)
        assert not ch.alive
        with pytest.raises(PortGoneError):
            await ch.command("AT", timeout_s=1)

    run(lambda cmd: None, body)


def test_transcript_records_both_directions(tmp_path: Path) -> None:
    memory = MemoryTranscript()
    path = tmp_path / "at.log"
    file = FileTranscript(path)

    class Both:
        def record(self, direction: str, data: bytes, at: float) -> None:
            memory.record(direction, data, at)
            file.record(direction, data, at)

    async def body(ch: AtChannel, peer: ScriptedPtyPeer) -> None:
        await ch.command("AT", timeout_s=5)

    run(lambda cmd: ok(), body, transcript=Both(), wall_clock=lambda: 1000.5)
    file.close()
    assert [(d, data) for _, d, data in memory.entries] == [("out", b"AT\r"), ("in", b"\r\nOK\r\n")]
    assert path.read_text() == "1000.500000 out b'AT\\r'\n1000.500000 in b'\\r\\nOK\\r\\n'\n"


def test_regression_huawei_e3372_rssi_flood_gammu_111() -> None:
    # gammu #111: an E3372 prints ^RSSI:25 endlessly, also inside command responses.
    def responder(cmd: str) -> list[bytes | float]:
        return [
            b"\r\n^RSSI:25\r\n\r\n+CPMS: ",
            0.01,
            b'"SM",1,50,"SM",1,50,"SM",1,50\r\n\r\n^RSSI:25\r\n',
            0.01,
            b"\r\n^RSSI:25\r\n\r\nOK\r\n\r\n^RSSI:25\r\n",
        ]

    async def body(ch: AtChannel, peer: ScriptedPtyPeer) -> None:
        rssi: list[Urc] = []
        ch.on_urc(["^RSSI"], rssi.append)
        resp = await ch.command("AT+CPMS?", timeout_s=5)
        assert resp.lines == ('+CPMS: "SM",1,50,"SM",1,50,"SM",1,50',)
        await wait_for(lambda: len(rssi) == 4)

    run(responder, body)


def test_regression_python_gsmmodem_56_doubled_echo() -> None:
    # python-gsmmodem #56: the module answered 'ATE0\rATE0\r' before OK.
    async def body(ch: AtChannel, peer: ScriptedPtyPeer) -> None:
        resp = await ch.command("ATE0", timeout_s=5)
        assert resp.lines == ()
        assert ch.echoes == 2

    run(lambda cmd: b"ATE0\rATE0\r\r\nOK\r\n", body)
