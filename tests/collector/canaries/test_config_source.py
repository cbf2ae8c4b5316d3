"""The pushed AgentConfig carries the planner's canary jobs; its version follows the plan."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.wire.records import SimInfo
from collector.api.servicer import ConfigStore
from collector.app import agent_config_source
from collector.canaries import CanaryPlanner, keep_planned
from collector.config import parse_config
from collector.ledger.model import ModemStatus


class AgentRow:
    """The two fields of a ledger AgentStatus the planner reads."""

    def __init__(self, agent_id: str, *modems: ModemStatus) -> None:
        self.agent_id = agent_id
        self.modems = modems


def modem(n: int, present: bool = True, msisdn: bool = True) -> ModemStatus:
    return ModemStatus(
        imei=f"86000000000000{n}", manufacturer="", model="", firmware="", port="", profile="",
        present=present,
        sim=SimInfo(iccid=f"8986{n}", msisdn=f"+861380000000{n}" if msisdn else "",
                    carrier="china_mobile"),
        last_health=None,
    )  # fmt: skip


def test_canary_jobs_are_pushed_and_change_the_version_only_with_the_plan(
    tmp_path: Path,
) -> None:
    cfg = parse_config({"agents": {"canary_interval_s": 60}}, file="c.toml", base_dir=tmp_path)
    planner = CanaryPlanner(cfg.agent_defaults.canary_interval_s)
    store = ConfigStore(agent_config_source(cfg, planner.jobs_for))
    empty = store.config_for("a")
    assert list(empty.canaries) == []

    rows = [AgentRow("a", modem(1), modem(2), modem(3, present=False), modem(4, msisdn=False))]
    assert planner.update(rows)
    pushed = store.config_for("a")
    assert pushed.version != empty.version
    assert sorted((c.from_imei, c.to_msisdn, c.interval_s) for c in pushed.canaries) == [
        ("860000000000001", "+8613800000002", 60.0),
        ("860000000000002", "+8613800000001", 60.0),
    ]
    assert all("{token}" in c.text for c in pushed.canaries)
    assert not planner.update(rows)  # same fleet, same plan
    assert store.config_for("a").version == pushed.version


def test_keep_planned_bumps_the_store_when_the_fleet_changes(tmp_path: Path) -> None:
    async def scenario() -> None:
        cfg = parse_config({"agents": {"canary_interval_s": 60}}, file="c.toml", base_dir=tmp_path)
        planner = CanaryPlanner(60.0)
        source = agent_config_source(cfg, planner.jobs_for)
        store = ConfigStore(source)
        fleet: list[AgentRow] = [AgentRow("a", modem(1))]
        stop = asyncio.Event()

        async def changed() -> None:
            await store.replace(source)

        task = asyncio.create_task(keep_planned(planner, lambda: list(fleet), changed, stop,
                                                interval_s=0.01))  # fmt: skip
        seen = store.generation
        fleet.append(AgentRow("b", modem(2)))  # a second SIM: now both get canaries
        seen = await asyncio.wait_for(store.wait_change(seen), 5)
        assert [c.to_msisdn for c in store.config_for("a").canaries] == ["+8613800000002"]
        assert [c.to_msisdn for c in store.config_for("b").canaries] == ["+8613800000001"]
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
