"""Channel changes and switch-over times (通道切换响应), from judged probes and their
channel observations. Pure.

Channel events, per vendor × carrier: the first channel seen, then a change whenever
`confirm` consecutive arrivals come over a channel other than the current one (a single
stray arrival over another channel — load sharing — is not a switch). The event's time is
the first of those arrivals. When the data ends with fewer such arrivals, the event is
"unconfirmed": not enough probes to tell a switch from a stray. Channels are compared by
sender code and PID (fingerprint.py: the SMSC follows the receiving SIM's network).

Episodes, per vendor × carrier: a degradation starts when `degraded_after` consecutive
probes failed (lost, late, or refused for other than their content); its time is the first
failed probe's submit. It ends with the first probe after it that arrived on time: through
the vendor itself — over a new channel ("switched": the vendor moved traffic) or the same
one ("same_channel": the channel came back) — and, when a route group failed over, through
the backup ("failover": the first on-time arrival of a probe sent through the backup).
Switch-over time is from the first failure to that arrival.

A refusal that never reached the vendor's network says nothing about the route and is no
failure: throttled (our rate), transient (not connected, the vendor unit down, 5xx),
ambiguous, interrupted, or refused for the content or the number. A vendor's refusal to
carry the message (`rejected:other`) is one.

Probes are discrete, so the moment the vendor really switched is bounded, and only by
probes that show the route's state at their submit: a message *swallowed* (accepted,
never arrived) or refused by the vendor was submitted while the route was down; an
on-time arrival while it was up. A late arrival went through some channel and shows
neither. So the failure began after the last good probe's submit and by the first
swallowed one's; the switch came after the last swallowed probe's submit and by the
recovering probe's. Hence the true delay from failure to switch lies in
[last_swallowed − first_swallowed, recovering − last_good] (`bounds_s`), which tests hold
the simulator's truth to; with no swallowed probe in the episode the probes allow no
conclusion ("not enough probes", `bounds_note`), never a bound that could be wrong.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from agent.common.units import NS
from collector.channels.fingerprint import Fingerprint, regime
from collector.ledger.channels import ChannelObservation, FailoverSend
from collector.reports.figures import JudgedProbe
from collector.stats import percentile

# A refusal for content, template or signature says nothing about the route.
CONTENT_REJECTIONS = ("template", "signature", "content")
# The refusals that do (RejectReason values): the vendor would not carry the message.
ROUTE_REFUSALS = ("other",)
# What an attempt shows (`_attempt`): arrived on time (or partly), or failed.
OK_OUTCOMES = ("delivered", "partial")
FAILED_OUTCOMES = ("late", "lost")
NOT_ENOUGH_PROBES = "not enough probes"


def fingerprint_of(o: ChannelObservation) -> Fingerprint:
    return Fingerprint(o.sender, o.smsc, o.pid)


@dataclass(frozen=True, slots=True)
class ChannelEvent:
    vendor: str
    carrier: str
    at_ns: int  # arrival of the first message over the new channel
    kind: str  # first_seen | changed | unconfirmed (too few arrivals yet: module doc)
    to_channel: str
    from_channel: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"vendor": self.vendor, "carrier": self.carrier, "at_ns": self.at_ns,
                "kind": self.kind, "from": self.from_channel, "to": self.to_channel}  # fmt: skip


def channel_events(
    observations: Iterable[ChannelObservation], *, confirm: int = 2
) -> list[ChannelEvent]:
    by_route: dict[tuple[str, str], list[ChannelObservation]] = defaultdict(list)
    for o in observations:
        by_route[(o.vendor, o.carrier)].append(o)
    out: list[ChannelEvent] = []
    for (vendor, carrier), items in sorted(by_route.items()):
        items.sort(key=lambda o: (o.arrived_at_ns, o.probe_id))
        current: str | None = None
        run: list[ChannelObservation] = []
        for o in items:
            key = fingerprint_of(o).route
            if current is None:
                current = key
                out.append(ChannelEvent(vendor, carrier, o.arrived_at_ns, "first_seen", key))
                continue
            if key == current:
                run = []
                continue
            run = [*run, o] if run and fingerprint_of(run[0]).route == key else [o]
            if len(run) >= confirm:
                out.append(
                    ChannelEvent(vendor, carrier, run[0].arrived_at_ns, "changed", key, current)
                )
                current, run = key, []
        if run and current is not None:
            out.append(
                ChannelEvent(vendor, carrier, run[0].arrived_at_ns, "unconfirmed",
                             fingerprint_of(run[0]).route, current)
            )  # fmt: skip
    return out


@dataclass(frozen=True, slots=True)
class ChannelSummary:
    vendor: str
    carrier: str
    channel: str  # Fingerprint.key
    arrivals: int
    first_ns: int
    last_ns: int
    p50_latency_s: float | None
    regime: str
    dcs: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        fp = Fingerprint.parse(self.channel)
        return {"vendor": self.vendor, "carrier": self.carrier, "channel": self.channel,
                "sender": fp.sender, "smsc": fp.smsc, "pid": fp.pid, "dcs": list(self.dcs),
                "arrivals": self.arrivals, "first_ns": self.first_ns, "last_ns": self.last_ns,
                "p50_latency_s": self.p50_latency_s, "regime": self.regime}  # fmt: skip


def channel_summaries(observations: Iterable[ChannelObservation]) -> list[ChannelSummary]:
    groups: dict[tuple[str, str, str], list[ChannelObservation]] = defaultdict(list)
    for o in observations:
        groups[(o.vendor, o.carrier, fingerprint_of(o).key)].append(o)
    out = []
    for (vendor, carrier, key), items in sorted(groups.items()):
        lat = [o.latency_s for o in items if o.latency_s is not None]
        out.append(
            ChannelSummary(
                vendor,
                carrier,
                key,
                len(items),
                min(o.arrived_at_ns for o in items),
                max(o.arrived_at_ns for o in items),
                percentile(lat, 50),
                regime(lat),
                tuple(sorted({o.dcs for o in items})),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Episode:
    vendor: str
    carrier: str
    started_ns: int  # submit of the first failed probe
    last_failed_ns: int  # submit of the last failed probe before recovery
    last_good_ns: int | None  # submit of the last on-time probe before the failures
    failed: int
    # Submits of the first and last probe that show the route down (swallowed or refused
    # by the vendor); None when every failure was late (module doc).
    down_first_ns: int | None
    down_last_ns: int | None
    channel_before: str  # of the last on-time arrival before ("" unknown)
    recovered_ns: int | None = None  # arrival of the first on-time probe after (vendor)
    recovering_submit_ns: int | None = None
    how: str = "not_recovered"  # switched | same_channel | not_recovered
    channel_after: str = ""
    failover_vendor: str = ""
    failover_recovered_ns: int | None = None  # first on-time arrival through the backup
    failover_sends: int = 0

    @property
    def switch_over_s(self) -> float | None:
        if self.recovered_ns is None:
            return None
        return (self.recovered_ns - self.started_ns) / NS

    @property
    def failover_s(self) -> float | None:
        if self.failover_recovered_ns is None:
            return None
        return (self.failover_recovered_ns - self.started_ns) / NS

    @property
    def bounds_s(self) -> tuple[float, float | None] | None:
        """Where the true delay from channel failure to the switch lies (see module doc);
        None before recovery or without a probe that shows the route down (`bounds_note`).
        Upper bound None: no good probe before the failures."""
        if self.recovering_submit_ns is None or self.down_first_ns is None:
            return None
        low = ((self.down_last_ns or self.down_first_ns) - self.down_first_ns) / NS
        high = (
            None
            if self.last_good_ns is None
            else (self.recovering_submit_ns - self.last_good_ns) / NS
        )
        return low, high

    @property
    def bounds_note(self) -> str:
        """Why there are no bounds: "" (there are), "not recovered", "not enough probes"."""
        if self.recovering_submit_ns is None:
            return "not recovered"
        return NOT_ENOUGH_PROBES if self.down_first_ns is None else ""

    def to_dict(self) -> dict[str, Any]:
        bounds = self.bounds_s
        return {
            "vendor": self.vendor, "carrier": self.carrier, "started_ns": self.started_ns,
            "failed_probes": self.failed, "how": self.how,
            "channel_before": self.channel_before, "channel_after": self.channel_after,
            "recovered_ns": self.recovered_ns, "switch_over_s": _round(self.switch_over_s),
            "bounds_s": None if bounds is None else [_round(bounds[0]), _round(bounds[1])],
            "bounds_note": self.bounds_note,
            "failover_vendor": self.failover_vendor, "failover_sends": self.failover_sends,
            "failover_s": _round(self.failover_s),
        }  # fmt: skip


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


@dataclass(frozen=True, slots=True)
class _Attempt:
    at_ns: int
    ok: bool
    arrived_ns: int | None
    channel: str
    down: bool = False  # shows the route down at its submit: swallowed or refused


def _attempt(p: JudgedProbe, channel: str, rejected_kind: str = "") -> _Attempt | None:
    """What one probe says about its route; None when nothing (module doc). `rejected_kind`:
    the RejectReason value of a refusal, or the error kind of a submit that failed."""
    if p.outcome in OK_OUTCOMES:
        arrived = p.submitted_at_ns + int((p.latency_s or 0.0) * NS)
        return _Attempt(p.submitted_at_ns, True, arrived, channel)
    if p.outcome == "late":  # it went through some channel: a failure, not a sign of one
        return _Attempt(p.submitted_at_ns, False, None, channel)
    if p.outcome == "lost":
        return _Attempt(p.submitted_at_ns, False, None, channel, down=True)
    if p.outcome == "rejected" and p.accepted is False and rejected_kind in ROUTE_REFUSALS:
        return _Attempt(p.submitted_at_ns, False, None, channel, down=True)
    return None  # pending, inconclusive, refused before the route: says nothing about it


def episodes(
    probes: Iterable[JudgedProbe],
    observations: Iterable[ChannelObservation],
    failovers: Iterable[FailoverSend] = (),
    *,
    degraded_after: int = 2,
    rejections: Mapping[str, str] | None = None,
) -> list[Episode]:
    """Every degradation episode per vendor × carrier (module doc). `rejections`: probe id
    -> rejection reason (template, signature, content, other) or error kind (Throttled,
    Transient, ...) of probes refused at submit; a refusal not listed is no failure."""
    rejections = rejections or {}
    channel = {o.probe_id: fingerprint_of(o).route for o in observations}
    # The actual arrival time where observed (the judged latency may be missing).
    arrived_at = {o.probe_id: o.arrived_at_ns for o in observations}
    judged = {p.probe_id: p for p in probes}
    failover_ids = {f.probe_id for f in failovers}
    attempts: dict[tuple[str, str], list[_Attempt]] = defaultdict(list)
    for p in judged.values():
        if p.probe_id in failover_ids:
            continue  # the buyer's traffic through the backup: measured below, not as its own
        a = _attempt(p, channel.get(p.probe_id, ""), rejections.get(p.probe_id, ""))
        if a is not None:
            if a.ok and p.probe_id in arrived_at:
                a = _Attempt(a.at_ns, True, arrived_at[p.probe_id], a.channel)
            attempts[(p.vendor, p.carrier)].append(a)
    backup: dict[tuple[str, str], list[tuple[FailoverSend, _Attempt]]] = defaultdict(list)
    for f in failovers:
        sent = judged.get(f.probe_id)
        a = (
            None
            if sent is None
            else _attempt(sent, channel.get(f.probe_id, ""), rejections.get(f.probe_id, ""))
        )
        if a is not None:
            if a.ok and f.probe_id in arrived_at:
                a = _Attempt(a.at_ns, True, arrived_at[f.probe_id], a.channel)
            backup[(f.primary_vendor, f.carrier)].append((f, a))
    out: list[Episode] = []
    for (vendor, carrier), items in sorted(attempts.items()):
        items.sort(key=lambda a: a.at_ns)
        out += _route_episodes(vendor, carrier, items, backup.get((vendor, carrier), []),
                               degraded_after)  # fmt: skip
    return out


def _route_episodes(
    vendor: str,
    carrier: str,
    items: Sequence[_Attempt],
    backup: Sequence[tuple[FailoverSend, _Attempt]],
    degraded_after: int,
) -> list[Episode]:
    out: list[Episode] = []
    i = 0
    last_good: _Attempt | None = None
    while i < len(items):
        a = items[i]
        if a.ok:
            last_good = a
            i += 1
            continue
        j = i
        while j < len(items) and not items[j].ok:
            j += 1
        failed = items[i:j]
        if len(failed) < degraded_after:
            i = j
            continue
        recovering = items[j] if j < len(items) else None
        end_ns = recovering.at_ns if recovering is not None else None
        sends = [
            (f, b)
            for f, b in backup
            if b.at_ns >= failed[0].at_ns and (end_ns is None or b.at_ns < end_ns)
        ]
        rescued = [b.arrived_ns for _, b in sends if b.ok and b.arrived_ns is not None]
        before = last_good.channel if last_good is not None else ""
        down = [a.at_ns for a in failed if a.down]
        episode = Episode(
            vendor=vendor, carrier=carrier, started_ns=failed[0].at_ns,
            last_failed_ns=failed[-1].at_ns,
            last_good_ns=last_good.at_ns if last_good is not None else None,
            failed=len(failed), down_first_ns=min(down, default=None),
            down_last_ns=max(down, default=None), channel_before=before,
            failover_vendor=sends[0][0].backup_vendor if sends else "",
            failover_recovered_ns=min(rescued) if rescued else None,
            failover_sends=len(sends),
        )  # fmt: skip
        if recovering is not None:
            after = recovering.channel
            how = "switched" if after and before and after != before else "same_channel"
            episode = _recovered(episode, recovering, how, after)
        out.append(episode)
        i = j
    return out


def _recovered(e: Episode, recovering: _Attempt, how: str, after: str) -> Episode:
    return replace(e, recovered_ns=recovering.arrived_ns, recovering_submit_ns=recovering.at_ns,
                   how=how, channel_after=after)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SwitchOverSummary:
    vendor: str
    carrier: str
    episodes: int
    switched: int
    same_channel: int
    not_recovered: int
    median_s: float | None
    max_s: float | None
    failover_median_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"vendor": self.vendor, "carrier": self.carrier, "episodes": self.episodes,
                "switched": self.switched, "same_channel": self.same_channel,
                "not_recovered": self.not_recovered, "median_switch_over_s": _round(self.median_s),
                "max_switch_over_s": _round(self.max_s),
                "median_failover_s": _round(self.failover_median_s)}  # fmt: skip


def summarise(found: Iterable[Episode]) -> list[SwitchOverSummary]:
    groups: dict[tuple[str, str], list[Episode]] = defaultdict(list)
    for e in found:
        groups[(e.vendor, e.carrier)].append(e)
    out = []
    for (vendor, carrier), items in sorted(groups.items()):
        times = [t for e in items if (t := e.switch_over_s) is not None]
        failover = [t for e in items if (t := e.failover_s) is not None]
        out.append(
            SwitchOverSummary(
                vendor,
                carrier,
                len(items),
                sum(e.how == "switched" for e in items),
                sum(e.how == "same_channel" for e in items),
                sum(e.how == "not_recovered" for e in items),
                percentile(times, 50),
                max(times, default=None),
                percentile(failover, 50),
            )
        )
    return out
