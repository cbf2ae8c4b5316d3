"""Re-judge every probe of an evidence bundle from the facts it quotes, with the judge's code.

A verdict is a collector statement; the facts behind it (arrivals, health samples) are the
agents' signed records. `check_verdicts` rebuilds the judge's inputs from a record with the
same functions the running judge uses on ledger rows (collector/judging.py: `probe_spec`,
`arrival_of`, `attribute_arrivals`, `dlr_observation`, `receiver_spans`), calls
`correlation.verdicts.judge` with the judging settings the bundle's signed manifest carries,
and refuses a verdict (or a `judged` object) that differs. So a collector that turns a
delivered probe into a lost one while still quoting the signed arrival is caught, even with
its own key.

The probe is judged as of its verdict's `judged_at_ns` (the pass that last changed it): a
receipt received later, a health sample taken later, a sequence gap detected later were not
there then. Receipt and canary times are the collector's; health times are agent time plus
the record's own clock offset, as the judge puts them.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, fields
from typing import Any

from agent.common.units import NS
from agent.wire.records import ClockEstimate, ReceivedSms, SmsPart
from collector.canaries import CanaryOutcome, CanaryStatus, SentCanary, canary_spans
from collector.correlation.model import (
    ContentVerdict,
    DlrClaim,
    DlrTruth,
    Outcome,
    Policy,
    Verdict,
)
from collector.correlation.receiver import HealthSample
from collector.correlation.verdicts import judge
from collector.judging import (
    JudgingConfig,
    attribute_arrivals,
    dlr_observation,
    probe_spec,
    receiver_spans,
    unknown_receiver,
)
from collector.ledger.model import StoredSms
from collector.ledger.probes import ProbePlan, StoredDlr, StoredProbe, StoredVerdict
from collector.reports.judged import judged_probe

# What the judge needs besides the facts: in the signed manifest as "judging".
_SETTINGS = ("health_max_silence_s", "canary_deadline_s", "canary_lookback_s")


def judging_json(config: JudgingConfig) -> dict[str, Any]:
    return {"policy": asdict(config.policy), **{k: getattr(config, k) for k in _SETTINGS}}


def judging_from_json(data: Mapping[str, Any]) -> JudgingConfig:
    """The manifest's "judging" object; ValueError names what is missing or not a number."""
    policy = data.get("policy")
    if not isinstance(policy, dict):
        raise ValueError("judging.policy is not an object")
    values: dict[str, float] = {}
    for where, key, raw in [
        *((f"judging.policy.{f.name}", f.name, policy.get(f.name)) for f in fields(Policy)),
        *((f"judging.{k}", k, data.get(k)) for k in _SETTINGS),
    ]:
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise ValueError(f"{where} is {raw!r}, expected a finite number")
        values[key] = float(raw)
    return JudgingConfig(
        policy=Policy(**{f.name: values[f.name] for f in fields(Policy)}),
        health_max_silence_s=values["health_max_silence_s"],
        canary_deadline_s=values["canary_deadline_s"],
        canary_lookback_s=values["canary_lookback_s"],
    )


def verdict_json(v: Verdict) -> dict[str, Any]:
    """A verdict as the bundle shows it (without the ledger's revision and time)."""
    return verdict_values(
        v.outcome.value, v.dlr.value, v.dlr_claim.value, v.content.value, v.content_diff,
        v.latency_s, v.latency_uncertainty_s, v.vendor_delay_s, v.carrier_delay_s, v.sender,
        v.duplicates, v.missing_parts, v.reasons, v.arrival_uuids,
    )  # fmt: skip


def verdict_values(
    outcome: str, dlr: str | None, dlr_claim: str | None, content: str | None,
    content_diff: str | None, latency_s: float | None, latency_uncertainty_s: float | None,
    vendor_delay_s: float | None, carrier_delay_s: float | None, sender: str | None,
    duplicates: int | None, missing_parts: Iterable[int], reasons: Iterable[str],
    arrival_uuids: Iterable[str],
) -> dict[str, Any]:  # fmt: skip
    """`verdict_json` from a verdict's values as stored (the export reads them as tuples:
    Ledger.probe_facts), the enums by their values."""
    return {
        "outcome": outcome,
        "dlr": dlr,
        "dlr_claim": dlr_claim,
        "content": content,
        "content_diff": content_diff,
        "latency_s": latency_s,
        "latency_uncertainty_s": latency_uncertainty_s,
        "vendor_delay_s": vendor_delay_s,
        "carrier_delay_s": carrier_delay_s,
        "sender": sender,
        "duplicates": duplicates,
        "missing_parts": list(missing_parts),
        "reasons": list(reasons),
        "arrival_uuids": list(arrival_uuids),
    }


def verdict_from_json(probe_id: str, d: Mapping[str, Any]) -> Verdict:
    return Verdict(
        probe_id,
        Outcome(d["outcome"]),
        DlrTruth(d["dlr"]),
        DlrClaim(d["dlr_claim"]),
        ContentVerdict(d["content"]),
        content_diff=d.get("content_diff", ""),
        latency_s=d.get("latency_s"),
        latency_uncertainty_s=d.get("latency_uncertainty_s"),
        vendor_delay_s=d.get("vendor_delay_s"),
        carrier_delay_s=d.get("carrier_delay_s"),
        sender=d.get("sender", ""),
        duplicates=int(d.get("duplicates", 0)),
        missing_parts=tuple(d.get("missing_parts", ())),
        reasons=tuple(d.get("reasons", ())),
        arrival_uuids=tuple(d.get("arrival_uuids", ())),
    )


def probe_from_record(record: Mapping[str, Any]) -> StoredProbe:
    plan, submit, receiver = record["plan"], record["submit"], record["receiver"]
    return StoredProbe(
        plan=ProbePlan(
            probe_id=record["probe_id"],
            **{k: plan[k] for k in _PLAN_FIELDS},
            agent_id=receiver.get("agent_id", ""),
            modem_imei=receiver.get("modem_imei", ""),
            iccid=receiver.get("iccid", ""),
        ),
        submit_status=submit["status"],
        submitted_at_ns=submit["submitted_at_ns"],
        answered_at_ns=submit.get("answered_at_ns", 0),
        message_ids=tuple(submit["message_ids"]),
        raw_request=base64.b64decode(submit.get("request_b64", "")),
        raw_response=base64.b64decode(submit.get("response_b64", "")),
        error_kind=submit.get("error_kind", ""),
        error_detail=submit.get("error_detail", ""),
        final=True,
        # Absent in bundles made before billed parts were kept: none reported.
        billed_parts=(submit.get("billed") or {}).get("parts"),
        billed_from=(submit.get("billed") or {}).get("from", ""),
    )


_PLAN_FIELDS = (
    "vendor", "msisdn", "profile", "token", "body", "expected_text", "planned_at_ns",
    "signature", "parts", "cost", "band", "carrier", "mvno", "region", "site",
)  # fmt: skip


def sms_from_json(item: Mapping[str, Any]) -> StoredSms:
    """An arrival as shown (the facts `check_signatures` holds to the signed record)."""
    clock = item["clock"]
    unc = clock.get("uncertainty_ms")
    return StoredSms(
        agent_id=item.get("agent_id", ""),
        uuid=item["record_uuid"],
        seq=0,
        persisted_at_ns=0,
        clock=ClockEstimate(
            offset_ms=clock.get("offset_ms") or 0.0,
            uncertainty_ms=math.inf if unc is None else unc,
            measured_at_ns=clock.get("measured_at_ns") or 0,
        ),
        modem_imei=item.get("modem_imei", ""),
        iccid=item.get("iccid", ""),
        msisdn=item.get("msisdn", ""),
        sms=ReceivedSms(
            parts=tuple(
                SmsPart(
                    uuid=p.get("uuid", ""),
                    raw_pdu=bytes.fromhex(p.get("pdu_hex", "")),
                    storage=p.get("storage", ""),
                    index=p.get("index", 0),
                    received_at_ns=p["received_at_ns"],
                    scts_ns=p.get("scts_ns") or 0,
                    part_seq=p["part_seq"],
                )
                for p in item["parts"]
            ),
            sender=item.get("sender", ""),
            text=item.get("text", ""),
            # Absent in bundles made before smsprobe-evidence/2: no merging of partials.
            concat_ref=item.get("concat_ref", -1),
            concat_total=item.get("concat_total", 1),
            missing_parts=tuple(item.get("missing_parts", ())),
        ),
        ingested_at_ns=item.get("ingested_at_ns") or 0,
    )


def dlr_from_json(d: Mapping[str, Any]) -> StoredDlr:
    return StoredDlr(
        dlr_id=d.get("dlr_id", 0),
        vendor="",
        message_id=d["message_id"],
        status=d["status"],
        vendor_status_raw=d.get("vendor_status_raw", ""),
        err=d.get("err", ""),
        done_at_ns=d.get("done_at_ns") or 0,
        received_at_ns=d["received_at_ns"],
        source=d.get("source", ""),
        raw=b"",
        copies=d.get("copies", 1),
        probe_id=None,
        id_rule=d.get("id_rule", ""),
        billed_parts=d.get("billed_parts"),
        billed_from=d.get("billed_from", ""),
    )


def canary_json(o: CanaryOutcome, deadline_s: float) -> dict[str, Any]:
    """A canary to the probe's SIM as judged at export; `settled_at_ns` is when its status
    became known (arrival, or the deadline), so verify can take its status at any time."""
    sent = o.canary.sent_at_ns
    if o.status is CanaryStatus.RECEIVED:
        settled = sent + round((o.latency_s or 0.0) * NS)
    elif o.status in (CanaryStatus.LOST, CanaryStatus.EXCUSED):
        settled = sent + int(deadline_s * NS)
    else:
        settled = 0
    return {
        "canary_id": o.canary.canary_id,
        "sent_at_ns": sent,
        "status": o.status.value,
        "settled_at_ns": settled,
    }


def _canary_at(c: Mapping[str, Any], msisdn: str, now_ns: int, deadline_s: float) -> CanaryOutcome:
    """The canary's outcome as the judge saw it at `now_ns` (judge_canaries' rules)."""
    status = CanaryStatus(c["status"])
    sent = c["sent_at_ns"]
    if status is CanaryStatus.RECEIVED and c["settled_at_ns"] > now_ns:
        status = CanaryStatus.LOST  # it had not arrived yet
    if status in (CanaryStatus.LOST, CanaryStatus.EXCUSED) and now_ns - sent < deadline_s * NS:
        status = CanaryStatus.PENDING
    return CanaryOutcome(SentCanary(c.get("canary_id", ""), "", "", msisdn, sent, ""), status)


def rejudge(record: Mapping[str, Any], config: JudgingConfig, now_ns: int) -> Verdict:
    """The verdict `judge` gives the record's quoted facts at `now_ns`."""
    probe = probe_from_record(record)
    spec = probe_spec(probe)
    policy = config.policy
    arrivals = attribute_arrivals(
        [spec], [sms_from_json(a) for a in record["arrivals"]], policy=policy
    )
    dlrs = [
        dlr_observation(dlr_from_json(d)) for d in record["dlrs"] if d["received_at_ns"] <= now_ns
    ]
    receiver = record["receiver"]
    start = spec.submitted_at_ns
    if not spec.modem_imei:
        spans = unknown_receiver(start, now_ns)
    else:
        samples = [
            HealthSample(h["at_ns"], bool(h["healthy"]), tuple(h.get("reasons", ())))
            for h in receiver["health"]
            if h["at_ns"] <= now_ns
        ]
        gaps = [
            (g["start_ns"], g["end_ns"] or now_ns)
            for g in receiver.get("sequence_gaps", ())
            if g.get("detected_at_ns", 0) <= now_ns
        ]
        lookback = int(max(config.canary_lookback_s, 0.0) * NS)
        canaries = [
            _canary_at(c, spec.msisdn, now_ns, config.canary_deadline_s)
            for c in receiver.get("canaries", ())
            if start - lookback <= c["sent_at_ns"] <= now_ns
        ]
        failed = canary_spans(canaries, now_ns=now_ns).get(spec.msisdn, [])
        spans = receiver_spans(
            samples,
            gaps,
            failed,
            start_ns=start,
            end_ns=now_ns,
            max_silence_s=config.health_max_silence_s,
        )
    return judge(spec, arrivals.get(spec.probe_id, []), dlrs, spans, now_ns=now_ns, policy=policy)


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value))  # tuples → lists, as the bundle holds them


def _differences(stated: Mapping[str, Any], recomputed: Mapping[str, Any]) -> list[str]:
    return [
        f"{k} {stated.get(k)!r} (recomputed {recomputed.get(k)!r})"
        for k in recomputed
        if stated.get(k) != recomputed.get(k)
    ]


def minimised(record: Mapping[str, Any]) -> bool:
    """Retention masked facts the judge reads (texts, numbers) in this record: its verdict
    cannot be re-judged, only its `judged` object checked against it."""
    return "retention" in record or any("retention" in a for a in record.get("arrivals") or ())


def check_verdicts(records: Iterable[Mapping[str, Any]], config: JudgingConfig) -> list[str]:
    """One line per record whose verdict or `judged` object the quoted facts do not give."""
    problems: list[str] = []
    for lineno, record in enumerate(records, start=1):
        where = f"record {lineno} (probe {record.get('probe_id', '?')})"
        try:
            problem = _check(record, config)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problem = f"cannot be re-judged: {type(exc).__name__}: {exc}"
        if problem:
            problems.append(f"{where}: {problem}")
    return problems


def _check(record: Mapping[str, Any], config: JudgingConfig) -> str | None:
    probe = probe_from_record(record)
    shown = record.get("verdict")
    stored: StoredVerdict | None = None
    if shown is not None and minimised(record):
        now = shown["judged_at_ns"]
        stored = StoredVerdict(
            verdict_from_json(probe.plan.probe_id, shown), shown.get("revision", 0), now, 0
        )
    elif shown is not None:
        now = shown["judged_at_ns"]
        recomputed = _json(verdict_json(rejudge(record, config, now)))
        # A quoted arrival is there because the verdict named it: one the rules do not
        # attribute to this probe (its SIM or token edited) is refused, not ignored.
        stray = [
            a.get("record_uuid")
            for a in record["arrivals"]
            if a.get("record_uuid") not in recomputed["arrival_uuids"]
        ]
        if stray:
            return (
                f"arrival {', '.join(map(str, stray))} is quoted but re-judging does not "
                "attribute it to this probe (token on the probe's SIM)"
            )
        differs = _differences(shown, recomputed)
        if differs:
            return (
                "verdict differs from re-judging the quoted facts with the bundle's judging "
                f"settings: {'; '.join(differs)}"
            )
        stored = StoredVerdict(
            verdict_from_json(probe.plan.probe_id, shown),
            shown.get("revision", 0),
            now,
            0,
        )
    judged = _json(asdict(judged_probe(probe, stored)))
    differs = _differences(record.get("judged") or {}, judged)
    if differs:
        return f"judged object does not follow from the verdict: {'; '.join(differs)}"
    return _billed_problem(record, probe)


def _billed_problem(record: Mapping[str, Any], probe: StoredProbe) -> str | None:
    """A billed figure said to come from a DLR must be one the record quotes (a figure
    from the submit answer or its acks is in the quoted response)."""
    if probe.billed_parts is None or not probe.billed_from.startswith("dlr:"):
        return None
    quoted = {(d.get("billed_parts"), d.get("billed_from")) for d in record.get("dlrs") or ()}
    if (probe.billed_parts, probe.billed_from) in quoted:
        return None
    return f"billed parts {probe.billed_parts} from {probe.billed_from} are in no quoted DLR"


__all__ = [
    "canary_json",
    "check_verdicts",
    "judging_from_json",
    "judging_json",
    "minimised",
    "rejudge",
    "verdict_json",
    "verdict_values",
]
