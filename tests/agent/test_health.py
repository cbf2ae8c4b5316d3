"""Health judgement (pure) and the recovery ladder (pure policy + port re-finding)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from agent.health import HealthInputs, RegState, StorageState, judge
from agent.recovery import Action, find_port, next_action
from agent.wire.records import Registration

NOW = 10_000 * 1_000_000_000


def ok_inputs(**kw: object) -> HealthInputs:
    base: dict[str, object] = dict(
        at_ns=NOW,
        responding=True,
        rssi_dbm=-71,
        ber=0,
        registrations=(RegState("CREG", 0), RegState("CEREG", 1, 7)),
        operator_mcc_mnc="46000",
        sim_state="READY",
        storages=(StorageState("SM", 1, 50),),
        iccid="8986",
    )
    base.update(kw)
    return HealthInputs(**base)  # type: ignore[arg-type]


def test_healthy_lte_modem() -> None:
    h = judge(ok_inputs())
    assert h.healthy and h.reasons == ()
    assert h.registration is Registration.HOME and h.rat == "LTE" and h.rssi_dbm == -71
    assert (h.storage_used, h.storage_total) == (1, 50) and h.iccid == "8986"


def test_not_responding_reports_only_that() -> None:
    h = judge(HealthInputs(at_ns=NOW, responding=False))
    assert not h.healthy and h.reasons == ("not_responding",) and math.isnan(h.rssi_dbm)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"registrations": (RegState("CREG", 2), RegState("CEREG", 0))}, "not_registered"),
        ({"registrations": (RegState("CREG", 3),)}, "registration_denied"),
        ({"sim_state": "SIM PIN"}, "sim_not_ready"),
        ({"storages": (StorageState("SM", 50, 50),)}, "storage_full"),
        ({"settings_lost": True}, "settings_lost"),
        ({"registrations": (RegState("C5GREG", 1, 11), RegState("CEREG", 0))}, "5g_sa_no_sms"),
    ],
)
def test_each_unhealthy_reason(change: dict[str, object], reason: str) -> None:
    h = judge(ok_inputs(**change))
    assert not h.healthy and reason in h.reasons


def test_storage_high_is_a_warning_only() -> None:
    h = judge(ok_inputs(storages=(StorageState("SM", 41, 50),)))
    assert h.healthy and h.reasons == ("storage_high",)


def test_no_sms_for_too_long_only_with_a_traffic_hint() -> None:
    old = NOW - 7200 * 1_000_000_000
    quiet = ok_inputs(last_sms_at_ns=old, watching_since_ns=old)
    assert judge(quiet).healthy
    assert judge(quiet, expected_sms_interval_s=3600).reasons == ("no_sms_for_too_long",)
    recent = ok_inputs(last_sms_at_ns=NOW - 10 * 1_000_000_000, watching_since_ns=old)
    assert judge(recent, expected_sms_interval_s=3600).healthy


def test_sms_only_and_roaming_registrations_count() -> None:
    assert (
        judge(ok_inputs(registrations=(RegState("CEREG", 7),))).registration is Registration.ROAMING
    )
    assert judge(ok_inputs(registrations=(RegState("CEREG", 6),))).healthy


def test_escalation_ladder() -> None:
    steps = [next_action(n, True, can_power_cycle=True) for n in range(4)]
    assert steps == [Action.REOPEN, Action.RESET, Action.POWER_CYCLE, Action.RESET]
    assert [next_action(n, True, False) for n in range(3)] == [
        Action.REOPEN,
        Action.RESET,
        Action.REOPEN,
    ]
    assert next_action(0, False, True) is Action.WAIT_FOR_PORT
    assert next_action(3, False, True) is Action.POWER_CYCLE
    assert next_action(3, False, False) is Action.WAIT_FOR_PORT


async def _probe(port: str) -> str:
    if port.endswith("dead"):
        raise OSError("no answer")
    return {"/x/a": "111", "/x/b": "222"}.get(port, "")


def test_find_port_prefers_configured_path_then_imei(tmp_path: Path) -> None:
    import asyncio

    link = tmp_path / "by-id-modem"
    link.write_text("")
    assert asyncio.run(find_port(str(link), "222", ["/x/a"], _probe)) == str(link)
    gone = str(tmp_path / "gone")
    assert asyncio.run(find_port(gone, "222", ["/x/dead", "/x/a", "/x/b"], _probe)) == "/x/b"
    assert asyncio.run(find_port(gone, "222", ["/x/b"], _probe, busy=frozenset({"/x/b"}))) is None
    assert asyncio.run(find_port(gone, "", ["/x/b"], _probe)) is None
    assert asyncio.run(find_port("socket://localhost:1", "", [], None)) == "socket://localhost:1"
