"""The simulated carrier network behind every simulated vendor.

Over 500 lines on purpose: `CarrierNetwork` plays each message's life (delivery, receipts,
pushes) on one simulated clock and keeps the ground truth; the fronts are apart.

A vendor front-end (HTTP API, SMPP server) calls `CarrierNetwork.submit`; the network applies
the vendor's submit policy, decides the message's fate from the scenario knobs (seeded), and
then plays it out on the simulated clock: the SMS reaches the target SIM's modem as real
SMS-DELIVER PDUs (106 sender, 【signature】, UDH split by the 70/67 rule, SCTS from the
network clock, docs/modems.md), the vendor reports DLRs through its outlet, and one
ground-truth line records what really happened. Routing is by MSISDN to the subscriber's
modem, so ported numbers land where they live.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import zlib
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

import structlog

from agent.common.logs import mask_msisdn
from agent.modem.simulator.control import ModemSimulatorControlError
from agent.sms import encode_deliver
from collector.vendors.base import ContentProfile, DlrStatus, RejectReason, sms_parts
from collector.vendors.simulator.channels import Channel, as_truth, events_between, sender_of
from collector.vendors.simulator.scenario import (
    CHINA_TZ,
    Carrier,
    DailyCaps,
    Fate,
    FateKind,
    Knobs,
    OutageMode,
    PlannedDlr,
    Scenario,
    SubmitCheck,
    TokenBucket,
    VendorProtocol,
    VendorScenario,
    carrier_for_msisdn,
    check_submit,
    decide_fate,
    render_template,
)
from collector.vendors.simulator.truth import SentReceipt, TruthLog, TruthRecord, iso, vendor_claim

__all__ = [
    "Accepted",
    "CarrierNetwork",
    "DeliveredSms",
    "DlrOutlet",
    "EncodedSms",
    "ModemControlSink",
    "ModemSink",
    "RecordingModemSink",
    "Refused",
    "SimulatedDlr",
    "SimulatorClock",
    "encode_sms",
]

if TYPE_CHECKING:
    from agent.modem.simulator.control import ModemSimulatorControl

log = structlog.get_logger(__name__)


class SimulatorClock:
    """Simulated network time: starts at `start` and runs `speedup` times faster than the
    event loop's monotonic clock. Latencies in the scenario are simulated seconds. `now()`
    reads in `tz`, the scenario's zone: its hour is the one peak bands and marketing hours
    are held to."""

    def __init__(
        self, speedup: float = 1.0, start: datetime | None = None, tz: tzinfo = CHINA_TZ
    ) -> None:
        self._speedup = speedup
        self._tz = tz
        self._start = (start or datetime.now(UTC)).astimezone(UTC)
        self._t0: float | None = None

    def _loop_time(self) -> float:
        loop_now = asyncio.get_running_loop().time()
        if self._t0 is None:
            self._t0 = loop_now
        return loop_now

    def anchor(self) -> None:
        """Start the simulated clock now (idempotent); front-ends call it when they listen, so
        scenario times such as outage windows count from then, not from the first submit."""
        self._loop_time()

    def elapsed_s(self) -> float:
        now = self._loop_time()
        assert self._t0 is not None
        return (now - self._t0) * self._speedup

    def now(self) -> datetime:
        # Add in UTC, then convert: right across a daylight-saving change too.
        return (self._start + timedelta(seconds=self.elapsed_s())).astimezone(self._tz)

    async def sleep_until(self, elapsed_s: float) -> None:
        """Wait until the simulated clock reads `elapsed_s` since start."""
        remaining = elapsed_s - self.elapsed_s()
        if remaining > 0:
            await asyncio.sleep(remaining / self._speedup)


@dataclass(frozen=True, slots=True)
class SimulatedDlr:
    """A DLR the simulated vendor sends to its client (HTTP push/pull or SMPP deliver_sm)."""

    vendor: str
    message_id: str
    msisdn: str
    status: DlrStatus
    err: str
    submitted_at: datetime
    done_at: datetime
    text: str


class DlrOutlet(Protocol):
    """The vendor front-end that reports DLRs to the vendor's client."""

    async def emit(self, dlr: SimulatedDlr) -> bool:
        """Send one receipt. False when nothing went out (the vendor's report format has no
        such state, or there is no one to send it to): the truth records only what did."""
        ...


class ModemSink(Protocol):
    """The handset side: hand one SMS (already encoded as SMS-DELIVER PDUs) to a modem.
    False = receiver down (unplugged, unregistered, no SIM): the network could not deliver."""

    async def deliver(self, modem: str, sms: EncodedSms) -> bool: ...


# SMSC addresses per carrier, shaped like the ones seen in the wild (docs/modems.md);
# receivers must not validate them.
_SMSC = {
    Carrier.CMCC: "+8613800100500",
    Carrier.CUCC: "+8613010112500",
    Carrier.CTCC: "+8613800100569",
    Carrier.CBN: "+8619200100500",
    Carrier.UNKNOWN: "+8613800100500",
}


@dataclass(frozen=True, slots=True)
class EncodedSms:
    """One SMS as the carrier sends it to the handset: SMS-DELIVER PDUs incl. SMSC field."""

    sender: str
    text: str
    scts: datetime
    pdus: tuple[bytes, ...]


def encode_sms(
    sender: str,
    text: str,
    scts: datetime,
    *,
    carrier: Carrier,
    concat_ref: int,
    channel: Channel | None = None,
) -> EncodedSms:
    """SMS-DELIVER part(s) via the agent codec: UCS2 for Chinese, one part up to 70 chars,
    then 67 per part with an 8-bit-reference UDH (TS 23.040 §9.2.3.24.1;
    verification-code platforms use 8-bit refs). A vendor channel may bring its own SMSC
    and TP-PID (simulator/channels.py)."""

    smsc = (channel.smsc if channel is not None else "") or _SMSC[carrier]
    pid = channel.pid if channel is not None else 0
    parts = encode_deliver(
        sender, text, scts, smsc=smsc, concat_ref=concat_ref & 0xFF, ref_bits=8, pid=pid
    )
    return EncodedSms(sender, text, scts, tuple(bytes(p.pdu) for p in parts))


@dataclass(frozen=True, slots=True)
class DeliveredSms:
    modem: str
    sms: EncodedSms


class RecordingModemSink:
    """In-memory stand-in for the modem simulator, named as such: keeps the PDUs it was
    handed. Modems in `down` refuse delivery (receiver down)."""

    def __init__(self) -> None:
        self.delivered: list[DeliveredSms] = []
        self.down: set[str] = set()
        self._changed = asyncio.Condition()

    async def deliver(self, modem: str, sms: EncodedSms) -> bool:
        if modem in self.down:
            return False
        self.delivered.append(DeliveredSms(modem, sms))
        async with self._changed:
            self._changed.notify_all()
        return True

    async def wait_for(self, count: int, timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: len(self.delivered) >= count)


def _names_modem(status: Mapping[str, Any], key: str) -> bool:
    """The modem simulator selects modems by name, msisdn (with or without +), imsi, iccid
    or imei (agent/modem/simulator/control.py); so does a scenario's `modem` key."""
    msisdn = str(status.get("msisdn") or "")
    return key in (
        status.get("name"),
        msisdn,
        msisdn.lstrip("+"),
        status.get("imsi"),
        status.get("iccid"),
        status.get("imei"),
    )


class ModemControlSink:
    """`ModemSink` over the modem simulator's control API (agent/modem/simulator/control.py):
    checks the target is present and registered (27.007 <stat> 1 home / 5 roaming), then
    queues the PDUs at that modem's SMSC with `deliver_pdus`."""

    def __init__(self, control: ModemSimulatorControl) -> None:
        self._control = control

    async def deliver(self, modem: str, sms: EncodedSms) -> bool:

        try:
            target = next((m for m in await self._control.status() if _names_modem(m, modem)), None)
            if target is None or not target.get("present", True):
                return False
            if target.get("registration") not in (1, 5):
                return False
            await self._control.deliver_pdus(modem, [p.hex().upper() for p in sms.pdus])
        except (ModemSimulatorControlError, OSError) as exc:
            log.warning("sim_modem_delivery_failed", modem=modem, error=repr(exc))
            return False
        return True


@dataclass(frozen=True, slots=True)
class Accepted:
    message_ids: tuple[str, ...]
    parts: int
    text: str  # signed text as submitted
    billed_parts: int = 0  # the fee the vendor reports: parts, or more (p_fee_inflated)


@dataclass(frozen=True, slots=True)
class Refused:
    check: SubmitCheck

    @property
    def reason(self) -> RejectReason | None:
        return self.check.reject


@dataclass
class _Vendor:
    scenario: VendorScenario
    bucket: TokenBucket
    caps: DailyCaps = field(default_factory=DailyCaps)
    outlet: DlrOutlet | None = None
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    channel_truth_until_s: float = -1.0  # channel events up to here are in the truth
    # the wall time of elapsed 0, fixed at the first channel truth: `now - elapsed` read
    # anew each time drifts by milliseconds between the wall and the monotonic clock
    channel_epoch: datetime | None = None
    queue_free_s: float = 0.0  # when the route's capacity is next free (capacity_tps)


@dataclass
class _Life:
    """One accepted message as it plays out: its fate (changed when the receiver is found
    down), the delivery, and the receipts actually sent."""

    fate: Fate
    due_at: datetime | None = None  # the planned delivery, kept when the receiver is down
    delivered_at: datetime | None = None
    parts_delivered: int = 0
    receiver_down: bool = False
    sent: list[SentReceipt] = field(default_factory=list)
    settled: asyncio.Event = field(default_factory=asyncio.Event)


def _truth_record(
    v: VendorScenario,
    ids: tuple[str, ...],
    msisdn: str,
    carrier: Carrier,
    signed: str,
    parts: int,
    life: _Life,
    accepted_at: datetime,
    blackhole: bool,
    modem: str | None,
    channel: Channel | None = None,
    billed_parts: int | None = None,
) -> TruthRecord:
    """The truth as it stands: what the network did and the receipts sent so far."""
    receipts = tuple(life.sent)
    claim = vendor_claim(receipts)
    arrived = life.delivered_at is not None
    claimed_success = claim is not None and claim.status == DlrStatus.DELIVRD.value
    due = iso(life.due_at)  # when the handset had (or would have had) the message
    return TruthRecord(
        vendor=v.name,
        vendor_message_id=ids[0],
        msisdn=msisdn,
        fate=(FateKind.DELIVERED if arrived else FateKind.LOST).value,
        delivered_at=iso(life.delivered_at),
        dlr_status=claim.status if claim else None,
        dlr_at=claim.done_at if claim else None,
        rewritten=life.fate.rewritten,
        receiver_down=life.receiver_down,
        carrier=carrier.value,
        modem=modem,
        message_ids=ids,
        accepted_at=iso(accepted_at),
        dlr_count=sum(r.final for r in receipts),
        intermediate_after_final=claim is not None
        and any(not r.final and r.done_at > claim.done_at for r in receipts),
        dlr_before_arrival=due is not None
        and any(r.status == DlrStatus.DELIVRD.value and r.sent_at < due for r in receipts),
        parts_delivered=life.parts_delivered,
        fake_dlr=claimed_success and not arrived,
        false_failure=claim is not None and not claimed_success and arrived,
        late_dlr=claim is not None
        and (datetime.fromisoformat(claim.done_at) - accepted_at).total_seconds() > 72 * 3600,
        text_sent=signed,
        text_delivered=life.fate.text if arrived else None,
        sender=sender_of(v.sender_prefix, v.sender_ext, channel),
        channel=channel.name if channel is not None else None,
        parts=parts,
        billed_parts=parts if billed_parts is None else billed_parts,
        fee_inflated=billed_parts is not None and billed_parts > parts,
        blackhole=blackhole,
        contradicting_final=any(
            r.final and (r.status == DlrStatus.DELIVRD.value) != claimed_success for r in receipts
        ),
        out_of_order_dlr=[r.done_at for r in receipts] != sorted(r.done_at for r in receipts),
        receipts=receipts,
        queue_delay_s=round(life.fate.queue_delay_s, 6),
    )


class CarrierNetwork:
    """Owns every vendor's policy state, the seeded RNG, the schedule and the truth log."""

    def __init__(
        self,
        scenario: Scenario,
        modems: ModemSink,
        truth: TruthLog,
        *,
        clock: SimulatorClock | None = None,
    ) -> None:
        self._scenario = scenario
        self._modems = modems
        self._truth = truth
        self._clock = clock or SimulatorClock(
            scenario.speedup, scenario.start_at, ZoneInfo(scenario.timezone)
        )
        self._rng = random.Random(scenario.seed)
        self._vendors: Mapping[str, _Vendor] = {
            name: _Vendor(v, TokenBucket(v.throttle_tps, v.throttle_burst))
            for name, v in scenario.vendors.items()
        }
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._id_base = int(self._clock_start().timestamp()) % 100000

    def _clock_start(self) -> datetime:
        return self._scenario.start_at or datetime.now(CHINA_TZ)

    @property
    def clock(self) -> SimulatorClock:
        return self._clock

    @property
    def scenario(self) -> Scenario:
        return self._scenario

    @property
    def truth(self) -> TruthLog:
        return self._truth

    def vendor(self, name: str) -> VendorScenario:
        return self._vendors[name].scenario

    def set_outlet(self, vendor: str, outlet: DlrOutlet) -> None:
        self._vendors[vendor].outlet = outlet

    def new_message_id(self, vendor: str) -> str:
        # Decimal ids with a run-specific prefix, like a CMPP Msg_Id rendered by a reseller.
        return f"{self._id_base:05d}{next(self._vendors[vendor].ids):08d}"

    def submit(
        self,
        vendor: str,
        *,
        msisdn: str,
        content: str,
        signature: str = "",
        template_id: str | None = None,
        params: Mapping[str, str] | None = None,
        profile: ContentProfile = ContentProfile.NOTIFICATION,
        message_ids: tuple[str, ...] | None = None,
    ) -> Accepted | Refused:
        """Policy check, then schedule the accepted message's life. Not async: the vendor
        answers the submit at once, everything after happens on the simulated clock."""
        state = self._vendors[vendor]
        v = state.scenario
        if template_id is not None and template_id in v.templates and not content:
            content = render_template(v.templates[template_id], params or {})
        signed = f"【{signature}】{content}" if signature else content
        now = self._clock.now()
        elapsed = self._clock.elapsed_s()
        check = check_submit(
            v,
            msisdn=msisdn,
            signature=signature,
            content=content,
            template_id=template_id,
            profile=profile,
            now_local=now,
            elapsed_s=elapsed,
            caps=state.caps,
            bucket=state.bucket,
        )
        subscriber = self._scenario.subscriber(msisdn)
        carrier = subscriber.carrier if subscriber else carrier_for_msisdn(msisdn)
        if not check.accepted:
            if check.reject is not None:
                self._truth.write(
                    TruthRecord(
                        vendor=vendor,
                        vendor_message_id=None,
                        msisdn=msisdn,
                        fate=FateKind.REJECTED.value,
                        delivered_at=None,
                        dlr_status=None,
                        dlr_at=None,
                        rewritten=False,
                        receiver_down=False,
                        carrier=carrier.value,
                        text_sent=signed,
                        reject_reason=check.reject.value,
                    )
                )
            elif check.throttled_retry_s is not None:
                self._truth.write(
                    TruthRecord(
                        vendor=vendor, vendor_message_id=None, msisdn=msisdn, fate="throttled",
                        delivered_at=None, dlr_status=None, dlr_at=None, rewritten=False,
                        receiver_down=False, carrier=carrier.value, text_sent=signed,
                        reject_reason=check.code, accepted_at=iso(now),
                    )
                )  # fmt: skip
            log.info(
                "sim_submit_refused",
                vendor=vendor,
                msisdn=mask_msisdn(msisdn),
                code=check.code,
                reason=check.reject.value if check.reject else None,
            )
            return Refused(check)
        parts = sms_parts(signed)
        # SMPP and the gateways report no fee (their acks are the parts received).
        fee_face = v.protocol is not VendorProtocol.SMPP and not v.protocol.is_gateway
        billed = parts + (self._fee_inflation(v.knobs_for(carrier)) if fee_face else 0)
        ids = message_ids or (self.new_message_id(vendor),)
        self._channel_truth(state, elapsed, now)
        channel, channel_failing = v.channel_plan.route_at(elapsed)
        # A failing channel swallows what the vendor sends into it, like a black hole.
        blackhole = channel_failing or (
            check.outage is not None and check.outage.mode is OutageMode.BLACKHOLE
        )
        fate = decide_fate(
            v.knobs_for(carrier),
            text=signed,
            profile=profile,
            known_number=bool(subscriber and subscriber.known_test_number),
            local_hour=now.hour,
            blackhole=blackhole,
            rng=self._rng,
            queue_delay_s=self._queue(state, elapsed),
        )
        self._spawn(
            self._play(
                state, ids, msisdn, carrier, signed, parts, fate, now, elapsed, blackhole, channel,
                billed_parts=billed,
            )
        )  # fmt: skip
        log.info(
            "sim_submit_accepted",
            vendor=vendor,
            msisdn=mask_msisdn(msisdn),
            message_id=ids[0],
            fate=fate.kind.value,
            channel=channel.name if channel is not None else None,
        )
        return Accepted(message_ids=ids, parts=parts, text=signed, billed_parts=billed)

    def _fee_inflation(self, knobs: Knobs) -> int:
        """Parts the vendor adds to its reported fee for this message. No draw when the
        knob is off, so scenarios without it keep their random sequence."""
        if knobs.p_fee_inflated <= 0.0:
            return 0
        return knobs.fee_inflated_by if self._rng.random() < knobs.p_fee_inflated else 0

    @staticmethod
    def _queue(state: _Vendor, elapsed: float) -> float:
        """FIFO at the vendor's capacity: this message's wait before the route carries it."""
        capacity = state.scenario.capacity_tps
        if capacity <= 0:
            return 0.0
        begins = max(elapsed, state.queue_free_s)
        state.queue_free_s = begins + 1.0 / capacity
        return begins - elapsed

    def _channel_truth(self, state: _Vendor, elapsed: float, now: datetime) -> None:
        """Write the vendor's channel events that happened by now (failures, switches,
        restorations) with the exact simulated time each happened."""
        plan = state.scenario.channel_plan
        if state.channel_epoch is None:
            state.channel_epoch = now - timedelta(seconds=elapsed)
        for e in events_between(plan.events(), state.channel_truth_until_s, elapsed):
            at = state.channel_epoch + timedelta(seconds=e.at_s)
            self._truth.write_channel_event(as_truth(state.scenario.name, e, iso(at) or ""))
        state.channel_truth_until_s = max(state.channel_truth_until_s, elapsed)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        self._idle.clear()

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("sim_message_failed", error=repr(t.exception()))
            if not self._tasks:
                self._idle.set()

        task.add_done_callback(done)

    async def _play(
        self,
        state: _Vendor,
        ids: tuple[str, ...],
        msisdn: str,
        carrier: Carrier,
        signed: str,
        parts: int,
        fate: Fate,
        accepted_at: datetime,
        accepted_elapsed: float,
        blackhole: bool,
        channel: Channel | None = None,
        *,
        billed_parts: int | None = None,
    ) -> None:
        """Deliver and send receipts side by side on the simulated clock: a receipt planned
        before the delivery goes out before the handset has the message. The truth is
        written once the fate is settled and again after every later receipt."""
        due = fate.deliver_after_s
        life = _Life(fate, None if due is None else accepted_at + timedelta(seconds=due))
        subscriber = self._scenario.subscriber(msisdn)
        modem = subscriber.modem if subscriber else None

        def record() -> None:
            self._truth.write(
                _truth_record(
                    state.scenario,
                    ids,
                    msisdn,
                    carrier,
                    signed,
                    parts,
                    life,
                    accepted_at,
                    blackhole,
                    modem,
                    channel,
                    billed_parts,
                )
            )

        async def receipts() -> None:
            deliver_after = fate.deliver_after_s
            for i in sorted(range(len(fate.dlrs)), key=lambda j: fate.dlrs[j].sent_after_s):
                planned = fate.dlrs[i]
                await self._clock.sleep_until(accepted_elapsed + planned.sent_after_s)
                if deliver_after is None or planned.sent_after_s >= deliver_after:
                    # An honest vendor reports what the delivery did (receiver down: EXPIRED).
                    await life.settled.wait()
                    planned = life.fate.dlrs[i]
                if await self._emit(state, ids, msisdn, signed, planned, accepted_at):
                    sent_at = accepted_at + timedelta(seconds=planned.sent_after_s)
                    done_at = accepted_at + timedelta(seconds=planned.after_s)
                    life.sent.append(
                        SentReceipt(planned.status.value, iso(done_at) or "", iso(sent_at) or "")
                    )
                    if life.settled.is_set():
                        record()

        sending = asyncio.ensure_future(receipts())
        try:
            await self._deliver(state.scenario, ids, msisdn, carrier, life, accepted_at,
                                accepted_elapsed, channel)  # fmt: skip
            record()
            life.settled.set()
            await sending
        finally:
            sending.cancel()

    async def _deliver(
        self,
        v: VendorScenario,
        ids: tuple[str, ...],
        msisdn: str,
        carrier: Carrier,
        life: _Life,
        accepted_at: datetime,
        accepted_elapsed: float,
        channel: Channel | None = None,
    ) -> None:
        """Hand the SMS to the subscriber's modem at its planned time; settles `life`."""
        fate = life.fate
        if fate.deliver_after_s is None:
            return
        subscriber = self._scenario.subscriber(msisdn)
        await self._clock.sleep_until(accepted_elapsed + fate.deliver_after_s)
        # The network clock at the planned moment: exact, whatever the event loop lag.
        delivered_at = accepted_at + timedelta(seconds=fate.deliver_after_s)
        ok = False
        if subscriber is not None:
            encoded = encode_sms(
                sender_of(v.sender_prefix, v.sender_ext, channel),
                fate.text,
                delivered_at,
                carrier=carrier,
                concat_ref=zlib.crc32(ids[0].encode()),  # stable per message
                channel=channel,
            )
            if fate.lost_part is not None and fate.lost_part < len(encoded.pdus):
                pdus = encoded.pdus[: fate.lost_part] + encoded.pdus[fate.lost_part + 1 :]
                encoded = replace(encoded, pdus=pdus)
            ok = await self._modems.deliver(subscriber.modem, encoded)
            if ok:
                life.delivered_at = delivered_at
                life.parts_delivered = len(encoded.pdus)
        if not ok:
            life.receiver_down = subscriber is not None
            life.fate = fate.with_receiver_down()

    async def _emit(
        self,
        state: _Vendor,
        ids: tuple[str, ...],
        msisdn: str,
        signed: str,
        planned: PlannedDlr,
        accepted_at: datetime,
    ) -> bool:
        """Send one planned receipt for every id; True when the vendor did send it."""
        if state.outlet is None:
            return False
        err = "000" if planned.status is DlrStatus.DELIVRD else "001"
        sent = False
        for message_id in ids:  # per-part ids (SMPP) each get their own receipt
            sent = (
                await state.outlet.emit(
                    SimulatedDlr(
                        vendor=state.scenario.name,
                        message_id=message_id,
                        msisdn=msisdn,
                        status=planned.status,
                        err=err,
                        submitted_at=accepted_at,
                        done_at=accepted_at + timedelta(seconds=planned.after_s),
                        text=signed[:20],
                    )
                )
                or sent
            )
        return sent

    async def wait_idle(self, timeout_s: float = 10.0) -> None:
        """Wait until every scheduled delivery and DLR has played out (tests, demo drain)."""
        async with asyncio.timeout(timeout_s):
            await self._idle.wait()

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._truth.close()
