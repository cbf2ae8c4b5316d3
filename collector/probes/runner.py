"""Send probes: scheduler → token and text → plan stored → vendor submit → submission stored.

The plan is in the ledger before the vendor sees the message, so a crash between the two
leaves a probe marked "planned" (judged ambiguous, never charged), never a message sent
that the ledger does not know. With several collectors the plan is the claim of the
schedule slot, written under the probing lease (a fenced ledger view): a collector that
lost the lease cannot claim one, so no slot is submitted by two collectors. Throttled and
transient refusals happen before acceptance and are retried a bounded number of times; an
ambiguous submit is never retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import structlog

from agent.common.logs import mask_msisdn
from agent.common.units import NS
from collector.channels.routes import RouteBook
from collector.correlation.tokens import make_token
from collector.ledger.base import FencedError, Ledger
from collector.ledger.channels import FailoverSend
from collector.ledger.probes import ProbePlan, Submission
from collector.probes.content import PROFILES, expected_text, vendor_profile
from collector.probes.rotation import RotationConfig, rotating
from collector.probes.scheduler import PlannedProbe, Scheduler, Target
from collector.vendors.base import (
    AmbiguousSubmitError,
    AuthFailedError,
    ContentProfile,
    OutgoingSms,
    QuarantinedDlr,
    RawDlr,
    RejectedError,
    SmsVendor,
    ThrottledError,
    TransientError,
    VendorError,
    sms_parts,
)

log = structlog.get_logger("smsprobe.probes")

_PROFILE_FOR_VENDOR = {
    "verification_code": ContentProfile.VERIFICATION_CODE,
    "notification": ContentProfile.NOTIFICATION,
    "marketing": ContentProfile.MARKETING,
    "link": ContentProfile.LINK,
    "long_ucs2": ContentProfile.LONG,
}


class VendorGate(Protocol):
    """Which vendors take probes now (collector/probes/vendor_units.py), and what became
    of each submit (a run of failures takes a vendor down for a back-off)."""

    def available(self, vendor: str) -> bool: ...

    def submitted(self, vendor: str, error: Exception | None) -> None: ...


class _AlwaysOpen:
    def available(self, vendor: str) -> bool:
        return True

    def submitted(self, vendor: str, error: Exception | None) -> None:
        return None


class LedgerDlrSink:
    """DlrSink over the ledger: returns once the raw DLR is committed."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    async def store(self, dlr: RawDlr) -> None:
        _, new = await asyncio.to_thread(
            self._ledger.store_dlr,
            vendor=dlr.vendor,
            message_id=dlr.message_id,
            status=dlr.status.value,
            received_at_ns=dlr.received_at_ns,
            raw=dlr.raw,
            dedupe_key=dlr.dedupe_key,
            vendor_status_raw=dlr.vendor_status_raw,
            err=dlr.err,
            done_at_ns=dlr.done_at_ns or 0,
            source=dlr.source.value,
            billed_parts=dlr.billed_parts,
            billed_from=dlr.billed_from,
        )
        log.debug(
            "dlr_stored",
            vendor=dlr.vendor,
            message_id=dlr.message_id,
            status=dlr.status.value,
            new=new,
        )

    async def quarantine(self, item: QuarantinedDlr) -> None:
        await asyncio.to_thread(
            self._ledger.quarantine_dlr,
            vendor=item.vendor,
            source=item.source.value,
            reason=item.reason,
            raw=item.raw,
            digest=item.digest,
            at_ns=item.received_at_ns,
        )


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    secret: bytes
    signatures: Mapping[str, str]  # vendor -> signature (bare, no 【】)
    max_attempts: int = 3  # throttled/transient retries before giving up on one probe
    retry_delay_s: float = 2.0
    token_window_s: float = 72 * 3600.0  # tokens stay reserved per SIM this long
    send_until_ns: int | None = None  # plan no new probe after this (judging goes on)
    rotation: RotationConfig | None = None  # SIM rotation (collector/probes/rotation.py)


class ProbeRunner:
    def __init__(
        self,
        ledger: Ledger,
        vendors: Mapping[str, SmsVendor],
        scheduler: Scheduler,
        settings: RunnerSettings,
        *,
        clock: Callable[[], int],
        gate: VendorGate | None = None,
        routes: RouteBook | None = None,
    ) -> None:
        self._ledger = ledger
        self._routes = routes  # route groups: failover sends through the backup
        self._vendors = vendors
        self._scheduler = scheduler
        self._settings = settings
        self._clock = clock
        self._gate: VendorGate = gate or _AlwaysOpen()
        self._tokens: dict[str, dict[str, int]] = defaultdict(dict)  # msisdn -> token -> at
        self._tasks: set[asyncio.Task[None]] = set()
        self._counted: set[str] = set()  # probes already counted against caps and budget
        self._rotation_checked_ns: int | None = None
        self.sent = 0

    async def restore(self) -> None:
        """At the start of every run (a restart, or a new tenure of the probing lease when
        several collectors share the ledger): reserve recent tokens, count sends this
        runner has not counted yet (another collector's, a previous process's) against
        caps and budget, and settle probes whose slot was claimed but whose submit was
        never recorded as ambiguous — the holder died or was fenced off between plan and
        answer, so the vendor may or may not have the message: never retried (a slot is
        sent at most once), never charged, judged by what arrives."""
        now = self._clock()
        since = now - int(self._settings.token_window_s * NS)
        for p in await asyncio.to_thread(self._ledger.probes, since_ns=since):
            if p.submit_status == "planned":
                log.warning(
                    "probe_submit_interrupted", probe_id=p.plan.probe_id, vendor=p.plan.vendor
                )
                await asyncio.to_thread(
                    self._ledger.record_submission,
                    Submission(
                        probe_id=p.plan.probe_id,
                        status="ambiguous",
                        submitted_at_ns=p.plan.planned_at_ns,
                        answered_at_ns=now,
                        error_kind="interrupted",
                        error_detail="collector stopped between planning and recording the submit",
                    ),
                )
            self._tokens[p.plan.msisdn][p.plan.token] = p.plan.planned_at_ns
            if p.plan.probe_id in self._counted:
                continue
            self._counted.add(p.plan.probe_id)
            self._scheduler.record_sent(
                p.plan.vendor, p.plan.msisdn, p.plan.profile, p.plan.planned_at_ns, p.plan.cost
            )

    async def run(self, stop: asyncio.Event) -> None:
        await self.restore()  # every run: what other tenures did meanwhile
        while not stop.is_set():
            now = self._clock()
            until = self._settings.send_until_ns
            if until is not None and now >= until:
                log.info("probe_sending_finished", sent=self.sent)
                await stop.wait()
                break
            await self._refresh_rotation(now)
            for planned in self._scheduler.due(now):
                if planned.vendor not in self._vendors or not self._gate.available(planned.vendor):
                    continue  # a vendor being retried: its not-measured span says so
                plan = await self._plan(planned)
                task = asyncio.create_task(self._send(plan, planned.target))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                await self._failover(planned, now)
            held = self._scheduler.take_suppressions()
            if held:  # quiet hours held marketing back: kept for the report (fenced)
                await asyncio.to_thread(self._ledger.record_suppressions, held)
            wake_in = (self._scheduler.next_wakeup() - self._clock()) / NS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=min(max(wake_in, 0.01), 1.0))
        await self.drain()

    async def _refresh_rotation(self, now: int) -> None:
        """Which vendors rotate their probes over more SIMs: the configured ones and those
        with an open whitelisting_suspected alert, looked at every check_interval_s."""
        cfg = self._settings.rotation
        last = self._rotation_checked_ns
        if cfg is None or (last is not None and now < last + int(cfg.check_interval_s * NS)):
            return
        self._rotation_checked_ns = now
        alerts = await asyncio.to_thread(self._ledger.open_alerts) if cfg.on_whitelisting else []
        self._scheduler.set_rotation(rotating(cfg, alerts))

    async def _failover(self, planned: PlannedProbe, now: int) -> None:
        """While the route group of this probe is failed over, send it through the backup
        too, and keep that it was a failover send (collector/channels/routes.py)."""
        group = (
            None
            if self._routes is None
            else self._routes.backup_for(planned.vendor, planned.target.carrier, planned.profile)
        )
        if group is None or group.backup not in self._vendors:
            return
        if not self._gate.available(group.backup):
            return
        extra = self._scheduler.extra(group.backup, planned.target, planned.profile, now)
        if extra is None:
            log.info("failover_send_deferred", group=group.name, backup=group.backup)
            return
        plan = await self._plan(extra)
        send = FailoverSend(plan.probe_id, group.name, group.primary, group.backup,
                            plan.carrier, plan.profile, plan.planned_at_ns)  # fmt: skip
        await asyncio.to_thread(self._ledger.record_failover_send, send)
        task = asyncio.create_task(self._send(plan, extra.target))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def send_now(
        self, planned: PlannedProbe, probe_id: str, max_attempts: int
    ) -> Exception | None:
        """Plan and submit one probe outside the schedule (a burst): same ledger order,
        its own id and retry limit; returns the failure, None on acceptance."""
        plan = await self._plan(planned, probe_id)
        error = await self._submit(plan, planned.target, max_attempts=max_attempts)
        self._gate.submitted(plan.vendor, error)
        return error

    async def _plan(self, planned: PlannedProbe, probe_id: str | None = None) -> ProbePlan:
        profile = PROFILES[planned.profile]
        probe_id = probe_id or str(uuid.uuid4())
        now = self._clock()
        cutoff = now - int(self._settings.token_window_s * NS)
        reserved = self._tokens[planned.target.msisdn]
        for token, at in list(reserved.items()):
            if at < cutoff:
                del reserved[token]
        token = make_token(self._settings.secret, probe_id, profile.token_kind, reserved)
        reserved[token] = now
        signature = self._settings.signatures.get(planned.vendor, "")
        text = expected_text(profile, token, signature)
        plan = ProbePlan(
            probe_id=probe_id,
            vendor=planned.vendor,
            msisdn=planned.target.msisdn,
            profile=planned.profile,
            token=token,
            body=profile.render(token),
            expected_text=text,
            planned_at_ns=now,
            signature=signature,
            # The 70/67 (160/153) rule on the text actually sent, not the schedule's
            # estimate: what a vendor's own billed figure is held to (reports/figures.py).
            parts=sms_parts(text),
            cost=planned.cost,
            band=planned.band,
            carrier=planned.target.carrier,
            region=planned.target.region,
            agent_id=planned.target.agent_id,
            modem_imei=planned.target.modem_imei,
            mvno=planned.target.mvno,
            site=planned.target.site,
            iccid=planned.target.iccid,
        )
        await asyncio.to_thread(self._ledger.add_probe, plan)  # the slot's claim (fenced)
        self._counted.add(probe_id)  # due() counted it against caps and budget
        return plan

    async def _send(self, plan: ProbePlan, target: Target) -> None:
        try:
            self._gate.submitted(plan.vendor, await self._submit(plan, target))
        except FencedError as exc:
            # The probing lease passed to another collector during the submit: the answer
            # cannot be recorded here; the successor settled the slot as ambiguous.
            log.warning("probe_answer_fenced_off", probe_id=plan.probe_id, vendor=plan.vendor,
                        error=str(exc))  # fmt: skip

    async def _submit(
        self, plan: ProbePlan, target: Target, *, max_attempts: int | None = None
    ) -> Exception | None:
        """Submit one probe and record the answer; returns the failure, None on acceptance."""
        attempts = max_attempts or self._settings.max_attempts
        vendor = self._vendors[plan.vendor]
        sms = OutgoingSms(
            probe_id=plan.probe_id,
            to_msisdn=plan.msisdn,
            text=plan.body,
            signature=plan.signature,
            profile=_PROFILE_FOR_VENDOR.get(plan.profile) or vendor_profile(PROFILES[plan.profile]),
            params={"token": plan.token},
        )
        attempt = 0
        while True:
            attempt += 1
            started = self._clock()
            try:
                result = await vendor.submit(sms)
            except (ThrottledError, TransientError) as exc:
                if attempt < attempts:
                    delay = getattr(exc, "retry_after_s", None) or self._settings.retry_delay_s
                    log.info("probe_submit_retried", probe_id=plan.probe_id, vendor=plan.vendor,
                             error=exc.kind, delay_s=delay)  # fmt: skip
                    await asyncio.sleep(delay)
                    if self._gate.available(plan.vendor):
                        continue
                    # The vendor's unit went down (and closed its session) meanwhile:
                    # the refusal just received is this probe's answer; no retry.
                await self._record_error(plan, "rejected", exc, started)
                return exc
            except AmbiguousSubmitError as exc:
                await self._record_error(plan, "ambiguous", exc, started)
                return exc
            except (RejectedError, AuthFailedError, VendorError) as exc:
                await self._record_error(plan, "rejected", exc, started)
                return exc
            except Exception as exc:
                log.exception("probe_submit_crashed", probe_id=plan.probe_id, vendor=plan.vendor)
                await self._record(
                    plan, "ambiguous", started, error_kind="crash", error_detail=repr(exc)
                )
                return exc
            await self._record(
                plan,
                "accepted",
                started,
                message_ids=result.message_ids,
                raw_request=result.raw_request,
                raw_response=result.raw_response,
                billed=(result.billed_parts, result.billed_from),
            )
            self.sent += 1
            log.info("probe_submitted", probe_id=plan.probe_id, vendor=plan.vendor,
                     msisdn=mask_msisdn(target.msisdn), profile=plan.profile,
                     message_ids=list(result.message_ids))  # fmt: skip
            return None

    async def _record_error(
        self, plan: ProbePlan, status: str, exc: VendorError, started: int
    ) -> None:
        kind = exc.kind
        if isinstance(exc, RejectedError):
            kind = f"rejected:{exc.reason.value}"
        log.warning("probe_submit_failed", probe_id=plan.probe_id, vendor=plan.vendor,
                    status=status, error=kind, detail=str(exc))  # fmt: skip
        await self._record(
            plan,
            status,
            started,
            raw_request=exc.raw_request,
            raw_response=exc.raw_response,
            error_kind=kind,
            error_detail=str(exc),
        )

    async def _record(
        self,
        plan: ProbePlan,
        status: str,
        started: int,
        *,
        message_ids: tuple[str, ...] = (),
        raw_request: bytes = b"",
        raw_response: bytes = b"",
        error_kind: str = "",
        error_detail: str = "",
        billed: tuple[int | None, str] = (None, ""),
    ) -> None:
        await asyncio.to_thread(
            self._ledger.record_submission,
            Submission(
                probe_id=plan.probe_id,
                status=status,
                submitted_at_ns=started,
                answered_at_ns=self._clock(),
                message_ids=message_ids,
                raw_request=raw_request,
                raw_response=raw_response,
                error_kind=error_kind,
                error_detail=error_detail,
                billed_parts=billed[0],  # the vendor's own figure, kept beside the rule's
                billed_from=billed[1],
            ),
        )
