"""Three collectors on one real PostgreSQL ledger, against real processes: two stand-in
HTTP vendors (tests/collector/health/flaky_vendor.py, each logging the digest of every
message it received: ground truth), one answering 500 (a vendor down pages
monitoring_degraded), and a webhook receiver counting deliveries by their
X-Smsprobe-Delivery id. The lease holder is killed with SIGKILL mid-run: another collector
takes over; every probe reached the vendor exactly once, every alert event was delivered
exactly once, and the takeover time is measured."""

from __future__ import annotations

import hashlib
import json
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from collector.demo.configs import http_vendor_toml
from collector.ledger import open_ledger
from collector.ledger.leases import PROBING
from collector.ledger.sql import SqlLedger
from collector.ports import free_port
from tests.collector.health.test_isolation import _start, _stop, _wait
from tests.collector.ledger.builders import registration

NS = 1_000_000_000
TTL_S, RENEW_S = 2.0, 0.5


class Receiver:
    """A webhook receiver in a thread: every POST's delivery id, in order."""

    def __init__(self) -> None:
        self.port = free_port()
        self.ids: list[str] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _serve(self) -> None:
        import asyncio

        async def hook(request: web.Request) -> web.Response:
            await request.read()
            self.ids.append(request.headers.get("X-Smsprobe-Delivery", "?"))
            return web.Response(text="ok")

        async def main() -> None:
            app = web.Application()
            app.router.add_post("/hook", hook)
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self._ready.set()
            await asyncio.Event().wait()

        asyncio.run(main())


def _config(tmp: Path, name: str, url: str, ports: dict[str, int], hook: int) -> Path:
    lanes = "\n".join(
        f"""[probes.vendors.{v}]
profiles = ["notification"]
interval_s = 0.3
rate_per_s = 50
burst = 50
daily_cap_per_number = 100000
"""
        for v in ("good", "down")
    )
    path = tmp / f"{name}.toml"
    path.write_text(
        f"""[server]
listen = "127.0.0.1:{free_port()}"
instance = "{name}"
[tls]
insecure = true
[ledger]
url = "{url}"
[metrics]
listen = ""
[log]
level = "info"
format = "json"
[coordination]
lease_ttl_s = {TTL_S}
renew_interval_s = {RENEW_S}

{http_vendor_toml("good", ports["good"])}
{http_vendor_toml("down", ports["down"])}

[probes]
secret = "scale-out"
webhook_listen = "127.0.0.1:0"
deadline_s = 5
give_up_s = 10
judge_interval_s = 0.5
poll_interval_s = 5
[probes.supervision]
backoff_base_s = 0.2
backoff_max_s = 1.0
vendor_down_after = 2
{lanes}
[alerts]
evaluate_interval_s = 1
webhooks = ["http://127.0.0.1:{hook}/hook"]
[alerts.rules]
window_s = 60
raise_after = 1
clear_after = 1
"""
    )
    return path


@pytest.fixture
def vendors(tmp_path: Path) -> Iterator[dict[str, int]]:
    ports = {"good": free_port(), "down": free_port()}
    (tmp_path / "down.mode").write_text("500")
    procs = [
        _start(
            [sys.executable, "-m", "tests.collector.health.flaky_vendor", "--port", str(port),
             "--mode-file", str(tmp_path / f"{name}.mode")],
            tmp_path / f"vendor-{name}.log",
        )
        for name, port in ports.items()
    ]  # fmt: skip
    try:
        yield ports
    finally:
        for p in procs:
            _stop(p, signal.SIGKILL)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_three_collectors_probe_and_page_once_and_survive_a_kill_of_the_holder(
    tmp_path: Path, postgres_url: str, vendors: dict[str, int]
) -> None:
    ledger: SqlLedger = open_ledger(postgres_url)
    ledger.register_agent(registration(), at_ns=time.time_ns())  # one SIM to probe
    hook = Receiver()
    names = ("c1", "c2", "c3")
    configs = {n: _config(tmp_path, n, postgres_url, vendors, hook.port) for n in names}

    def logs() -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(tmp_path.glob("*.log")))

    def start(name: str) -> object:
        return _start(
            [sys.executable, "-m", "collector.cli", "serve", "--insecure", "--config",
             str(configs[name])],
            tmp_path / f"{name}.log",
        )  # fmt: skip

    def holder() -> tuple[str, int]:
        now = ledger.ledger_now_ns()
        for lease in ledger.leases():
            if lease.name == PROBING and lease.expires_at_ns > now:
                return lease.holder, lease.token
        return "", 0

    def accepted() -> int:
        return sum(p.submit_status == "accepted" for p in ledger.probes(vendor="good"))

    procs = {"c1": start("c1")}
    try:
        _wait("c1 to hold the probing lease", lambda: holder()[0] == "c1", logs)
        procs["c2"], procs["c3"] = start("c2"), start("c3")
        _wait("10 probes through good", lambda: accepted() >= 10, logs)
        _wait("monitoring_degraded paged", lambda: len(hook.ids) >= 1, logs)
        # Every collector runs; one holds probing, the others stand by.
        _wait(
            "three collectors in the status",
            lambda: {u.instance for u in ledger.collector_units()} >= set(names),
            logs,
        )
        old, old_token = holder()
        assert old == "c1"
        before = accepted()
        procs[old].send_signal(signal.SIGKILL)  # type: ignore[attr-defined]
        procs[old].wait(10)  # type: ignore[attr-defined]
        killed_ns = time.time_ns()
        _wait("another collector to take over", lambda: holder()[1] > old_token, logs)
        new, new_token = holder()
        lease = next(x for x in ledger.leases() if x.name == PROBING)
        takeover_s = (lease.acquired_at_ns - killed_ns) / NS
        _wait("10 more probes after the takeover", lambda: accepted() >= before + 10, logs)
        status = json.loads(
            __import__("subprocess").run(
                [sys.executable, "-m", "collector.cli", "status", "--config",
                 str(configs[new]), "--json"],
                capture_output=True, check=False,
            ).stdout
        )  # fmt: skip
        for name in names:
            if name != old:
                assert _stop(procs[name]) == 0  # type: ignore[arg-type]
    finally:
        for p in procs.values():
            _stop(p, signal.SIGKILL)  # type: ignore[arg-type]

    # The successor's tenure began only after the dead holder's lease had run out.
    assert new in ("c2", "c3") and new_token == old_token + 1
    assert lease.previous_holder == "c1"
    assert {x["lease"]: x["holder"] for x in status["leases"]}[PROBING] == new
    # Ground truth: every message the vendor received, once; each is a probe in the ledger.
    received = [line.split()[2] for line in (tmp_path / "good.mode.log").read_text().splitlines()]
    probes = ledger.probes(vendor="good")
    sent = {_digest(p.plan.body): p for p in probes}
    duplicates = [d for d, n in Counter(received).items() if n > 1]
    assert duplicates == []
    assert set(received) <= set(sent)
    assert {d for d, p in sent.items() if p.submit_status == "accepted"} <= set(received)
    unknown = [p for p in probes if p.submit_status == "ambiguous"]
    assert all(p.error_kind == "interrupted" for p in unknown)
    # Every alert event in the ledger reached the webhook exactly once.
    alerts = ledger.alerts()
    events = {f"{a.alert_id}:start" for a in alerts} | {
        f"{a.alert_id}:end" for a in alerts if a.ended_at_ns
    }
    counts = Counter(hook.ids)
    assert set(counts) == events and set(counts.values()) == {1}, (counts, events)
    assert all(d.state == "delivered" for d in ledger.deliveries())
    print(json.dumps({
        "probes_sent": len(received), "probes_in_ledger": len(probes),
        "ambiguous": len(unknown), "alert_events": len(events),
        "deliveries_received": len(hook.ids), "takeover_s": round(takeover_s, 2),
        "bound_s": TTL_S + RENEW_S,
    }))  # fmt: skip
    ledger.close()
