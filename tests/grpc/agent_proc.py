"""A stand-in agent process for the link tests: real Outbox file, real Uploader, records
generated straight into the outbox (as the receive path would persist them).

    python -m tests.grpc.agent_proc --outbox F --address H:P --agent-id ID --certs DIR
        [--modems 8] [--total N] [--rate R] [--max-pending P]

Generates until the outbox's last_seq reaches --total (so a restarted process continues
where the killed one stopped), uploads until SIGTERM. Prints one JSON line when running.
With --max-pending, generation waits while P records are unacked (a bounded outbox, as the
receiver stops reading when its outbox is full): how far it runs ahead of the collector is
then bounded by progress, not by time, however slowly a loaded machine restarts things.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path

from agent.common.backoff import ExponentialBackoff
from agent.common.logs import configure_logging
from agent.common.metrics_http import serve_metrics
from agent.metrics import AgentMetrics
from agent.outbox.store import ModemRef, Outbox
from agent.uplink.client import Uploader, UploadSettings, make_channel
from agent.uplink.model import AgentIdentity
from agent.wire.records import ModemHealth, Registration
from tests.grpc.harness import modems_of, sms


async def generate(
    outbox: Outbox,
    up: Uploader,
    agent: str,
    n_modems: int,
    total: int,
    rate: float,
    max_pending: int = 0,
) -> None:
    modems = modems_of(agent, n_modems)
    period = 1.0 / rate if rate > 0 else 0.0
    started = time.monotonic()
    sent = 0
    while (seq := outbox.last_seq()) < total:
        if max_pending and outbox.depth() >= max_pending:
            await asyncio.sleep(0.01)
            started += 0.01  # waiting is not falling behind: no burst to catch up
            continue
        index = seq % len(modems)
        m = modems[index]
        ref = ModemRef(key=m.imei, imei=m.imei, iccid=m.sim.iccid if m.sim else "")
        now = time.time_ns()
        if (seq // len(modems)) % 5 == 4:  # every modem reports health now and then
            sick = index == len(modems) - 1  # the last modem lost its network
            outbox.append(
                ModemHealth(
                    at_ns=now,
                    responding=True,
                    healthy=not sick,
                    reasons=("not_registered",) if sick else (),
                    registration=Registration.SEARCHING if sick else Registration.HOME,
                    rssi_dbm=-70.0,
                    iccid=ref.iccid,
                ),
                ref,
            )
        else:
            outbox.append(sms(seq, now), ref)
        up.notify()
        sent += 1
        if period:
            lag = started + sent * period - time.monotonic()
            await asyncio.sleep(max(0.0, lag))


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--outbox", type=Path, required=True)
    p.add_argument("--address", required=True)
    p.add_argument("--agent-id", required=True)
    p.add_argument("--certs", type=Path, required=True)
    p.add_argument("--modems", type=int, default=8)
    p.add_argument("--total", type=int, default=1000)
    p.add_argument("--rate", type=float, default=0.0)
    p.add_argument("--max-pending", type=int, default=0)
    p.add_argument("--metrics", default="")
    a = p.parse_args()
    configure_logging("info", "json")
    outbox = Outbox(a.outbox)
    metrics = AgentMetrics()
    mport = serve_metrics(metrics.registry, a.metrics) if a.metrics else 0
    up = Uploader(
        outbox,
        lambda: make_channel(
            a.address,
            ca_cert=a.certs / "ca.pem",
            cert=a.certs / f"{a.agent_id}.pem",
            key=a.certs / f"{a.agent_id}.key",
        ),
        AgentIdentity(agent_id=a.agent_id, site="lab", region="test"),
        modems_provider=lambda: modems_of(a.agent_id, a.modems),
        backoff=ExponentialBackoff(base_s=0.05, max_s=0.5),
        settings=UploadSettings(batch_max_records=100, clock_samples_on_connect=2),
        metrics=metrics,
    )
    outbox.clock = up.clock_estimate
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    gen = asyncio.create_task(
        generate(outbox, up, a.agent_id, a.modems, a.total, a.rate, a.max_pending)
    )
    print(json.dumps({"event": "agent_proc_running", "metrics_port": mport}), flush=True)
    await up.run(stop)
    gen.cancel()
    outbox.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
