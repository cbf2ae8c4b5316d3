"""Canaries end to end, in process: the real agent (`run_agent`) on two simulated modems
(real ptys, the simulator's SIM-to-SIM routing) uploads to a real collector servicer over
gRPC; the collector plans the canaries from the SIMs the agent registered and pushes them.
Both canaries arrive; then the target modem is knocked off the network, its canary is lost,
and the judge marks it unhealthy: a probe to it comes out inconclusive."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from pathlib import Path

from agent.app import run_agent
from agent.common.backoff import ExponentialBackoff
from agent.config import CollectorConfig as AgentCollectorConfig
from agent.modem.simulator.modem import ModemSimulator
from agent.modem.simulator.pdu import DeliverPart
from agent.modem.simulator.pty import ModemServer
from collector.app import agent_config_source
from collector.canaries import (
    CANARY_FAILED,
    CanaryOutcome,
    CanaryPlanner,
    CanaryStatus,
    canary_outcomes,
    canary_spans,
    keep_planned,
)
from collector.config import parse_config
from collector.correlation.model import Outcome, Policy
from collector.judging import Judge, JudgingConfig
from collector.ledger import open_ledger
from collector.ledger.probes import ProbePlan, Submission
from collector.ledger.sql import SqlLedger
from tests.agent.harness import agent_config, eventually, make_sim
from tests.grpc.harness import in_process_collector

DEADLINE_S = 3.0


def outcomes(ledger: SqlLedger) -> list[CanaryOutcome]:
    return canary_outcomes(
        ledger, since_ns=0, now_ns=time.time_ns(), deadline_s=DEADLINE_S, max_silence_s=60.0
    )


def test_canaries_flow_and_a_receiver_that_cannot_receive_fails_its_canary(
    tmp_path: Path,
) -> None:
    ledger = open_ledger(f"sqlite:///{tmp_path}/ledger.db")
    sims = [make_sim(41), make_sim(42)]

    def route(origin: ModemSimulator, destination: str, part: DeliverPart) -> bool:
        # The simulated carrier network (as agent/modem/simulator/fleet.py does it).
        for sim in sims:
            if sim is not origin and sim.identity.matches(destination):
                sim.deliver_parts([part])
                return True
        return False

    for sim in sims:
        sim.mo_router = route
    a, b = (s.identity.msisdn for s in sims)

    async def scenario() -> None:
        cfg = parse_config(
            {"agents": {"health_interval_s": 1, "canary_interval_s": 1.5}},
            file="collector.toml",
            base_dir=tmp_path,
        )
        planner = CanaryPlanner(cfg.agent_defaults.canary_interval_s)
        source = agent_config_source(cfg, planner.jobs_for)
        stop = asyncio.Event()
        async with contextlib.AsyncExitStack() as stack:
            links = []
            for i, sim in enumerate(sims):
                links.append(tmp_path / f"modem{i}")
                await stack.enter_async_context(ModemServer(sim, links[-1]))
            col = await stack.enter_async_context(
                in_process_collector(ledger, None, config_source=source)
            )

            async def changed() -> None:
                await col.configs.replace(source)

            planning = asyncio.create_task(
                keep_planned(planner, ledger.agents, changed, stop, interval_s=0.2)
            )
            config = dataclasses.replace(
                agent_config(tmp_path, links),
                collector=AgentCollectorConfig(address=col.address, insecure=True),
            )
            agent = asyncio.create_task(
                run_agent(
                    config,
                    stop=stop,
                    install_signals=False,
                    backoff=ExponentialBackoff(base_s=0.1, max_s=0.2),
                )
            )
            try:
                # The plan follows registration: each SIM gets canaries from the other one.
                await eventually(lambda: len(planner.jobs_for("test-agent")) == 2, 30)
                assert {j.to_msisdn for j in planner.jobs_for("test-agent")} == {a, b}

                def received_both() -> bool:
                    got = {
                        o.canary.to_msisdn
                        for o in outcomes(ledger)
                        if o.status is CanaryStatus.RECEIVED
                    }
                    return got == {a, b}

                await eventually(received_both, 30)
                for o in outcomes(ledger):
                    assert o.status is not CanaryStatus.LOST

                sims[1].set_registration(0)  # b is off the network: nothing reaches it
                knocked_at = time.time_ns()

                def lost_to_b() -> list[CanaryOutcome]:
                    return [
                        o
                        for o in outcomes(ledger)
                        if o.status is CanaryStatus.LOST
                        and o.canary.to_msisdn == b
                        and o.canary.sent_at_ns >= knocked_at
                    ]

                await eventually(lost_to_b, 30)
                spans = canary_spans(outcomes(ledger), now_ns=time.time_ns())
                assert [s.reason for s in spans[b]] == [CANARY_FAILED]
                assert spans[b][0].start_ns >= knocked_at - 2 * 10**9
                # b's own canaries to a fail at send (not registered): that proves nothing
                # about a, which stays healthy.
                await eventually(
                    lambda: any(
                        o.status is CanaryStatus.SEND_FAILED and o.canary.to_msisdn == a
                        for o in outcomes(ledger)
                    ),
                    30,
                )
                assert a not in canary_spans(outcomes(ledger), now_ns=time.time_ns())

                # A probe to b submitted while its canary was failing: inconclusive.
                submitted = lost_to_b()[0].canary.sent_at_ns + 10**8
                imei_b = sims[1].identity.imei
                ledger.add_probe(
                    ProbePlan(
                        probe_id="p-b", vendor="v", msisdn=b, profile="otp_cn", token="482913",
                        body="code 482913", expected_text="code 482913",
                        planned_at_ns=submitted, agent_id="test-agent", modem_imei=imei_b,
                    )
                )  # fmt: skip
                ledger.record_submission(
                    Submission("p-b", "accepted", submitted, submitted, ("m1",))
                )
                judge = Judge(
                    ledger,
                    JudgingConfig(policy=Policy(give_up_s=1.0), canary_deadline_s=DEADLINE_S),
                    time.time_ns,  # past the probe's give-up and the canary's deadline
                )
                [verdict], _ = judge.judge_once()
                assert verdict.outcome is Outcome.INCONCLUSIVE
                assert "receiver:canary_failed" in verdict.reasons
            finally:
                stop.set()
                assert await asyncio.wait_for(agent, 30) == 0
                await asyncio.wait_for(planning, 5)

    try:
        asyncio.run(scenario())
    finally:
        ledger.close()
