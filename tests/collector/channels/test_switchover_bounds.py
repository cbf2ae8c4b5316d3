"""Switch-over bounds are correct by construction: only probes that show the route's state
bound the channel's failure and the vendor's switch. Each case is a probe sequence that
once gave bounds missing the true delay (the demo's `--trouble` run: bolt's channel "a"
failed at 48.078 s, bolt switched to "b" 8 s later), checked against that truth."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from collector.channels.switchover import NOT_ENOUGH_PROBES, channel_events, episodes
from collector.ledger.channels import ChannelObservation
from collector.reports.figures import JudgedProbe
from collector.vendors.simulator.truthcheck import check_channels

NS = 1_000_000_000
T = 1_800_000_000 * NS
OLD, NEW = "10690303", "106903039"  # channel a and b as the handset sees them


def at(s: float) -> int:
    return T + round(s * NS)


def iso(s: float) -> str:
    return datetime.fromtimestamp(at(s) / NS, UTC).isoformat()


def world(
    steps: list[tuple[float, str, str]],
) -> tuple[list[JudgedProbe], list[ChannelObservation], dict[str, str]]:
    """(submit s, outcome, channel sender or refusal kind) -> probes, observations and
    refusal kinds, as channel_figures hands them over. Arrivals take 4 s, late ones 40 s."""
    probes, observations, kinds = [], [], {}
    for n, (s, outcome, what) in enumerate(steps):
        pid = f"p{n}"
        latency = {"delivered": 4.0, "late": 40.0}.get(outcome)
        values: dict[str, Any] = dict(
            probe_id=pid, vendor="bolt", carrier="china_telecom", region="",
            profile="notification", band="", submitted_at_ns=at(s),
            accepted=outcome != "rejected", outcome=outcome, dlr="consistent",
            dlr_claim="none", content="intact", latency_s=latency,
        )  # fmt: skip
        probes.append(JudgedProbe(**values))
        if latency is not None:
            observations.append(ChannelObservation(
                pid, "bolt", "china_telecom", "notification", at(s), at(s + latency), latency,
                what, "+8613800100511",
            ))  # fmt: skip
        elif outcome == "rejected":
            kinds[pid] = what
    return probes, observations, kinds


def truth(failed_s: float, switched_s: float) -> list[dict[str, Any]]:
    return [
        {"vendor": "bolt", "kind": "channel_failed", "channel": "a", "to_channel": "",
         "at": iso(failed_s)},
        {"vendor": "bolt", "kind": "channel_switched", "channel": "a", "to_channel": "b",
         "at": iso(switched_s)},
    ]  # fmt: skip


def figures(steps: list[tuple[float, str, str]]) -> dict[str, Any]:
    probes, observations, kinds = world(steps)
    found = episodes(probes, observations, rejections=kinds)
    return {
        "changes": [e.to_dict() for e in channel_events(observations)],
        "episodes": [e.to_dict() for e in found],
    }


def test_throttled_and_unsent_probes_are_not_route_failures() -> None:
    """The demo's bolt × China Telecom: refusals for our rate (flow control) and submits
    while the vendor unit was down never reached the channel. Counted as failures they made
    the bounds [9.137, 15.101] s, missing the true 8 s."""
    steps = [
        (42.593, "delivered", OLD),
        (45.877, "rejected", "Throttled"),  # before the channel even failed
        (49.122, "lost", ""),
        (50.872, "rejected", "Throttled"),
        (52.468, "rejected", "Throttled"),
        (53.187, "lost", ""),
        (55.014, "rejected", "Throttled"),
        (55.5, "rejected", "Transient"),  # "vendor not started"
        (57.695, "delivered", NEW),
        (60.0, "delivered", NEW),
    ]
    probes, observations, kinds = world(steps)
    (e,) = episodes(probes, observations, rejections=kinds)
    assert (e.how, e.failed, e.started_ns) == ("switched", 2, at(49.122))
    assert e.bounds_s is not None
    low, high = e.bounds_s
    assert high is not None and (round(low, 3), round(high, 3)) == (4.065, 15.102)
    assert low <= 8.0 <= high
    assert check_channels(figures(steps), truth(48.078, 56.078)) == []


def test_a_vendors_refusal_to_carry_is_a_route_failure() -> None:
    steps = [(0.0, "delivered", OLD), (5.0, "rejected", "other"), (8.0, "lost", ""),
             (12.0, "delivered", NEW)]  # fmt: skip
    probes, observations, kinds = world(steps)
    (e,) = episodes(probes, observations, rejections=kinds)
    assert (e.failed, e.bounds_s) == (2, (3.0, 12.0))


def test_a_late_arrival_does_not_bound_the_switch() -> None:
    """A late probe at the end of the failures went through the new channel, after the
    switch: as the lower bound's anchor it made [8, 15] s, missing the true 7 s."""
    steps = [(5.0, "delivered", OLD), (10.0, "lost", ""), (13.0, "lost", ""),
             (18.0, "late", NEW), (20.0, "delivered", NEW), (23.0, "delivered", NEW)]  # fmt: skip
    probes, observations, kinds = world(steps)
    (e,) = episodes(probes, observations, rejections=kinds)
    assert (e.how, e.failed) == ("switched", 3)
    assert e.bounds_s == (3.0, 15.0)
    assert check_channels(figures(steps), truth(9.0, 16.0)) == []


def test_no_probe_showing_the_route_down_is_not_enough_probes() -> None:
    """Only late arrivals failed: they went through some channel and bound nothing. No
    bound is claimed (never a wrong one), and the check has nothing to hold to the truth."""
    steps = [(0.0, "delivered", OLD), (5.0, "late", OLD), (8.0, "late", NEW),
             (12.0, "delivered", NEW), (15.0, "delivered", NEW)]  # fmt: skip
    probes, observations, kinds = world(steps)
    (e,) = episodes(probes, observations, rejections=kinds)
    assert (e.how, e.bounds_s, e.bounds_note) == ("switched", None, NOT_ENOUGH_PROBES)
    doc = e.to_dict()
    assert (doc["bounds_s"], doc["bounds_note"]) == (None, NOT_ENOUGH_PROBES)
    assert check_channels(figures(steps), truth(6.0, 7.0)) == []


def test_one_arrival_over_a_new_channel_is_an_unconfirmed_change() -> None:
    """The demo's bolt × China Telecom before the adapter fix: one arrival over channel b,
    then none (the vendor never logged in again). That is not a measured change, and the
    check says why it misses the switch: not enough probes."""
    steps = [(42.593, "delivered", OLD), (49.122, "lost", ""), (53.187, "lost", ""),
             (57.695, "delivered", NEW)]  # fmt: skip
    _, observations, _ = world(steps)
    events = [(e.kind, e.from_channel, e.to_channel) for e in channel_events(observations)]
    assert events == [("first_seen", "", f"{OLD}/0"), ("unconfirmed", f"{OLD}/0", f"{NEW}/0")]
    problems = check_channels(figures(steps), truth(48.078, 56.078))
    assert len(problems) == 1 and "not enough probes" in problems[0], problems
    # a second arrival over it confirms the change, at the first one's arrival
    steps.append((60.0, "delivered", NEW))
    _, observations, _ = world(steps)
    changed = [e for e in channel_events(observations) if e.kind != "first_seen"]
    assert [(e.kind, e.at_ns) for e in changed] == [("changed", at(57.695 + 4.0))]
    assert check_channels(figures(steps), truth(48.078, 56.078)) == []
