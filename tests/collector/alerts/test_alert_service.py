"""The alert service against a real ledger and a real aiohttp webhook on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from agent.common.backoff import ExponentialBackoff
from agent.common.tomlconfig import ConfigError
from collector.alerts.config import parse_alerts
from collector.alerts.engine import AlertRules
from collector.alerts.notifiers.webhook import JsonWebhook
from collector.alerts.notify import AlertNotifier
from collector.alerts.service import AlertService, alert_service_from_config
from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict
from collector.ledger import open_ledger
from tests.collector.alerts.robot_servers import serve_loopback
from tests.collector.reports.world import NS, T0, delivered, plan, registration, submit

MIN = 60 * NS
RULES = AlertRules(silent_after_s=30 * 86400.0)  # agent liveness is not under test here
SECRET = "s3cret"


class Receiver:
    """A webhook endpoint on a free loopback port; `respond(body, seen)` picks the status
    from the alert and how many posts of it came before (default: 200)."""

    def __init__(self, respond: Callable[[dict[str, Any], int], int] | None = None) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.signatures: list[tuple[bytes, str]] = []
        self.respond = respond or (lambda body, seen: 200)
        self.posts: dict[str, int] = {}
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.signatures.append((raw, request.headers.get("X-Smsprobe-Signature", "")))
        body = json.loads(raw)
        seen = self.posts.get(body["kind"], 0)
        self.posts[body["kind"]] = seen + 1
        status = self.respond(body, seen)
        if status == 200:
            self.bodies.append(body)
        return web.Response(status=status)

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner, base = await serve_loopback(app)
        self.url = f"{base}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def seen(self) -> list[tuple[str, str]]:
        return [(b["phase"], b["kind"]) for b in self.bodies]


@contextlib.contextmanager
def dead_url() -> Iterator[str]:
    """A loopback port nobody listens on: connections are refused. The socket stays bound
    (not listening: Linux answers a SYN with RST) so no server of a parallel test can take
    the port meanwhile."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{s.getsockname()[1]}/hook"


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Any]:
    led = open_ledger(f"sqlite:///{tmp_path}/l.db")
    led.register_agent(registration(), at_ns=T0 - 3600 * NS)
    yield led
    led.close()


def probes(ledger: Any, first: int, outcomes: str, *, start: int) -> None:
    """One acme probe a minute from `start`; outcomes: d = delivered, l = lost."""
    verdicts = []
    for k, o in enumerate(outcomes):
        pid = f"p{first + k}"
        submit(ledger, plan(pid, "acme", start + k * MIN))
        verdicts.append(
            delivered(pid, 3.0, f"u{pid}")
            if o == "d"
            else Verdict(
                pid, Outcome.LOST, DlrTruth.FAKE_SUCCESS, DlrClaim.SUCCESS, ContentVerdict.NONE
            )
        )
    ledger.save_verdicts(verdicts, at_ns=start + len(outcomes) * MIN)


def service(ledger: Any, notifier: AlertNotifier, clock: Clock) -> AlertService:
    return AlertService(
        ledger,
        rules=RULES,
        notifier=notifier,
        clock=clock,
        interval_s=0.01,
        evidence_base_url="https://probe.example/evidence",
    )


async def evaluate(svc: AlertService, clock: Clock, at: int, times: int = 1) -> None:
    for i in range(times):
        clock.now = at + i * MIN
        await svc.evaluate_once()
    await svc.drain()


def test_outage_starts_and_ends_once_across_a_restart(ledger: Any) -> None:
    async def scenario() -> None:
        async with Receiver() as hook:
            clock = Clock(T0)
            notifier = AlertNotifier([JsonWebhook(hook.url, SECRET)], ledger=ledger)
            async with notifier:
                first = service(ledger, notifier, clock)
                probes(ledger, 0, "d" * 10, start=T0)
                await evaluate(first, clock, T0 + 10 * MIN, times=2)
                assert hook.bodies == []
                probes(ledger, 10, "l" * 8, start=T0 + 10 * MIN)  # the vendor goes dark
                await evaluate(first, clock, T0 + 20 * MIN)
                assert hook.bodies == []  # one firing evaluation is not yet an alert
                await evaluate(first, clock, T0 + 21 * MIN)
                assert ("start", "vendor_outage") in hook.seen()
            started = len(hook.bodies)
            outage = next(b for b in hook.bodies if b["kind"] == "vendor_outage")
            assert outage["subject"] == {"vendor": "acme"}
            assert outage["figures"] == {"attempts": 8, "arrived": 0, "submit_failures": 0}
            assert outage["at"] == "2026-11-23T16:21:00Z"
            # the sentence people read, times in the default report zone (Asia/Shanghai)
            assert outage["title"] == "[ALERT] Vendor outage: acme"
            assert outage["summary"] == (
                "acme is out: 0 of its latest 8 probes arrived, below the 20.0% outage limit"
                " over the last 60 min, since 2026-11-24 00:21:00 CST."
            )
            assert outage["evidence_url"].startswith(
                "https://probe.example/evidence?vendor=acme&kind=vendor_outage&since="
            )
            raw, sig = hook.signatures[0]
            assert sig == "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()

            # The collector restarts: a new service on the same ledger, outage ongoing.
            clock2 = Clock(T0)
            notifier2 = AlertNotifier([JsonWebhook(hook.url, SECRET)], ledger=ledger)
            async with notifier2:
                second = service(ledger, notifier2, clock2)
                await evaluate(second, clock2, T0 + 22 * MIN, times=3)
                assert len(hook.bodies) == started  # not raised again
                probes(ledger, 18, "d" * 8, start=T0 + 25 * MIN)  # back to normal
                await evaluate(second, clock2, T0 + 33 * MIN, times=3)
            assert hook.seen().count(("end", "vendor_outage")) == 1
            assert hook.seen().count(("start", "vendor_outage")) == 1
            end = hook.bodies[-1]
            assert (end["phase"], end["alert_id"]) == ("end", outage["alert_id"])

    asyncio.run(scenario())
    rows = [r for r in ledger.alerts() if r.kind == "vendor_outage"]
    assert len(rows) == 1 and rows[0].ended_at_ns == T0 + 35 * MIN
    assert rows[0].notified.count("delivered status=200 attempts=1") == 2


def test_a_single_lost_probe_raises_nothing(ledger: Any) -> None:
    async def scenario() -> None:
        async with Receiver() as hook:
            clock = Clock(T0)
            async with AlertNotifier([JsonWebhook(hook.url)], ledger=ledger) as notifier:
                svc = service(ledger, notifier, clock)
                probes(ledger, 0, "d" * 14 + "l" + "d" * 15, start=T0)
                await evaluate(svc, clock, T0 + 30 * MIN, times=6)
            assert hook.bodies == [] and svc.evaluations == 6

    asyncio.run(scenario())
    assert ledger.alerts() == []


def test_webhook_down_retries_bounded_noted_and_the_loop_goes_on(ledger: Any) -> None:
    delays: list[float] = []

    async def no_wait(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(0)

    async def scenario(url: str) -> AlertService:
        probes(ledger, 0, "l" * 8, start=T0)
        ticks = itertools.count()
        # A minute per pass, then time stands still: the alerts stay up however fast it loops.
        clock = lambda: T0 + min(10 + next(ticks), 20) * MIN  # noqa: E731
        notifier = AlertNotifier(
            [JsonWebhook(url)], ledger=ledger, max_attempts=3, timeout_s=2.0,
            backoff=ExponentialBackoff(1.0, 60.0, min_s=0.5), sleep=no_wait,
        )  # fmt: skip
        svc = AlertService(ledger, rules=RULES, notifier=notifier, clock=clock, interval_s=0.01)
        stop = asyncio.Event()
        async with notifier:
            task = asyncio.create_task(svc.run(stop))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                rows = await asyncio.to_thread(ledger.alerts)
                if (
                    rows
                    and all("failed attempts=3" in r.notified for r in rows)
                    and (svc.evaluations >= 6)
                ):
                    break
                await asyncio.sleep(0.02)
            stop.set()
            await asyncio.wait_for(task, 10)
        return svc

    with dead_url() as url:
        svc = asyncio.run(scenario(url))
    rows = ledger.alerts()
    kinds = {r.kind for r in rows}
    assert kinds == {"vendor_outage", "sla_breach", "fake_dlr_surge"}
    for r in rows:
        assert r.notified.startswith("start http://127.0.0.1:")
        assert "failed attempts=3 error=ClientConnectorError" in r.notified
    # Bounded: 3 attempts, 2 jittered back-offs each: the first within [0.5, 1] s, the
    # second within [0.5, 2] s (deliveries interleave, so look at them sorted).
    assert len(delays) == 2 * len(rows)
    assert all(0.5 <= d <= 2.0 for d in delays)
    assert sorted(delays)[len(rows) - 1] <= 1.0
    assert svc.evaluations >= 6


def test_retry_on_5xx_but_not_on_4xx(ledger: Any) -> None:
    async def scenario() -> None:
        def respond(body: dict[str, Any], seen: int) -> int:
            if body["kind"] == "sla_breach":
                return 503 if seen == 0 else 200  # a receiver briefly overloaded
            return 400 if body["kind"] == "fake_dlr_surge" else 200  # refuses this one

        async with Receiver(respond) as hook:
            clock = Clock(T0)
            slept: list[float] = []

            async def sleep(s: float) -> None:
                slept.append(s)

            async with AlertNotifier(
                [JsonWebhook(hook.url)], ledger=ledger, sleep=sleep, max_attempts=4
            ) as notifier:
                svc = service(ledger, notifier, clock)
                probes(ledger, 0, "l" * 8, start=T0)
                await evaluate(svc, clock, T0 + 10 * MIN)
                events = await svc.evaluate_once()
                await svc.drain()
                assert len(events) == 3
            assert hook.posts == {"sla_breach": 2, "fake_dlr_surge": 1, "vendor_outage": 1}
            # one retry (the 503), none for the 400; jittered under the first 1 s cap
            assert len(slept) == 1 and 0.5 <= slept[0] <= 1.0

    asyncio.run(scenario())
    notes = {r.kind: r.notified for r in ledger.alerts()}
    assert "delivered status=200 attempts=2" in notes["sla_breach"]
    assert "failed attempts=1 error=HTTP 400" in notes["fake_dlr_surge"]
    assert "delivered status=200 attempts=1" in notes["vendor_outage"]


def test_alerts_config_is_strict(ledger: Any) -> None:
    cfg = parse_alerts(
        {"webhooks": ["https://ops.example/h"], "evaluate_interval_s": 30,
         "rules": {"raise_after": 3, "window_s": 1800}},
        file="collector.toml",
    )  # fmt: skip
    assert cfg.rules.raise_after == 3 and cfg.rules.window_s == 1800.0
    assert cfg.evaluate_interval_s == 30.0 and cfg.webhooks == ("https://ops.example/h",)
    with pytest.raises(ConfigError, match=r"collector.toml: alerts.webhooks\[0\]: expected an"):
        parse_alerts({"webhooks": ["ftp://x"]}, file="collector.toml")
    with pytest.raises(ConfigError, match=r"alerts\.rules\.raise_afterr: unknown key"):
        parse_alerts({"rules": {"raise_afterr": 3}}, file="collector.toml")
    svc, notifier = alert_service_from_config(
        {"webhooks": ["https://ops.example/h"]},
        {"evidence_base_url": "https://e.example/x/"},
        file="collector.toml",
        ledger=ledger,
    )
    assert isinstance(svc, AlertService) and isinstance(notifier, AlertNotifier)
    assert notifier.urls == ("https://ops.example/h",)


def test_silent_agent_and_sick_modem_start_and_end(ledger: Any) -> None:
    from tests.collector.reports.world import AGENT, IMEI, Agent, health

    feed = Agent(ledger)
    feed.add(T0, health(T0, healthy=False))
    feed.flush(at_ns=T0)  # last seen at T0, its modem unregistered
    rules = AlertRules(silent_after_s=300.0)

    async def scenario() -> list[dict[str, Any]]:
        async with Receiver() as hook:
            clock = Clock(T0)
            async with AlertNotifier([JsonWebhook(hook.url)], ledger=ledger) as notifier:
                svc = AlertService(ledger, rules=rules, notifier=notifier, clock=clock)
                await evaluate(svc, clock, T0 + MIN, times=2)
                assert hook.seen() == [("start", "modem_unhealthy")]
                await evaluate(svc, clock, T0 + 10 * MIN, times=2)
                assert hook.seen()[1:] == [("start", "agent_silent")]
                # The agent comes back with a healthy modem.
                feed.add(T0 + 12 * MIN, health(T0 + 12 * MIN))
                await asyncio.to_thread(feed.flush, T0 + 12 * MIN)
                await evaluate(svc, clock, T0 + 12 * MIN, times=3)
            return hook.bodies

    bodies = asyncio.run(scenario())
    # Both end in the same pass; each alert's delivery is a task of its own, so the
    # webhook may see them in either order (nothing orders deliveries across alerts).
    assert sorted((b["phase"], b["kind"]) for b in bodies[2:]) == [
        ("end", "agent_silent"),
        ("end", "modem_unhealthy"),
    ]
    assert bodies[0]["subject"] == {"agent": AGENT, "imei": IMEI}
    assert bodies[0]["figures"] == {"reasons": ["not_registered"]}
    assert bodies[1]["figures"] == {"silent_s": 660.0}  # raised on the 2nd pass, T0 + 11 min
    assert bodies[0]["evidence_url"] == ""  # no base URL configured
    assert ledger.open_alerts() == []


class FlakyLedger:
    """The real ledger, except that the first read fails as a busy database would."""

    def __init__(self, ledger: Any) -> None:
        self._ledger = ledger
        self.failures = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)

    def probes(self, **kw: Any) -> Any:
        if not self.failures:
            from collector.ledger import LedgerUnavailableError

            self.failures += 1
            raise LedgerUnavailableError("database is locked")
        return self._ledger.probes(**kw)


def test_a_failed_pass_is_logged_and_the_next_one_runs(ledger: Any) -> None:
    probes(ledger, 0, "l" * 8, start=T0)
    flaky = FlakyLedger(ledger)

    async def scenario() -> AlertService:
        ticks = itertools.count()
        clock = lambda: T0 + min(10 + next(ticks), 20) * MIN  # noqa: E731
        async with AlertNotifier([], ledger=ledger) as notifier:
            svc = AlertService(flaky, rules=RULES, notifier=notifier, clock=clock, interval_s=0.01)
            stop = asyncio.Event()
            task = asyncio.create_task(svc.run(stop))
            deadline = time.monotonic() + 20
            while svc.evaluations < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            stop.set()
            await asyncio.wait_for(task, 10)
        return svc

    svc = asyncio.run(scenario())
    assert flaky.failures == 1 and svc.evaluations >= 3
    assert {r.kind for r in ledger.open_alerts()} >= {"vendor_outage"}
