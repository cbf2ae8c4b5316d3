"""Compare the system's verdicts with the vendor simulator's ground truth, probe by probe.

Used by `smsprobe-collector demo` (it says whether the measurement agreed with what the
simulated network really did) and by the end-to-end tests."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass
class Comparison:
    matched: int = 0
    problems: list[str] = field(default_factory=list)
    fake_dlrs_in_truth: int = 0  # provable ones: lost while the receiver was healthy
    fake_dlrs_caught: int = 0
    by_fate: dict[str, int] = field(default_factory=dict)


ARRIVED = ("delivered", "late", "partial")  # partial: a long message with parts missing
_AGREES = frozenset({"consistent", "late"})  # a claim that matches what happened
_NO_CLAIM = frozenset({"missing", "pending"})


def expected_dlr(truth: dict[str, Any], verdict: str) -> frozenset[str]:
    """The DLR classifications that agree with what the vendor actually sent, given the
    verdict on the message. `dlr_status` in the truth is the vendor's claim — its first final
    receipt by done time, the rule the judge applies — among the receipts that really went
    out; a receipt planned but never sent is no claim."""
    claim = truth.get("dlr_status")
    if verdict == "rejected":
        return frozenset({"not_applicable"})
    if claim is None or truth.get("late_dlr"):  # beyond the 72 h window: never judged
        return _NO_CLAIM
    if verdict == "pending":
        return frozenset({"pending"})
    if verdict == "inconclusive":
        return frozenset({"unverifiable"})
    if verdict == "partial":  # the parts that came show it was sent: any claim stands
        return _AGREES
    success = claim == "DELIVRD"
    if verdict in ARRIVED:
        return _AGREES if success else frozenset({"false_failure"})
    return frozenset({"fake_success"}) if success else _AGREES


def compare(verdicts: Iterable[dict[str, Any]], truth: Iterable[dict[str, Any]]) -> Comparison:
    """Every probe's verdict against what the simulated network really did.

    Rules (issue 4 "Done when"): a delivered message is judged delivered or late; a lost
    one lost — or inconclusive when its receiver was down; a refused one rejected; every
    fake DLR (DELIVRD for a lost message) is caught unless the receiver was down; nothing
    that arrived is ever called lost (no false accusation). The DLR classification must be
    the one `expected_dlr` gives for the receipts the vendor actually sent.
    A message's truth may span several lines; the last one holds.
    """
    by_id: dict[tuple[str, str], dict[str, Any]] = {}
    rejected: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for line in truth:
        ids = list(line.get("message_ids") or []) + (
            [line["vendor_message_id"]] if line.get("vendor_message_id") else []
        )
        for mid in ids:
            by_id[(line["vendor"], mid)] = line
        if line["fate"] == "rejected":
            rejected.setdefault((line["vendor"], national(line["msisdn"])), []).append(line)
    verdicts = list(verdicts)
    orphans = _unclaimed(by_id, verdicts)
    out = Comparison()
    for v in verdicts:
        t: dict[str, Any] | None = next(
            (by_id[(v["vendor"], m)] for m in v["vendor_message_ids"] if (v["vendor"], m) in by_id),
            None,
        )
        # A submit cut off by a collector crash after the vendor took it: the vendor's id
        # never reached the ledger, so its receipts could not be attributed either.
        blind = t is None and interrupted_blind(v)
        if blind:
            t = _nearest_accepted(orphans, v)
        if t is None and v["verdict"] == "rejected":
            key = (v["vendor"], national(v["msisdn"]))
            if rejected.get(key):
                t = rejected[key].pop(0)
        if t is None:
            if v["verdict"] in ("pending",):
                out.problems.append(f"{v['probe_id']} ({v['vendor']}): still pending at the end")
            elif v["verdict"] in ("rejected", "inconclusive") and v.get("error", "").startswith(
                ("AmbiguousSubmit", "Transient", "Throttled", "interrupted")
            ):
                pass  # never reached the simulated network: nothing in the truth
            else:
                out.problems.append(
                    f"{v['probe_id']} ({v['vendor']}): no ground truth for verdict {v['verdict']}"
                )
            continue
        out.matched += 1
        problems_before = len(out.problems)
        fate = t["fate"]
        out.by_fate[fate] = out.by_fate.get(fate, 0) + 1
        verdict = v["verdict"]
        where = f"{v['probe_id']} ({v['vendor']} {v['profile']} to {v['msisdn']})"
        if fate == "delivered" and verdict not in ARRIVED:
            # The network handed it over, but a receiver that deregistered right after
            # gets it only when the SMSC retries: late, while the modem reported itself
            # unhealthy. The judge calls such a late arrival inconclusive (docs/verdicts.md);
            # the network's truth cannot say when the SIM really got it, so that is no
            # disagreement when the verdict names the receiver's own health reports.
            reasons = [str(r) for r in v.get("reasons") or ()]
            held_by_smsc = (
                verdict == "inconclusive"
                and "late_while_receiver_unhealthy" in (reasons)
                and any(r.startswith("receiver:") for r in reasons)
            )
            if not ((t.get("receiver_down") and verdict == "inconclusive") or held_by_smsc):
                out.problems.append(
                    f"{where}: arrived at the SIM but judged {verdict} ({v.get('reasons')})"
                )
        elif fate == "lost":
            expected = ("inconclusive",) if t.get("receiver_down") else ("lost", "inconclusive")
            if verdict not in expected:
                out.problems.append(f"{where}: lost in the network but judged {verdict}")
            # A fake DLR is provable only when the receiver could vouch for itself: to a
            # receiver that was down (or that we could not show healthy) it is unverifiable,
            # never an accusation. Every provable one must be caught.
            if t.get("fake_dlr") and not (t.get("receiver_down") or verdict == "inconclusive"):
                out.fake_dlrs_in_truth += 1
                if v["dlr"] == "fake_success":
                    out.fake_dlrs_caught += 1
                else:
                    out.problems.append(f"{where}: fake DLR not caught (dlr {v['dlr']})")
        elif fate == "rejected" and verdict != "rejected":
            out.problems.append(f"{where}: refused by the vendor but judged {verdict}")
        if v["dlr"] == "fake_success" and not t.get("fake_dlr"):
            out.problems.append(f"{where}: accused of a fake DLR the vendor did not fake")
        elif (
            not blind
            and len(out.problems) == problems_before
            and v["dlr"] not in (want := expected_dlr(t, verdict))
        ):
            sent = [r["status"] for r in t.get("receipts") or ()]
            out.problems.append(
                f"{where}: DLR judged {v['dlr']}, the receipts sent {sent} make it"
                f" {'/'.join(sorted(want))}"
            )
    return out


def interrupted_blind(verdict: dict[str, Any]) -> bool:
    """A submit a collector crash cut off after the vendor took it: the verdict names no
    vendor id, so the message's DLR could not be attributed."""
    return not verdict["vendor_message_ids"] and verdict.get("error") == "interrupted"


def national(msisdn: str) -> str:
    return msisdn.lstrip("+").removeprefix("86")


def _unclaimed(
    by_id: dict[tuple[str, str], dict[str, Any]], verdicts: list[dict[str, Any]]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Truth of messages no verdict names by id, per vendor and national number."""
    claimed = {(v["vendor"], m) for v in verdicts for m in v["vendor_message_ids"]}
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    seen: set[int] = set()
    for key, line in by_id.items():
        if key not in claimed and id(line) not in seen and line["fate"] != "rejected":
            seen.add(id(line))
            out.setdefault((line["vendor"], national(line["msisdn"])), []).append(line)
    return out


def _nearest_accepted(
    orphans: dict[tuple[str, str], list[dict[str, Any]]], v: dict[str, Any], within_s: float = 2.0
) -> dict[str, Any] | None:
    """The unclaimed message the vendor accepted closest to the verdict's submit time (and
    within `within_s`), taken out of `orphans`; None when there is none."""
    lines = orphans.get((v["vendor"], national(v["msisdn"])), [])
    at = datetime.fromisoformat(v["submitted_at"]).timestamp()
    near = [
        (abs(datetime.fromisoformat(line["accepted_at"]).timestamp() - at), i)
        for i, line in enumerate(lines)
        if line.get("accepted_at")
    ]
    best = min(near, default=None)
    if best is None or best[0] > within_s:
        return None
    return lines.pop(best[1])


def check_channels(
    figures: dict[str, Any], channel_truth: Iterable[dict[str, Any]], *, start_ns: int = 0
) -> list[str]:
    """The measured channel changes and switch-over times against the simulator's channel
    truth (truth.channels.jsonl; figures: collector/channels/figures.py). Rules: every
    switch the simulator made after `start_ns` shows as a measured channel change of that
    vendor no earlier than the switch; a vendor whose channels never switched has no
    measured change (nothing invented; an "unconfirmed" change is not one); an episode
    measured as "switched" has bounds containing the true delay from the channel's failure
    to the switch, or none ("not enough probes": the probes allow no conclusion)."""
    problems: list[str] = []
    truth = list(channel_truth)
    switched = {e["vendor"]: e for e in truth if e["kind"] == "channel_switched"}
    failed = {e["vendor"]: e for e in truth if e["kind"] == "channel_failed"}
    changes: dict[str, list[dict[str, Any]]] = {}
    unconfirmed: dict[str, list[dict[str, Any]]] = {}
    for c in figures.get("changes", []):
        if c["kind"] == "changed":
            changes.setdefault(c["vendor"], []).append(c)
        elif c["kind"] == "unconfirmed":
            unconfirmed.setdefault(c["vendor"], []).append(c)
    for vendor, e in switched.items():
        at = _ns(e["at"])
        if at < start_ns:
            continue
        if not any(c["at_ns"] >= at for c in changes.get(vendor, [])):
            seen = any(c["at_ns"] >= at for c in unconfirmed.get(vendor, []))
            why = " (only an unconfirmed one: not enough probes)" if seen else ""
            problems.append(f"{vendor}: switched channel {e['channel']}->{e['to_channel']} at "
                            f"{e['at']}, no channel change measured after it{why}")  # fmt: skip
    for vendor, found in changes.items():
        if vendor not in switched:
            problems.append(f"{vendor}: channel change measured ({found[0]['from']} -> "
                            f"{found[0]['to']}) but the vendor never switched")  # fmt: skip
    for ep in figures.get("episodes", []):
        vendor = ep["vendor"]
        if ep["how"] != "switched" or vendor not in switched or vendor not in failed:
            continue
        if ep["bounds_s"] is None:  # "not enough probes": no bound claimed, none wrong
            continue
        delay = (_ns(switched[vendor]["at"]) - _ns(failed[vendor]["at"])) / 1e9
        low, high = ep["bounds_s"]
        if not (low - 0.5 <= delay and (high is None or delay <= high + 0.5)):
            problems.append(f"{vendor} {ep['carrier']}: switch-over bounds [{low}, {high}] s "
                            f"miss the true delay {delay:.1f} s")  # fmt: skip
    return problems


def _ns(stamp: str) -> int:
    return round(datetime.fromisoformat(stamp).timestamp() * 1e9)
