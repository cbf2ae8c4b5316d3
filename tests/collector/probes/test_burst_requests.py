"""`smsprobe-collector burst` and its pickup: the command validates and queues a request
in the ledger (exit 0/1/2) and sends nothing; the scheduler side (serve_burst_requests, as
the holder of the probing lease runs it) fires each pending request at its time, once,
within its budget, and settles it; a late one expires, one for a vendor it does not probe
is refused. The sender here records what the runner's send_now would be handed (the real
path through vendors is the e2e demo's, tests/e2e/test_demo.py)."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from collector.ledger import open_ledger
from collector.ledger.periods import BurstRequest, BurstState
from collector.probes.burst_cli import burst_command
from collector.probes.burst_requests import serve_burst_requests
from collector.probes.bursts import burst_of
from collector.probes.scheduler import PlannedProbe, Scheduler, Target, VendorPlan
from collector.probes.service import billed_parts

NS = 1_000_000_000
T = 1_800_000_000 * NS
BOLT = VendorPlan("bolt", ("verification_code",), interval_s=60, signature="S",
                  price_per_part=0.05)  # fmt: skip

CONFIG = """
[ledger]
url = "sqlite:///{db}"

[vendors.bolt]
kind = "http"
base_url = "http://127.0.0.1:9"
account = "a"
password = "p"

[probes]
timezone = "Asia/Shanghai"
secret = "s"

[probes.vendors.bolt]
profiles = ["verification_code"]
interval_s = 60
signature = "S"
price_per_part = 0.05
"""


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "collector.toml"
    path.write_text(CONFIG.format(db=tmp_path / "ledger.db"))
    return path


def _burst(config: Path, *args: str) -> Any:
    return CliRunner().invoke(burst_command, ["--config", str(config), *args])


def test_the_command_queues_a_request_and_says_where_its_figures_go(tmp_path: Path) -> None:
    config = _config(tmp_path)
    ok = _burst(config, "--vendor", "bolt", "--count", "30", "--within", "1m", "--at", "+90s",
                "--budget", "1.0", "--name", "peak_test")  # fmt: skip
    assert ok.exit_code == 0, ok.output
    queued = "queued burst peak_test: 30 verification_code probes through bolt within 60 s"
    assert queued in ok.output
    assert "buys 20 at 0.05 each" in ok.output  # the budget caps it: 1.0 / 0.05
    assert "no collector holds the probing lease now" in ok.output  # none running here
    assert "smsprobe-collector report" in ok.output and "burst-peak_test-" in ok.output
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        (req,) = ledger.burst_requests()
    finally:
        ledger.close()
    assert (req.name, req.vendor, req.count, req.within_s, req.budget, req.state) == (
        "peak_test", "bolt", 30, 60.0, 1.0, BurstState.PENDING,
    )  # fmt: skip
    assert req.at_ns - req.requested_at_ns == 90 * NS  # "+90s" from the request
    listed = _burst(config, "--list", "--json")
    assert listed.exit_code == 0 and json.loads(listed.output)[0]["state"] == "pending"
    again = _burst(config, "--vendor", "bolt", "--count", "3", "--within", "1", "--budget", "1",
                   "--name", "peak_test")  # fmt: skip
    assert again.exit_code == 2 and "already queued" in again.output


def test_bad_requests_exit_2_and_name_what_is_wrong(tmp_path: Path) -> None:
    config = _config(tmp_path)
    base = ["--count", "5", "--within", "10", "--budget", "1"]
    cases = [
        (["--vendor", "acme", *base], "no vendor 'acme' (probed: bolt)"),
        (["--vendor", "bolt", *base, "--profile", "marketing"], "bolt sends verification_code"),
        (["--vendor", "bolt", *base, "--at", "25:00"], "--at"),
        (["--vendor", "bolt", *base, "--at", "2020-01-01T20:00"], "is in the past"),
        (["--vendor", "bolt", "--count", "5", "--within", "10", "--budget", "0.01"],
         "buys no probe"),
        (["--vendor", "bolt", "--count", "5", "--within", "ten", "--budget", "1"], "--within"),
        (["--vendor", "bolt", "--count", "5"], "missing --within, --budget"),
    ]  # fmt: skip
    for args, expected in cases:
        result = _burst(config, *args)
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output, (args, result.output)
    assert _burst(config, "--help").exit_code == 0
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        assert ledger.burst_requests() == []  # nothing queued by a bad request
    finally:
        ledger.close()


def test_the_holder_fires_each_request_once_at_its_time_within_budget(tmp_path: Path) -> None:
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    sims = [Target("+8613800000001"), Target("+8613900000002")]
    scheduler = Scheduler([BOLT], sims, start_ns=T, rng=random.Random(1),
                          parts_of={("bolt", "verification_code"): 1})  # fmt: skip
    now = [T]
    sent: list[tuple[str, PlannedProbe, int]] = []

    async def send(planned: PlannedProbe, probe_id: str, max_attempts: int) -> None:
        sent.append((probe_id, planned, max_attempts))  # what the runner's send_now gets

    def req(name: str, at_s: float, **kw: Any) -> BurstRequest:
        values: dict[str, Any] = dict(name=name, vendor="bolt", profile="verification_code",
                                      count=10, within_s=0.0, at_ns=T + int(at_s * NS),
                                      budget=0.35, requested_at_ns=T)  # fmt: skip
        values.update(kw)
        return BurstRequest(**values)

    ledger.request_burst(req("later", 5))
    ledger.request_burst(req("stale", -1000))
    ledger.request_burst(req("elsewhere", 0, vendor="acme"))

    async def scenario() -> None:
        stop = asyncio.Event()
        serving = serve_burst_requests(ledger, scheduler, send, {"bolt": BOLT}, billed_parts,
                                       clock=lambda: now[0], stop=stop, by="collector-1",
                                       poll_s=0.01)  # fmt: skip
        task = asyncio.create_task(serving)
        await asyncio.sleep(0.2)
        assert sent == []  # "later" is not due yet
        now[0] = T + 5 * NS
        for _ in range(500):
            if sent and ledger.burst_requests(state=BurstState.STARTED) == []:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # more polls: nothing is sent twice
        stop.set()
        await task

    try:
        asyncio.run(scenario())
        states = {r.name: r for r in ledger.burst_requests()}
    finally:
        ledger.close()
    # 0.35 buys 7 probes at 0.05 (one part each); round-robin over the two SIMs
    assert len(sent) == 7 and len({pid for pid, _, _ in sent}) == 7
    assert {burst_of(pid) for pid, _, _ in sent} == {f"later-{(T + 5 * NS) // NS}"}
    assert [p.target.msisdn for _, p, _ in sent[:2]] == ["+8613800000001", "+8613900000002"]
    assert all(p.vendor == "bolt" and attempts == 1 for _, p, attempts in sent)
    later = states["later"]
    assert (later.state, later.sent, later.started_by) == (BurstState.DONE, 7, "collector-1")
    assert "capped by budget" in later.note
    assert states["stale"].state is BurstState.EXPIRED and states["stale"].sent == 0
    assert states["elsewhere"].state is BurstState.REFUSED
    assert "not probed by collector collector-1" in states["elsewhere"].note
