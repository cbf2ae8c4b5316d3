"""GsmModem features over a real pty, answered by a ScriptedPtyPeer.

Vendor behaviours that the simulator may not reproduce one by one (CNMI/CPMS fallbacks,
empty-slot answers, verbose errors) are scripted here; the full flows run against the
simulator in test_with_sim.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest
import structlog

from agent.modem.at import AtChannel, Urc
from agent.modem.errors import AtError, CmsError
from agent.modem.events import (
    DirectPdu,
    ModemBooted,
    ModemEvent,
    NewMessage,
    Noise,
    PortLost,
    RegistrationChanged,
    SimChanged,
    StorageFull,
)
from agent.modem.gsm import GsmModem, SimState, StoredPdu, event_from_urc
from agent.modem.profiles import ModemProfile, load_profiles
from agent.modem.transport import SerialByteStream
from agent.receive.gsm_session import GsmSession
from tests.agent.modem.peer import ScriptedPtyPeer, final, ok

PROFILES = load_profiles()
PDU = "0891683108200505F00405A10180F60008621010000000001030104E2D56FD79FB52A8301160A8597D"


class TinyModem:
    """Answers from a table; unknown commands get OK. `table[cmd]` may be bytes or a
    callable. The table is edited by the test between commands (same process)."""

    def __init__(self, table: dict[str, bytes | Callable[[], bytes | None]] | None = None) -> None:
        self.table: dict[str, bytes | Callable[[], bytes | None]] = dict(table or {})

    def __call__(self, cmd: str) -> bytes | None:
        answer = self.table.get(cmd, ok())
        return answer() if callable(answer) else answer


Body = Callable[[GsmModem, ScriptedPtyPeer, "asyncio.Queue[ModemEvent]"], Awaitable[None]]


def run(responder: TinyModem, body: Body, profile: ModemProfile = PROFILES["generic"]) -> None:
    async def main() -> None:
        with ScriptedPtyPeer(responder) as peer:
            channel = AtChannel(SerialByteStream(peer.path))
            await channel.start()
            events: asyncio.Queue[ModemEvent] = asyncio.Queue(maxsize=100)
            modem = GsmModem(channel, profile, events=events)
            try:
                await body(modem, peer, events)
            finally:
                await channel.close()

    asyncio.run(main())


def test_initialise_falls_back_on_rejected_cnmi_and_cpms() -> None:
    tiny = TinyModem(
        {
            'AT+CPMS="ME","ME","ME"': final("+CMS ERROR: 303"),  # ME refused as mem3
            'AT+CPMS="ME","ME"': ok("+CPMS: 0,50,0,50"),
            "AT+CNMI=2,1,0,2,0": final("+CMS ERROR: 303"),  # Qualcomm: ds=2 refused
            'AT+QURCCFG="urcport","usbat"': final("ERROR"),
        }
    )

    async def body(modem: GsmModem, peer: ScriptedPtyPeer, events: object) -> None:
        report = await modem.initialise()
        assert report.cnmi == "2,1,0,1,0"
        assert [(s.storage, s.used, s.total) for s in report.storages] == [("ME", 0, 50)] * 2
        assert report.optional_failed == ('AT+QURCCFG="urcport","usbat"',)
        assert peer.commands[:3] == ["ATE0", "AT+CMEE=1", "AT+CMGF=0"]

    run(tiny, body, PROFILES["quectel_ec25"])


def test_initialise_raises_transient_when_sms_not_ready() -> None:
    tiny = TinyModem({'AT+CPMS="SM","SM","SM"': final("+CMS ERROR: 314")})

    async def body(modem: GsmModem, peer: ScriptedPtyPeer, events: object) -> None:
        with pytest.raises(CmsError) as info:
            await modem.initialise()
        assert info.value.transient  # the caller retries with backoff until SMS ready

    run(tiny, body)


def test_identify_quectel_ec25_transcript() -> None:
    tiny = TinyModem(
        {
            "AT+CGMI": ok("Quectel"),
            "AT+CGMM": ok("EC25"),
            "AT+CGMR": ok("Revision: EC25EFAR06A06M4G"),
            "AT+CGSN": ok("866758041234567"),
            "AT+CIMI": ok("460011234567890"),
            "AT+QCCID": ok("+QCCID: 89860118801234567890"),
            "AT+CNUM": ok(),  # MSISDN not written on the SIM: the norm in China
            "AT+COPS?": ok('+COPS: 0,2,"46001",7'),
        }
    )

    async def body(modem: GsmModem, peer: ScriptedPtyPeer, events: object) -> None:
        ident = await modem.identify()
        assert (ident.manufacturer, ident.model, ident.firmware) == (
            "Quectel",
            "EC25",
            "EC25EFAR06A06M4G",
        )
        assert (ident.imei, ident.imsi, ident.iccid) == (
            "866758041234567",
            "460011234567890",
            "89860118801234567890",
        )
        assert (ident.msisdn, ident.operator_mcc_mnc) == ("", "46001")
        assert "AT+COPS=3,2" in peer.commands  # numeric format requested before the query

    run(tiny, body, PROFILES["quectel_ec25"])


def test_identify_without_sim_and_iccid_fallback_chain() -> None:
    tiny = TinyModem(
        {
            "AT+CGMI": ok("Fibocom"),
            "AT+CGMM": ok("L610"),
            "AT+CGMR": ok("16000.1000.00.01"),
            "AT+CGSN": ok("+CGSN: 861234567890123"),
            "AT+CIMI": final("+CME ERROR: 10"),
            "AT+CCID": final("ERROR"),
            "AT+ICCID": final("ERROR"),
            "AT+CRSM=176,12258,0,0,10": ok('+CRSM: 144,0,"98681031098310024233"'),
            "AT+CNUM": final("+CME ERROR: 10"),
            "AT+COPS?": ok("+COPS: 0"),
        }
    )

    async def body(modem: GsmModem, peer: ScriptedPtyPeer, events: object) -> None:
        ident = await modem.identify()
        assert (ident.imsi, ident.msisdn, ident.operator_mcc_mnc) == ("", "", "")
        assert ident.iccid == "89860113903801202433"

    run(tiny, body)


def test_read_message_empty_slot_variants_and_real_message() -> None:
    tiny = TinyModem(
        {
            "AT+CMGR=0": ok("+CMGR: 0,,32", PDU),  # index 0 is valid
            "AT+CMGR=1": ok(),  # empty: bare OK
            "AT+CMGR=2": final("+CMS ERROR: 321"),
            "AT+CMGR=3": final("+CMS ERROR: 500"),
        }
    )

    async def body(modem: GsmModem, peer: ScriptedPtyPeer, events: object) -> None:
        msg = await modem.read_message("SM", 0)
        assert msg is not None and (msg.storage, msg.index, msg.stat, msg.pdu) == (
            "SM",
            0,
            0,
            bytes.fromhex(PDU),
        )
        assert await modem.read_message("SM", 1) is None
        assert await modem.read_message("SM", 2) is None
        # Generic profile: CMS 500 is a real error, not an empty slot.
        with pytest.raises(CmsError):
            await modem.read_message("SM", 3)
        assert peer.commands.count('AT+CPMS="SM"') == 1  # mem1 switched once

    run(tiny, body)


def test_huawei_cms500_on_empty_slot_is_empty() -> None:
    tiny = TinyModem({"AT+CMGR=3": final("+CMS ERROR: 500")})

    async def body(modem: GsmModem, peer: ScriptedPtyPeer, events: object) -> None:
        assert await modem.read_message("SM", 3) is None

    run(tiny, body, PROFILES["huawei_e3372"])


def test_delete_is_idempotent_and_real_errors_propagate() -> None:
    tiny = TinyModem({"AT+CMGD=4": final("+CMS ERROR: 321"), "AT+CMGD=5": final("+CMS ERROR: 320")})

    async def body(modem: GsmModem, peer: ScriptedPtyPeer, events: object) -> None:
        await modem.delete_message("ME", 3)
        await modem.delete_message("ME", 4)  # already gone: success
        with pytest.raises(CmsError) as info:
            await modem.delete_message("ME", 5)
        assert info.value.code == 320

    run(tiny, body)


def test_list_switches_storage_per_urc_memory_and_after_reboot() -> None:
    tiny = TinyModem({"AT+CMGL=4": ok("+CMGL: 7,1,,32", PDU, "+CMGL: 0,0,,32", PDU)})

    async def body(
        modem: GsmModem, peer: ScriptedPtyPeer, events: asyncio.Queue[ModemEvent]
    ) -> None:
        listed = await modem.list_messages("sm")
        assert [(m.storage, m.index, m.stat) for m in listed.messages] == [
            ("SM", 7, 1),
            ("SM", 0, 0),
        ]
        assert listed.unparsed == ()
        await modem.list_messages("ME")
        await modem.list_messages("ME")
        peer.write(b"\r\nRDY\r\n")  # reboot: CPMS is volatile
        assert await asyncio.wait_for(events.get(), 5) == ModemBooted("RDY")
        await modem.list_messages("ME")
        cpms = [c for c in peer.commands if c.startswith("AT+CPMS")]
        assert cpms == ['AT+CPMS="SM"', 'AT+CPMS="ME"', 'AT+CPMS="ME"']

    run(tiny, body)


def test_list_keeps_unparsable_entries_raw_and_the_session_never_returns_them() -> None:
    # Entry 5's PDU line is cut by line noise; the entries around it must still be read,
    # and slot 5 must never reach the receiver (it deletes only what it persisted).
    tiny = TinyModem(
        {
            "AT+CMGL=4": ok(
                "+CMGL: 7,1,,32", PDU, "+CMGL: 5,0,,32", "0891683108GARBLED", "+CMGL: 0,0,,32", PDU
            )
        }
    )

    async def body(modem: GsmModem, peer: ScriptedPtyPeer, events: object) -> None:
        listed = await modem.list_messages("SM")
        assert [m.index for m in listed.messages] == [7, 0]
        assert [(u.index, u.lines) for u in listed.unparsed] == [
            (5, ("+CMGL: 5,0,,32", "0891683108GARBLED"))
        ]
        session = GsmSession(modem, modem.channel, lambda event: None)
        with structlog.testing.capture_logs() as logs:
            stored = await session.list_messages("SM")
        assert [s.index for s in stored] == [7, 0]
        reported = [e for e in logs if e["event"] == "sms_listing_entry_unparsed"]
        assert [(e["storage"], e["index"], e["log_level"]) for e in reported] == [
            ("SM", 5, "warning")
        ]
        assert reported[0]["lines"] == ["+CMGL: 5,0,,32", "0891683108GARBLED"]

    run(tiny, body)


def test_urcs_become_typed_events() -> None:
    async def body(
        modem: GsmModem, peer: ScriptedPtyPeer, events: asyncio.Queue[ModemEvent]
    ) -> None:
        peer.write(
            b'\r\n+CMTI: "ME",0\r\n'
            b'\r\n+CDSI: "SR",2\r\n'
            b"\r\n+CMT: ,32\r\n" + PDU.encode() + b"\r\n"
            b"\r\n+QIND: SMS DONE\r\n"
            b'\r\n+QIND: "csq",20,99\r\n'
            b'\r\n+CEREG: 1,"1A2B","0C3D4E5F",7\r\n'
            b"\r\n+CPIN: NOT INSERTED\r\n"
            b"\r\n+SMS FULL\r\n"
        )
        got = [await asyncio.wait_for(events.get(), 5) for _ in range(8)]
        assert got[0] == NewMessage("ME", 0, "sms")
        assert got[1] == NewMessage("SR", 2, "status")
        assert got[2] == DirectPdu("sms", bytes.fromhex(PDU), "+CMT: ,32")
        assert got[3] == ModemBooted("+QIND: SMS DONE", sms_ready=True)
        assert got[4] == Noise('+QIND: "csq",20,99')
        assert isinstance(got[5], RegistrationChanged) and got[5].registration.act == 7
        assert got[6] == SimChanged("+CPIN: NOT INSERTED")
        assert got[7] == StorageFull("+SMS FULL")

    run(TinyModem(), body, PROFILES["quectel_ec25"])


def test_event_from_urc_is_pure_and_tolerant() -> None:
    generic = PROFILES["generic"]
    assert event_from_urc(Urc("+CMTI: garbage"), generic) == Noise("+CMTI: garbage")
    assert event_from_urc(Urc("^BOOT:1234,0,0,0,23"), generic) == ModemBooted("^BOOT:1234,0,0,0,23")
    assert event_from_urc(Urc("+CDS: 25", None), generic) == DirectPdu("status", None, "+CDS: 25")
    assert event_from_urc(Urc("SMS Ready"), PROFILES["simcom_sim800"]) == ModemBooted(
        "SMS Ready", True
    )


def test_settings_lost_detects_silent_reboot() -> None:
    state = {"cnmi": "+CNMI: 2,1,0,2,0", "cmgf": "+CMGF: 0"}
    tiny = TinyModem({"AT+CNMI?": lambda: ok(state["cnmi"]), "AT+CMGF?": lambda: ok(state["cmgf"])})

    async def body(modem: GsmModem, peer: ScriptedPtyPeer, events: object) -> None:
        assert await modem.settings_lost()  # never initialised
        await modem.initialise()
        assert not await modem.settings_lost()
        state["cnmi"] = "+CNMI: 0,0,0,0,0"  # defaults after a brown-out reboot
        assert await modem.settings_lost()
        state["cnmi"], state["cmgf"] = "+CNMI: 2,1,0,2,0", "+CMGF: 1"
        assert await modem.settings_lost()

    run(tiny, body)


def test_health_readings() -> None:
    tiny = TinyModem(
        {
            "AT+CSQ": ok("+CSQ: 99,99"),  # LTE firmware that never fills CSQ
            "AT+CESQ": ok("+CESQ: 99,99,255,255,20,80"),
            "AT+CREG?": ok("+CREG: 2,0"),
            "AT+CGREG?": final("ERROR"),
            "AT+CEREG?": ok('+CEREG: 2,1,"1F00","79D903",7'),
            "AT+C5GREG?": final("+CME ERROR: 4"),
            "AT+CPIN?": final("+CME ERROR: 10"),
            "AT+CPMS?": ok('+CPMS: "ME",3,50,"ME",3,50,"ME",3,50'),
        }
    )

    async def body(modem: GsmModem, peer: ScriptedPtyPeer, events: object) -> None:
        sig = await modem.signal()
        assert (sig.rssi_dbm, sig.rsrp_dbm, sig.rsrq_db) == (None, -61.0, -10.0)
        reg = await modem.registration()
        assert [r.domain for r in reg.entries] == ["CREG", "CEREG"]
        assert reg.registered and reg.act == 7  # LTE-only: CREG 0, CEREG 1
        sim = await modem.sim_state()
        assert sim.state is SimState.NOT_INSERTED
        uses = await modem.storage_status()
        assert uses[0].used == 3 and uses[0].total == 50

    run(tiny, body)


def test_send_pdu_returns_message_reference() -> None:
    def cmgs() -> bytes:
        return b"\r\n> "

    tiny = TinyModem({"AT+CMGS=12": cmgs})
    tiny.table["<PDU>0011000B918136"] = ok("+CMGS: 77")

    async def body(modem: GsmModem, peer: ScriptedPtyPeer, events: object) -> None:
        assert await modem.send_pdu(bytes.fromhex("0011000B918136"), 12) == 77

    run(tiny, body)


def test_ping_reset_and_port_lost() -> None:
    holder: list[ScriptedPtyPeer] = []

    def cfun() -> None:
        holder[0].unplug()  # USB modem re-enumerates before the OK

    tiny = TinyModem({"AT+CFUN=1,1": cfun})

    async def body(
        modem: GsmModem, peer: ScriptedPtyPeer, events: asyncio.Queue[ModemEvent]
    ) -> None:
        holder.append(peer)
        watcher = asyncio.create_task(modem.watch_port())
        assert await modem.ping()
        await modem.reset()  # no exception: vanishing is the expected outcome
        await asyncio.wait_for(watcher, 5)
        lost = await asyncio.wait_for(events.get(), 5)
        assert isinstance(lost, PortLost)
        assert not await modem.ping(timeout_s=0.5)

    profile = replace(
        PROFILES["generic"], timeouts=replace(PROFILES["generic"].timeouts, reset_s=5.0)
    )
    run(tiny, body, profile)


def test_ack_direct_tolerates_cms_340_only() -> None:
    state = {"answer": final("+CMS ERROR: 340")}
    tiny = TinyModem({"AT+CNMA": lambda: state["answer"]})

    async def body(modem: GsmModem, peer: ScriptedPtyPeer, events: object) -> None:
        await modem.ack_direct()
        state["answer"] = final("+CMS ERROR: 500")
        with pytest.raises(AtError):
            await modem.ack_direct()

    run(tiny, body)


def test_settings_lost_when_echo_returns_after_init() -> None:
    echo = {"on": False}

    def answer(cmd: str) -> bytes:
        body = (
            ok("+CNMI: 2,1,0,2,0")
            if cmd == "AT+CNMI?"
            else ok("+CMGF: 0")
            if cmd == "AT+CMGF?"
            else ok()
        )
        return (cmd.encode() + b"\r" if echo["on"] else b"") + body

    class Echoing(TinyModem):
        def __call__(self, cmd: str) -> bytes | None:
            return answer(cmd)

    async def body(modem: GsmModem, peer: ScriptedPtyPeer, events: object) -> None:
        await modem.initialise()
        assert not await modem.settings_lost()
        echo["on"] = True  # brown-out reboot: ATE0 forgotten, CNMI happens to match
        assert await modem.ping()
        assert await modem.settings_lost()

    run(Echoing(), body)


def test_concurrent_storage_operations_never_act_on_the_wrong_memory() -> None:
    state = {"mem1": "SM"}

    def cpms(mem: str) -> Callable[[], bytes]:
        def answer() -> bytes:
            state["mem1"] = mem
            return ok("+CPMS: 1,20,1,20,1,20")

        return answer

    tiny = TinyModem(
        {
            'AT+CPMS="SM"': cpms("SM"),
            'AT+CPMS="ME"': cpms("ME"),
            # Slot 1 holds a message only in SM; in ME it is empty.
            "AT+CMGR=1": lambda: ok("+CMGR: 0,,32", PDU) if state["mem1"] == "SM" else ok(),
            "AT+CMGL=4": lambda: ok(),
        }
    )

    async def body(modem: GsmModem, peer: ScriptedPtyPeer, events: object) -> None:
        jobs: list[Awaitable[object]] = []
        for _ in range(10):
            jobs.append(modem.read_message("SM", 1))
            jobs.append(modem.list_messages("ME"))
        results = await asyncio.gather(*jobs)
        reads = results[0::2]
        assert all(isinstance(r, StoredPdu) and r.pdu == bytes.fromhex(PDU) for r in reads)

    run(tiny, body)
