"""Multi-channel vendors in the simulator: the channels a vendor routes over, their
failures, and when (if ever) the vendor moves traffic to another channel.

A Chinese aggregator reaches each carrier over several channels (通道): each has its own
sender code (the 106 number's extension), often its own SMSC, sometimes its own TP-PID
habit. When one fails, a good vendor switches to another after some minutes; a bad one
keeps sending into the dead channel until it comes back. Pure: a function of the knobs
and simulated seconds since the scenario started (no clock reads, no I/O).

Scenario keys, per vendor (docs/channels.md):

    [[vendors.bolt.channels]]          # the first is used until it fails
    name = "a"  sender_ext = "303"  smsc = "+8613800100500"  pid = 0
    [[vendors.bolt.channel_failures]]
    channel = "a"  start_s = 12  end_s = 600  switch_after_s = 6   # omit: never switches
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agent.common.tomlconfig import Table

__all__ = [
    "Channel",
    "ChannelEvent",
    "ChannelFailure",
    "ChannelPlan",
    "parse_channel_plan",
]


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    sender_ext: str  # appended to the vendor's sender_prefix
    smsc: str = ""  # "" = the target carrier's SMSC
    pid: int = 0  # TP-PID of the SMS-DELIVER (TS 23.040 §9.2.3.9)


@dataclass(frozen=True, slots=True)
class ChannelFailure:
    channel: str
    start_s: float
    end_s: float = math.inf
    switch_after_s: float | None = None  # None: the vendor never switches away

    def covers(self, elapsed_s: float) -> bool:
        return self.start_s <= elapsed_s < self.end_s


@dataclass(frozen=True, slots=True)
class ChannelEvent:
    """What happened to a vendor's channels, at simulated seconds since the start."""

    at_s: float
    kind: str  # channel_failed | channel_switched | channel_restored
    channel: str
    to_channel: str = ""  # channel_switched: where traffic went


@dataclass(frozen=True, slots=True)
class ChannelPlan:
    channels: tuple[Channel, ...] = ()
    failures: tuple[ChannelFailure, ...] = ()

    def events(self) -> tuple[ChannelEvent, ...]:
        """Failures, restorations and the vendor's switches, in time order. A switch goes
        to the next channel in the list (wrapping) that is not failing at that moment; with
        none left, traffic stays on the dead channel."""
        if not self.channels:
            return ()
        out: list[ChannelEvent] = []
        for f in self.failures:
            out.append(ChannelEvent(f.start_s, "channel_failed", f.channel))
            if math.isfinite(f.end_s):
                out.append(ChannelEvent(f.end_s, "channel_restored", f.channel))
        active = self.channels[0].name
        names = [c.name for c in self.channels]
        for f in sorted(self.failures, key=lambda f: f.start_s):
            if f.channel != active or f.switch_after_s is None:
                continue
            at = f.start_s + f.switch_after_s
            if at >= f.end_s:
                continue  # the channel came back first
            i = names.index(active)
            to = next(
                (
                    n
                    for n in names[i + 1 :] + names[:i]
                    if not any(g.channel == n and g.covers(at) for g in self.failures)
                ),
                None,
            )
            if to is not None:
                out.append(ChannelEvent(at, "channel_switched", active, to))
                active = to
        return tuple(sorted(out, key=lambda e: (e.at_s, e.kind)))

    def route_at(self, elapsed_s: float) -> tuple[Channel | None, bool]:
        """The channel a message accepted now takes, and whether that channel is failing
        (its messages are swallowed: accepted, never delivered, no receipt)."""
        if not self.channels:
            return None, False
        active = self.channels[0].name
        for e in self.events():
            if e.kind == "channel_switched" and e.at_s <= elapsed_s:
                active = e.to_channel
        channel = next(c for c in self.channels if c.name == active)
        failing = any(f.channel == active and f.covers(elapsed_s) for f in self.failures)
        return channel, failing


def parse_channel_plan(owner: Table) -> ChannelPlan:
    """The `channels` and `channel_failures` arrays of one vendor's scenario table."""
    parsed: list[Channel] = []
    for t in owner.get_tables("channels"):
        channel = Channel(
            name=t.get_str("name", non_empty=True, expected="a channel name"),
            sender_ext=t.get_str("sender_ext"),
            smsc=t.get_str("smsc", ""),
            pid=t.get_int("pid", 0, min_value=0, max_value=255),
        )
        if not channel.sender_ext.isdigit():
            raise t.error("sender_ext", "digits (the 106 number's extension)", channel.sender_ext)
        if any(c.name == channel.name for c in parsed):
            raise t.error("name", "a name not used by another channel", channel.name)
        t.finish()
        parsed.append(channel)
    names = {c.name for c in parsed}
    plan_failures: list[ChannelFailure] = []
    for t in owner.get_tables("channel_failures"):
        name = t.get_str("channel")
        if name not in names:
            raise t.error("channel", f"one of the vendor's channels ({', '.join(sorted(names))})",
                          name)  # fmt: skip
        start = t.get_float("start_s", min_value=0.0)
        end = t.get_optional_float("end_s", min_value=0.0)
        if end is not None and end <= start:
            raise t.error("end_s", f"after start_s ({start})", end)
        plan_failures.append(
            ChannelFailure(
                channel=name,
                start_s=start,
                end_s=math.inf if end is None else end,
                switch_after_s=t.get_optional_float("switch_after_s", min_value=0.0),
            )
        )
        t.finish()
    return ChannelPlan(tuple(parsed), tuple(plan_failures))


def channel_of(plan: ChannelPlan, name: str) -> Channel | None:
    return next((c for c in plan.channels if c.name == name), None)


def sender_of(prefix: str, default_ext: str, channel: Channel | None) -> str:
    """The 106 number a message arrives from: the channel's extension when it has one."""
    return prefix + (channel.sender_ext if channel is not None else default_ext)


def events_between(
    events: Sequence[ChannelEvent], after_s: float, until_s: float
) -> list[ChannelEvent]:
    return [e for e in events if after_s < e.at_s <= until_s]


def as_truth(vendor: str, e: ChannelEvent, at_iso: str) -> Mapping[str, object]:
    """One line of the channel truth file (truth.channels.jsonl)."""
    return {"vendor": vendor, "kind": e.kind, "channel": e.channel,
            "to_channel": e.to_channel, "at": at_iso, "at_s": e.at_s}  # fmt: skip
