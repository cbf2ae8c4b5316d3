"""The report's channels section: channels with their share of arrivals and latency, the
change of channel at its time, and the degradation episode with its switch-over time,
from the channel figures (collector/channels) of a hand-made probe sequence."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from collector.channels.switchover import channel_events, channel_summaries, episodes, summarise
from collector.ledger.channels import ChannelObservation
from collector.reports.build import build_report
from collector.reports.figures import JudgedProbe
from collector.reports.render import render

NS = 1_000_000_000
T = 1_800_000_000 * NS  # 2027-01-15T08:00:00Z
OLD, NEW, SMSC = "10690303", "106903039", "+8613800100511"
ZONE = ZoneInfo("Asia/Shanghai")


def sequence() -> tuple[list[JudgedProbe], list[ChannelObservation]]:
    """bolt × China Telecom, a probe every 10 s: 3 arrive over OLD (4 s), 3 are lost, 3
    arrive over NEW (6 s): the vendor switched channel."""
    steps = [(OLD, "delivered")] * 3 + [("", "lost")] * 3 + [(NEW, "delivered")] * 3
    probes, observations = [], []
    for n, (sender, outcome) in enumerate(steps):
        at = T + n * 10 * NS
        latency = None if outcome == "lost" else (4.0 if sender == OLD else 6.0)
        probes.append(
            JudgedProbe(f"p{n}", "bolt", "china_telecom", "", "otp", "", at, True, outcome,
                        "consistent", "success", "intact", latency_s=latency)
        )  # fmt: skip
        if latency is not None:
            arrived = at + int(latency * NS)
            observations.append(
                ChannelObservation(f"p{n}", "bolt", "china_telecom", "otp", at, arrived,
                                   latency, sender, SMSC)
            )  # fmt: skip
    return probes, observations


def figures(probes: list[JudgedProbe], observations: list[ChannelObservation]) -> dict[str, Any]:
    found = episodes(probes, observations)
    return {
        "channels": [c.to_dict() for c in channel_summaries(observations)],
        "changes": [e.to_dict() for e in channel_events(observations)],
        "episodes": [e.to_dict() for e in found],
        "switch_over": [s.to_dict() for s in summarise(found)],
        "failover_sends": 0,
    }


def local(at_ns: int) -> str:
    return datetime.fromtimestamp(at_ns // NS, ZONE).strftime("%Y-%m-%d %H:%M:%S")


def test_channels_changes_and_switch_over_in_the_report() -> None:
    probes, observations = sequence()
    report = build_report(
        probes, since="2027-01-15T16:00:00+08:00", until="2027-01-15T17:00:00+08:00",
        generated_at="2027-01-15T09:00:00+00:00", software_version="0.1.0",
        timezone="Asia/Shanghai", channels=figures(probes, observations),
    )  # fmt: skip
    page = render(report, "html")
    section = page[page.index("<section id=channels>") : page.index("</section>",
                   page.index("<section id=channels>"))]  # fmt: skip
    # Each channel: 3 of the 6 arrivals on this carrier, its p50 latency, first/last seen.
    for sender, latency, first in ((OLD, "4.00", 0), (NEW, "6.00", 6)):
        arrived = T + first * 10 * NS + int(float(latency) * NS)
        row = (f"<td class=key>bolt</td><td class=key>china_telecom</td><td>{sender}</td>"
               f"<td>{SMSC}</td><td>0</td><td>3</td><td>50.0 %</td><td>{latency}</td>"
               f"<td>fast</td><td>{local(arrived)}</td>")  # fmt: skip
        assert row in section, row
    # The change: at the first arrival over NEW (probe 6 sent at +60 s, 6 s on the way).
    assert "Channel changes (1)" in section
    assert (f"<td class=key>{local(T + 66 * NS)}</td><td class=key>bolt</td>"
            f"<td class=key>china_telecom</td><td>{OLD}/0</td><td>{NEW}/0</td>"
            "<td>changed</td>") in section  # fmt: skip
    # The episode: first failure sent at +30 s, the first on-time arrival at +66 s: 36 s;
    # the true delay lies in [last lost - first lost, recovering submit - last good] =
    # [50 - 30, 60 - 20] s (collector/channels/switchover.py).
    assert "Degradation episodes and switch-over (1)" in section
    assert "<td>1 / 0 / 0</td><td>36.0</td><td>36.0</td><td>—</td>" in section
    assert (f"<td>{local(T + 30 * NS)}</td><td>3</td><td>vendor switched channel</td>"
            f"<td>{OLD}/0 → {NEW}/0</td><td>{local(T + 66 * NS)}</td><td>36.0</td>"
            "<td>20.0 – 40.0</td><td>—</td></tr>") in section  # fmt: skip
    md = render(report, "md")
    assert "## Channel changes" in md and f"| {local(T + 66 * NS)} | bolt |" in md


def test_an_episode_without_an_upper_bound_shows_the_lower_one() -> None:
    """No on-time probe before the failures: the switch took at least the lower bound
    (bounds_s [20, None]); the report says so instead of failing (it broke the demo)."""
    probes, observations = sequence()
    channels = figures(probes, observations)
    (episode,) = channels["episodes"]
    episode["bounds_s"] = [episode["bounds_s"][0], None]
    report = build_report(
        probes, since="2027-01-15T16:00:00+08:00", until="2027-01-15T17:00:00+08:00",
        generated_at="x", software_version="0.1.0", timezone="Asia/Shanghai", channels=channels,
    )  # fmt: skip
    assert "<td>≥ 20.0</td>" in render(report, "html")


def test_no_observations_says_so() -> None:
    probes, _ = sequence()
    page = render(build_report(probes, since="2027-01-15T16:00:00+08:00",
                               until="2027-01-15T17:00:00+08:00", generated_at="x",
                               software_version="0.1.0"), "html")  # fmt: skip
    assert "No channel observations in the period." in page
