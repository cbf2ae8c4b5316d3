"""One evidence record per probe: everything behind its verdict, as plain JSON values.

`evidence_record` is pure (ledger rows in, a dict out); `collect_records` is the thin
shell that reads those rows for a vendor and period. Bytes are kept exactly as received:
the vendor request/response and every raw DLR in base64, every PDU in hex (TS 23.040
SMS-DELIVER as read off the modem, SMSC address included), so a third party can decode
them with any tool. Each record carries `judged` (the fields of JudgedProbe), from which
`evidence verify` recomputes every figure of the report.
"""

from __future__ import annotations

import base64
import bisect
import functools
import json
import math
import multiprocessing
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, fields
from datetime import timedelta, timezone
from itertools import islice
from typing import Any

from agent.common.numberplan import national
from agent.common.units import NS
from agent.wire.records import ClockEstimate
from collector.billing.load import vendor_bills
from collector.billing.statement import Billed
from collector.canaries import CanaryOutcome, canary_outcomes
from collector.evidence.bundle import Encoded, canonical
from collector.evidence.recompute import (
    canary_json,
    judging_from_json,
    judging_json,
    verdict_values,
)
from collector.judging import JudgingConfig
from collector.ledger import open_ledger
from collector.ledger.base import Ledger
from collector.ledger.model import (
    AgentStatus,
    GapSpan,
    ModemStatus,
    SmsPartRow,
    SmsRow,
    StoredHealth,
    StoredSms,
)
from collector.ledger.probes import (
    DlrRow,
    ProbeFacts,
    Revision,
    StoredDlr,
    StoredProbe,
    StoredVerdict,
)
from collector.ledger.retention import marks
from collector.ledger.sql.convert import ints, strs
from collector.reports.config import iso
from collector.reports.figures import JudgedProbe
from collector.reports.judged import load_judged
from collector.reports.lines import line_type

WINDOW_NS = 86400 * NS  # the records are read and built a day of planned time at a time
BILL_BATCH = 20_000  # message ids looked up in invoices at a time (export_records)
HEALTH_MARGIN_S = 600.0  # receiver health kept from submit - 10 min to give-up + 10 min


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _num(value: float | None) -> float | None:
    """JSON has no NaN/inf: "never measured" becomes null."""
    if value is None or not math.isfinite(value):
        return None
    return value


def _clock(c: ClockEstimate) -> dict[str, Any]:
    return _clock_values(c.offset_ms, c.uncertainty_ms, c.measured_at_ns)


def _clock_values(offset_ms: float, uncertainty_ms: float | None, at_ns: int) -> dict[str, Any]:
    return {
        "offset_ms": _num(offset_ms),
        "uncertainty_ms": _num(uncertainty_ms),
        "measured_at_ns": at_ns,
        "measured": bool(at_ns),
    }


def _scts(scts_ns: int, tz_minutes: int) -> str | None:
    # TS 23.040 9.2.3.11: the SCTS carries the SMSC's local zone in quarter hours.
    if not scts_ns:
        return None
    return iso(scts_ns, timezone(timedelta(minutes=tz_minutes)))


def retention_json(minimised: str, at_ns: int, **extra: str) -> dict[str, Any]:
    """What retention masked or purged in a fact, and when (docs/retention.md): shown
    instead of passing a masked value off as the fact."""
    return {"minimised": list(marks(minimised)), "at_ns": at_ns, "at": iso(at_ns), **extra}


def _dlr(d: StoredDlr | DlrRow) -> dict[str, Any]:
    """A DLR as the record quotes it; read as a plain tuple (DlrRow) by the export, a
    StoredDlr taken to one (the same fields)."""
    if not isinstance(d, DlrRow):
        d = DlrRow(d.probe_id or "", d.dlr_id, d.message_id, d.status, d.vendor_status_raw,
                   d.err, d.done_at_ns, d.received_at_ns, d.source, d.copies, d.id_rule, d.raw,
                   d.billed_parts, d.billed_from, d.minimised_at_ns)  # fmt: skip
    out = {
        "dlr_id": d.dlr_id,
        "message_id": d.message_id,
        "status": d.status,
        "vendor_status_raw": d.vendor_status_raw,
        "err": d.err,
        "done_at_ns": d.done_at_ns,
        "received_at_ns": d.received_at_ns,
        "received_at": iso(d.received_at_ns),
        "source": d.source,
        "copies": d.copies,
        "id_rule": d.id_rule,
        "raw_b64": _b64(d.raw or b""),
        # The parts this report says were billed (Alibaba sms_size), from where
        "billed_parts": d.billed_parts,
        "billed_from": d.billed_from,
    }
    if d.minimised_at_ns:
        out["retention"] = retention_json("raw:purge", d.minimised_at_ns)
    return out


def arrival_json(s: StoredSms, raw: Mapping[str, bytes]) -> dict[str, Any]:
    """An arrival as the record quotes it (verify renders the signed record with this)."""
    return _arrival(*sms_row_of(s), raw)


def sms_row_of(s: StoredSms) -> tuple[SmsRow, list[SmsPartRow]]:
    """An SMS in the form the export reads it (Ledger.sms_rows), its bytes left out."""
    x = s.sms
    row = SmsRow(
        0, s.uuid, s.agent_id, s.modem_imei, s.iccid, s.msisdn, x.smsc, x.sender, x.text,
        x.encoding, x.dcs, x.concat_ref, x.concat_total, ",".join(map(str, x.missing_parts)),
        x.undecodable, s.clock.offset_ms, s.clock.uncertainty_ms, s.clock.measured_at_ns,
        s.ingested_at_ns, s.minimised, s.minimised_at_ns, s.raw_sha256, None,
    )  # fmt: skip
    parts = [
        SmsPartRow(0, p.uuid, p.part_seq, p.raw_pdu, p.scts_ns, p.scts_tz_minutes,
                   p.received_at_ns, p.storage, p.index, p.decode_error)
        for p in x.parts
    ]  # fmt: skip
    return row, parts


def _arrival(s: SmsRow, parts: Sequence[SmsPartRow], raw: Mapping[str, bytes]) -> dict[str, Any]:
    clock = _sms_clock(s)
    offset_ns = round((clock["offset_ms"] or 0.0) * 1e6)
    out = {
        "record_uuid": s.uuid,
        # The record as the agent persisted (and signed) it: evidence/signatures.py.
        "record_b64": _b64(raw[s.uuid]) if s.uuid in raw else None,
        "agent_id": s.agent_id,
        "modem_imei": s.modem_imei,
        "iccid": s.iccid,
        "msisdn": s.msisdn,
        "smsc": s.smsc,
        "sender": s.sender,
        "text": s.text,
        "encoding": s.encoding,
        "dcs": s.dcs,
        "concat_ref": s.concat_ref,
        "concat_total": s.concat_total,
        "missing_parts": list(ints(s.missing_parts)),
        "undecodable": bool(s.undecodable),
        "clock": clock,
        "ingested_at_ns": s.ingested_at_ns,
        "parts": [
            {
                "uuid": p.uuid,
                "part_seq": p.part_seq,
                "pdu_hex": p.raw_pdu.hex().upper(),
                "scts_ns": p.scts_ns,
                "scts": _scts(p.scts_ns, p.scts_tz_minutes),
                "received_at_ns": p.received_at_ns,  # agent clock
                "received_at": iso(p.received_at_ns + offset_ns),  # collector clock
                "storage": p.storage,
                "index": p.storage_index,
                "decode_error": p.decode_error,
            }
            for p in parts
        ],
    }
    if s.minimised:
        # The signed record is gone: its hash ties this fact to a bundle made before.
        out["retention"] = retention_json(
            s.minimised, s.minimised_at_ns, record_sha256=s.raw_sha256
        )
    return out


def _sms_clock(s: SmsRow) -> dict[str, Any]:
    """The SMS's clock estimate as `_clock` shows a ClockEstimate (stored: no uncertainty
    is an infinite one, shown as null either way)."""
    return _clock_values(float(s.clock_offset_ms), s.clock_uncertainty_ms, s.clock_measured_at_ns)


def health_json(h: StoredHealth, raw: Mapping[str, bytes]) -> dict[str, Any]:
    x = h.health
    at = x.at_ns + round((_num(h.clock.offset_ms) or 0.0) * 1e6)
    return {
        "record_uuid": h.uuid,
        "record_b64": _b64(raw[h.uuid]) if h.uuid in raw else None,
        "at_ns": at,  # collector clock
        "at": iso(at),
        "healthy": x.healthy,
        "responding": x.responding,
        "rssi_dbm": _num(x.rssi_dbm),
        "registration": x.registration.name.lower(),
        "operator_mcc_mnc": x.operator_mcc_mnc,
        "sim_state": x.sim_state,
        "storage_used": x.storage_used,
        "storage_total": x.storage_total,
        "reasons": list(x.reasons),
        "iccid": x.iccid,
        "clock_offset_ms": _num(h.clock.offset_ms),
    }


def health_window(submitted_ns: int, give_up_s: float) -> tuple[int, int]:
    """The receiver health a record shows: from `submitted_ns` (the submit, else the
    planned time) - 10 min to give-up + 10 min."""
    margin = int(HEALTH_MARGIN_S * NS)
    return submitted_ns - margin, submitted_ns + int(give_up_s * NS) + margin


def evidence_record(
    probe: StoredProbe,
    verdict: StoredVerdict | None,
    judged: JudgedProbe,
    *,
    revisions: Sequence[Revision] = (),
    dlrs: Sequence[StoredDlr | DlrRow] = (),
    arrivals: Sequence[StoredSms] = (),
    health: Sequence[StoredHealth] = (),
    agent: AgentStatus | None = None,
    give_up_s: float = 600.0,
    raw: Mapping[str, bytes] | None = None,
    gaps: Sequence[GapSpan] = (),
    canaries: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The record of one probe; `health` may be wider than the window (it is cut here).
    What retention did to the probe (its number, its raw exchange) is under "retention"."""
    return _record(
        facts_of(probe, verdict), judged_json(judged), revisions=revisions, dlrs=dlrs,
        arrivals=[sms_row_of(a) for a in arrivals], health=health, agent=agent,
        give_up_s=give_up_s, raw=raw or {}, gaps=gaps, canaries=canaries,
    )  # fmt: skip


def facts_of(probe: StoredProbe, verdict: StoredVerdict | None) -> ProbeFacts:
    """A probe and its verdict in the form the export reads them (Ledger.probe_facts): the
    list columns joined as stored."""
    p = probe.plan
    v = verdict.verdict if verdict else None
    return ProbeFacts(
        p.probe_id, p.vendor, p.msisdn, p.profile, p.token, p.body, p.expected_text,
        p.planned_at_ns, p.signature, p.parts, p.cost, p.band, p.carrier, p.mvno, p.region,
        p.site, p.agent_id, p.modem_imei, p.iccid, probe.submit_status,
        probe.submitted_at_ns, probe.answered_at_ns, "\n".join(probe.message_ids),
        probe.raw_request, probe.raw_response, probe.error_kind, probe.error_detail,
        probe.minimised, probe.minimised_at_ns, probe.billed_parts, probe.billed_from,
        *(() if v is None or verdict is None else (
            verdict.revision, verdict.judged_at_ns, v.outcome.value, v.dlr.value,
            v.dlr_claim.value, v.content.value, v.content_diff, v.latency_s,
            v.latency_uncertainty_s, v.vendor_delay_s, v.carrier_delay_s, v.sender,
            v.duplicates, ",".join(map(str, v.missing_parts)), "\n".join(v.reasons),
            ",".join(v.arrival_uuids),
        )),
        *((None,) * 16 if v is None else ()),
    )  # fmt: skip


def judged_of(f: ProbeFacts) -> dict[str, Any]:
    """`judged_json(judged_probe(probe, verdict))` from the facts as read (no objects):
    the same dict, proven by test (test_probe_facts.py) for every kind of probe."""
    sim, line = _sim_line(f.msisdn, f.carrier, f.mvno)
    judged = f.outcome is not None
    outcome = f.outcome if judged else "rejected" if f.submit_status == "rejected" else "pending"
    return {
        "probe_id": f.probe_id,
        "vendor": f.vendor,
        "carrier": f.carrier,
        "region": f.region,
        "profile": f.profile,
        "band": f.band,
        "submitted_at_ns": f.submitted_at_ns or f.planned_at_ns,
        "accepted": f.submit_status == "accepted",
        "outcome": outcome,
        "dlr": f.dlr if judged else "not_applicable" if outcome == "rejected" else "pending",
        "dlr_claim": f.dlr_claim if judged else "none",
        "content": f.content if judged else "none",
        "latency_s": f.latency_s if outcome in ("delivered", "late") else None,
        "latency_uncertainty_s": f.latency_uncertainty_s,
        "vendor_delay_s": f.vendor_delay_s,
        "carrier_delay_s": f.carrier_delay_s,
        "duplicates": f.duplicates or 0,
        "parts": f.parts,
        "missing_parts": len(ints(f.missing_parts or "")) if outcome == "partial" else 0,
        "vendor_billed_parts": f.billed_parts,
        "billed_from": f.billed_from,
        "calendar": "",
        "sim": sim,
        "line": line,
    }


@functools.lru_cache(maxsize=4096)
def _sim_line(msisdn: str, carrier: str, mvno: str) -> tuple[str, str]:
    return national(msisdn), line_type(msisdn, carrier, mvno)


def _record(
    f: ProbeFacts,
    judged: dict[str, Any],
    *,
    revisions: Sequence[Revision],
    dlrs: Sequence[StoredDlr | DlrRow],
    arrivals: Sequence[tuple[SmsRow, Sequence[SmsPartRow]]],
    health: Sequence[StoredHealth],
    agent: AgentStatus | None,
    give_up_s: float,
    raw: Mapping[str, bytes],
    gaps: Sequence[GapSpan],
    canaries: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The record from the probe's facts as read and its "judged" object (`_record_json`
    writes its canonical JSON straight from the same facts: test_record_json.py)."""
    since, until = health_window(f.submitted_at_ns or f.planned_at_ns, give_up_s)
    samples = _samples(health, raw, since, until)
    modem = _modem(f, agent)
    clock = _verdict_clock(arrivals, health, agent, since)
    retention = {"retention": retention_json(f.minimised, f.minimised_at_ns)} if f.minimised else {}
    return {
        **retention,
        "probe_id": f.probe_id,
        "plan": {
            "vendor": f.vendor,
            "msisdn": f.msisdn,
            "profile": f.profile,
            "token": f.token,
            "body": f.body,
            "expected_text": f.expected_text,
            "signature": f.signature,
            "parts": f.parts,
            "cost": f.cost,
            "band": f.band,
            "carrier": f.carrier,
            "mvno": f.mvno,
            "region": f.region,
            "site": f.site,
            "planned_at_ns": f.planned_at_ns,
            "planned_at": iso(f.planned_at_ns),
        },
        "submit": {
            "status": f.submit_status,
            "submitted_at_ns": f.submitted_at_ns,
            "submitted_at": iso(f.submitted_at_ns) if f.submitted_at_ns else None,
            "answered_at_ns": f.answered_at_ns,
            "message_ids": list(strs(f.vendor_message_ids, "\n")),
            "request_b64": _b64(f.raw_request or b""),
            "response_b64": _b64(f.raw_response or b""),
            "error_kind": f.error_kind,
            "error_detail": f.error_detail,
            # A quoted fact, not an input of the verdict: what the vendor says it billed
            # (its answer above or a DLR below holds it) and where the figure came from.
            "billed": {"parts": f.billed_parts, "from": f.billed_from},
        },
        "dlrs": [_dlr(d) for d in dlrs],
        "arrivals": [_arrival(a, parts, raw) for a, parts in arrivals],
        "receiver": {
            "agent_id": f.agent_id,
            "site": agent.site if agent else f.site,
            "region": agent.region if agent else f.region,
            "modem_imei": f.modem_imei,
            "iccid": f.iccid or (modem.sim.iccid if modem and modem.sim else ""),
            "msisdn": f.msisdn,
            "modem": {
                "manufacturer": modem.manufacturer,
                "model": modem.model,
                "firmware": modem.firmware,
            }
            if modem
            else None,
            "health_window": {"since_ns": since, "until_ns": until},
            "health": samples,
            # Collector-side inputs of the verdict (not signed by the agent): the agent's
            # sequence gaps and the canaries to this SIM (evidence/recompute.py).
            "sequence_gaps": _gaps(gaps, since, until),
            "canaries": list(canaries),
        },
        "clock": clock,
        "verdict": None
        if f.outcome is None
        else {
            **verdict_values(
                f.outcome,
                f.dlr,
                f.dlr_claim,
                f.content,
                f.content_diff,
                f.latency_s,
                f.latency_uncertainty_s,
                f.vendor_delay_s,
                f.carrier_delay_s,
                f.sender,
                f.duplicates,
                ints(f.missing_parts or ""),
                strs(f.reasons or "", "\n"),
                strs(f.arrival_uuids or ""),
            ),
            "revision": f.revision,
            "judged_at_ns": f.judged_at_ns,
        },
        "revisions": _revisions(revisions),
        "judged": judged,
    }


def _samples(
    health: Sequence[StoredHealth], raw: Mapping[str, bytes], since: int, until: int
) -> list[dict[str, Any]]:
    samples = [health_json(h, raw) for h in health]
    return [s for s in samples if since <= s["at_ns"] <= until]


def _modem(f: ProbeFacts, agent: AgentStatus | None) -> ModemStatus | None:
    return next((m for m in agent.modems if m.imei == f.modem_imei), None) if agent else None


def _verdict_clock(
    arrivals: Sequence[tuple[SmsRow, Sequence[SmsPartRow]]],
    health: Sequence[StoredHealth],
    agent: AgentStatus | None,
    since: int,
) -> dict[str, Any]:
    """The clock that times the verdict: the arrival's own estimate first, then the one
    the receiver reported with its health around the window, then the agent's latest."""
    if arrivals:
        return {**_sms_clock(arrivals[0][0]), "source": "arrival"}
    if health:
        nearest = min(health, key=lambda h: abs(h.health.at_ns - since))
        return {**_clock(nearest.clock), "source": "health"}
    if agent is not None:
        return {
            "offset_ms": _num(agent.clock_offset_ms),
            "uncertainty_ms": _num(agent.clock_uncertainty_ms),
            "measured_at_ns": 0,
            "measured": math.isfinite(agent.clock_uncertainty_ms),
            "source": "agent_latest",
        }
    return {"offset_ms": None, "uncertainty_ms": None, "source": "none"}


def _gaps(gaps: Sequence[GapSpan], since: int, until: int) -> list[dict[str, Any]]:
    return [
        {"start_ns": g.start_ns, "end_ns": g.end_ns, "detected_at_ns": g.detected_at_ns}
        for g in gaps
        if g.start_ns < until and (g.end_ns == 0 or g.end_ns > since)
    ]


def _revisions(revisions: Sequence[Revision]) -> list[dict[str, Any]]:
    return [
        {
            "revision": r.revision,
            "at_ns": r.at_ns,
            "old": dict(zip(("outcome", "dlr", "content"), r.old, strict=True)),
            "new": dict(zip(("outcome", "dlr", "content"), r.new, strict=True)),
        }
        for r in revisions
    ]


# -- The record's canonical JSON (bundle.canonical) written straight from the facts --
# One pass per row, no dict in between: the export's records.jsonl (a vendor-month is
# 820,000 records, ~3.6 KB each). `_record_json(...)` == canonical(_record(...)) for every
# kind of record (test_record_json.py); each object's keys are written in sorted order.
# The parts that are dicts anyway (judged, clocks, health samples, canaries, gaps,
# revisions, retention) are written by the reference encoder itself.

_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def _objects(items: Sequence[Any]) -> str:
    """A list (of dicts) as canonical JSON; most are empty."""
    return _dumps(items) if items else "[]"


_s = json.encoder.encode_basestring  # a str as canonical JSON (not-ASCII kept); else TypeError


def _v(x: Any) -> str:
    """Any JSON value as canonical JSON."""
    t = type(x)
    if t is str:
        return _s(x)
    if t is int:
        return str(x)
    if x is None:
        return "null"
    if t is float and math.isfinite(x):
        return repr(x)
    return _dumps(x)


def _list(items: Iterable[Any]) -> str:
    return "[" + ",".join(map(_v, items)) + "]"


def _iso(at_ns: int) -> str:
    """iso(at_ns) in UTC, its date made once a day (test_record_json.py: equal)."""
    sec, frac = divmod(at_ns, NS)
    day, in_day = divmod(sec, 86400)
    hours, rest = divmod(in_day, 3600)
    minutes, seconds = divmod(rest, 60)
    micro = frac // 1000
    text = f"{_date(day)}T{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{text}.{micro:06d}+00:00" if micro else f"{text}+00:00"


@functools.lru_cache(maxsize=1024)
def _date(day: int) -> str:
    return iso(day * 86400 * NS)[:10]


def _dlr_json(d: DlrRow) -> str:
    retention = (
        ',"retention":' + _dumps(retention_json("raw:purge", d.minimised_at_ns))
        if d.minimised_at_ns
        else ""
    )
    return (
        f'{{"billed_from":{_s(d.billed_from)},"billed_parts":{_v(d.billed_parts)},'
        f'"copies":{_v(d.copies)},"dlr_id":{_v(d.dlr_id)},"done_at_ns":{_v(d.done_at_ns)},'
        f'"err":{_s(d.err)},"id_rule":{_s(d.id_rule)},"message_id":{_s(d.message_id)},'
        f'"raw_b64":"{_b64(d.raw or b"")}","received_at":"{_iso(d.received_at_ns)}",'
        f'"received_at_ns":{_v(d.received_at_ns)}{retention},"source":{_s(d.source)},'
        f'"status":{_s(d.status)},"vendor_status_raw":{_s(d.vendor_status_raw)}}}'
    )


def _arrival_json(s: SmsRow, parts: Sequence[SmsPartRow], raw: Mapping[str, bytes]) -> str:
    clock = _sms_clock(s)
    offset_ns = round((clock["offset_ms"] or 0.0) * 1e6)
    signed = raw.get(s.uuid)
    retention = (
        ',"retention":'
        + _dumps(retention_json(s.minimised, s.minimised_at_ns, record_sha256=s.raw_sha256))
        if s.minimised
        else ""
    )
    parts_json = ",".join(
        f'{{"decode_error":{_s(p.decode_error)},"index":{_v(p.storage_index)},'
        f'"part_seq":{_v(p.part_seq)},"pdu_hex":"{p.raw_pdu.hex().upper()}",'
        f'"received_at":"{_iso(p.received_at_ns + offset_ns)}",'
        f'"received_at_ns":{_v(p.received_at_ns)},'
        f'"scts":{_v(_scts(p.scts_ns, p.scts_tz_minutes))},"scts_ns":{_v(p.scts_ns)},'
        f'"storage":{_s(p.storage)},"uuid":{_s(p.uuid)}}}'
        for p in parts
    )
    return (
        f'{{"agent_id":{_s(s.agent_id)},"clock":{_dumps(clock)},'
        f'"concat_ref":{_v(s.concat_ref)},"concat_total":{_v(s.concat_total)},'
        f'"dcs":{_v(s.dcs)},"encoding":{_s(s.encoding)},"iccid":{_s(s.iccid)},'
        f'"ingested_at_ns":{_v(s.ingested_at_ns)},"missing_parts":{_list(ints(s.missing_parts))},'
        f'"modem_imei":{_s(s.modem_imei)},"msisdn":{_s(s.msisdn)},"parts":[{parts_json}],'
        f'"record_b64":{"null" if signed is None else chr(34) + _b64(signed) + chr(34)},'
        f'"record_uuid":{_s(s.uuid)}{retention},"sender":{_s(s.sender)},"smsc":{_s(s.smsc)},'
        f'"text":{_s(s.text)},"undecodable":{"true" if s.undecodable else "false"}}}'
    )


def _verdict_json(f: ProbeFacts) -> str:
    if f.outcome is None:
        return "null"
    return (
        f'{{"arrival_uuids":{_list(strs(f.arrival_uuids or ""))},'
        f'"carrier_delay_s":{_v(f.carrier_delay_s)},"content":{_v(f.content)},'
        f'"content_diff":{_v(f.content_diff)},"dlr":{_v(f.dlr)},"dlr_claim":{_v(f.dlr_claim)},'
        f'"duplicates":{_v(f.duplicates)},"judged_at_ns":{_v(f.judged_at_ns)},'
        f'"latency_s":{_v(f.latency_s)},"latency_uncertainty_s":{_v(f.latency_uncertainty_s)},'
        f'"missing_parts":{_list(ints(f.missing_parts or ""))},"outcome":{_v(f.outcome)},'
        f'"reasons":{_list(strs(f.reasons or "", chr(10)))},"revision":{_v(f.revision)},'
        f'"sender":{_v(f.sender)},"vendor_delay_s":{_v(f.vendor_delay_s)}}}'
    )


def _record_json(f: ProbeFacts, judged: dict[str, Any], **facts: Any) -> bytes:
    """canonical(_record(...)) in one pass; a value not of its column's type (a text
    column holding bytes or NULL: `_s` raises TypeError) is written the reference way."""
    try:
        return _written(f, judged, **facts)
    except TypeError:
        return canonical(_record(f, judged, **facts))


def _written(
    f: ProbeFacts,
    judged: dict[str, Any],
    *,
    revisions: Sequence[Revision],
    dlrs: Sequence[DlrRow],
    arrivals: Sequence[tuple[SmsRow, Sequence[SmsPartRow]]],
    health: Sequence[StoredHealth],
    agent: AgentStatus | None,
    give_up_s: float,
    raw: Mapping[str, bytes],
    gaps: Sequence[GapSpan],
    canaries: Sequence[Mapping[str, Any]],
) -> bytes:
    """_record_json's one pass."""
    since, until = health_window(f.submitted_at_ns or f.planned_at_ns, give_up_s)
    samples = _samples(health, raw, since, until)
    modem = _modem(f, agent)
    clock = _verdict_clock(arrivals, health, agent, since)
    retention = (
        ',"retention":' + _dumps(retention_json(f.minimised, f.minimised_at_ns))
        if f.minimised
        else ""
    )
    modem_json = (
        f'{{"firmware":{_s(modem.firmware)},"manufacturer":{_s(modem.manufacturer)},'
        f'"model":{_s(modem.model)}}}'
        if modem
        else "null"
    )
    submitted = f.submitted_at_ns
    text = (
        f'{{"arrivals":[{",".join(_arrival_json(a, ps, raw) for a, ps in arrivals)}],'
        f'"clock":{_dumps(clock)},"dlrs":[{",".join(map(_dlr_json, dlrs))}],'
        f'"judged":{_dumps(judged)},'
        f'"plan":{{"band":{_s(f.band)},"body":{_s(f.body)},"carrier":{_s(f.carrier)},'
        f'"cost":{_v(f.cost)},"expected_text":{_s(f.expected_text)},"msisdn":{_s(f.msisdn)},'
        f'"mvno":{_s(f.mvno)},"parts":{_v(f.parts)},"planned_at":"{_iso(f.planned_at_ns)}",'
        f'"planned_at_ns":{_v(f.planned_at_ns)},"profile":{_s(f.profile)},'
        f'"region":{_s(f.region)},"signature":{_s(f.signature)},"site":{_s(f.site)},'
        f'"token":{_s(f.token)},"vendor":{_s(f.vendor)}}},'
        f'"probe_id":{_s(f.probe_id)},'
        f'"receiver":{{"agent_id":{_s(f.agent_id)},"canaries":{_objects(canaries)},'
        f'"health":{_objects(samples)},'
        f'"health_window":{{"since_ns":{since},"until_ns":{until}}},'
        f'"iccid":{_v(f.iccid or (modem.sim.iccid if modem and modem.sim else ""))},'
        f'"modem":{modem_json},"modem_imei":{_s(f.modem_imei)},"msisdn":{_s(f.msisdn)},'
        f'"region":{_v(agent.region if agent else f.region)},'
        f'"sequence_gaps":{_objects(_gaps(gaps, since, until))},'
        f'"site":{_v(agent.site if agent else f.site)}}}{retention},'
        f'"revisions":{_objects(_revisions(revisions))},'
        f'"submit":{{"answered_at_ns":{_v(f.answered_at_ns)},'
        f'"billed":{{"from":{_s(f.billed_from)},"parts":{_v(f.billed_parts)}}},'
        f'"error_detail":{_s(f.error_detail)},"error_kind":{_s(f.error_kind)},'
        f'"message_ids":{_list(strs(f.vendor_message_ids, chr(10)))},'
        f'"request_b64":"{_b64(f.raw_request or b"")}",'
        f'"response_b64":"{_b64(f.raw_response or b"")}","status":{_s(f.submit_status)},'
        f'"submitted_at":{_v(_iso(submitted)) if submitted else "null"},'
        f'"submitted_at_ns":{_v(submitted)}}},'
        f'"verdict":{_verdict_json(f)}}}'
    )
    return text.encode()


_JUDGED_FIELDS = tuple(f.name for f in fields(JudgedProbe))


def judged_json(judged: JudgedProbe) -> dict[str, Any]:
    """dataclasses.asdict(judged) without its deep copy: every field is a scalar."""
    return {name: getattr(judged, name) for name in _JUDGED_FIELDS}


def iter_records(
    ledger: Ledger,
    *,
    vendor: str,
    since_ns: int,
    until_ns: int,
    give_up_s: float = 600.0,
    judging: JudgingConfig | None = None,
    window_ns: int = WINDOW_NS,
    progress: Callable[[int, int], None] | None = None,
    signers: set[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """`collect_records` a window of planned time at a time (a day by default): the same
    records in the same order, while memory holds one window's probes and facts, not the
    period's. What does not depend on the window (agents, sequence gaps, the canaries
    judged once) is read once. `progress(window, windows)` after each window. `signers`
    gets the agent keys that signed the quoted records (`signatures.signers_of` of the
    records), each quoted record looked at once, not once for every record quoting it."""
    for facts, context in _windows(
        ledger, vendor, since_ns, until_ns, judging or JudgingConfig(), window_ns, progress
    ):
        yield from _records(ledger, facts, None, context, give_up_s, signers)


def iter_records_encoded(
    ledger: Ledger,
    *,
    vendor: str,
    since_ns: int,
    until_ns: int,
    give_up_s: float = 600.0,
    judging: JudgingConfig | None = None,
    window_ns: int = WINDOW_NS,
    progress: Callable[[int, int], None] | None = None,
    signers: set[str],
) -> Iterator[Encoded]:
    """`iter_records`' records, each written as its canonical JSON from the facts
    (`_record_json`, no dict in between), in this process."""
    for facts, context in _windows(
        ledger, vendor, since_ns, until_ns, judging or JudgingConfig(), window_ns, progress
    ):
        yield from _encoded(ledger, facts, context, give_up_s, signers)


def _windows(
    ledger: Ledger,
    vendor: str,
    since_ns: int,
    until_ns: int,
    judging: JudgingConfig,
    window_ns: int,
    progress: Callable[[int, int], None] | None,
) -> Iterator[tuple[list[ProbeFacts], _Context]]:
    """Each window's probes with the context, read with the first window that has any."""
    windows = max(-(-(until_ns - since_ns) // window_ns), 0)
    context: _Context | None = None
    for i in range(windows):
        lo = since_ns + i * window_ns
        facts = ledger.probe_facts(
            vendor=vendor, since_ns=lo, until_ns=min(lo + window_ns, until_ns)
        )
        if facts:
            context = context or _context(ledger, facts, judging)
            yield facts, context
        if progress:
            progress(i + 1, windows)


def iter_encoded(
    url: str,
    *,
    vendor: str,
    since_ns: int,
    until_ns: int,
    give_up_s: float = 600.0,
    judging: JudgingConfig | None = None,
    window_ns: int = WINDOW_NS,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[Encoded]:
    """`iter_records`' records in the same order, each already in canonical JSON, made a
    window at a time by `workers` processes of their own (each opens the ledger at `url`):
    a record depends only on its window's rows and the period-wide context, so windows
    are built side by side while the caller chains and compresses them in order. At most
    workers + 1 windows are held at a time. Each worker reads the context (agents, gaps,
    canaries from its first window's look-back on) once."""
    windows = max(-(-(until_ns - since_ns) // window_ns), 0)
    spans = [(since_ns + i * window_ns, min(since_ns + (i + 1) * window_ns, until_ns))
             for i in range(windows)]  # fmt: skip
    settings = judging_json(judging or JudgingConfig())
    context = multiprocessing.get_context("spawn")  # no forked ledger connections
    with ProcessPoolExecutor(max(workers, 1), mp_context=context) as pool:
        queued: deque[Future[list[Encoded]]] = deque()
        todo = iter(spans)
        for lo, hi in islice(todo, max(workers, 1) + 1):
            queued.append(pool.submit(_encoded_window, url, vendor, lo, hi, give_up_s, settings))
        done = 0
        while queued:
            batch = queued.popleft().result()
            for lo, hi in islice(todo, 1):
                queued.append(
                    pool.submit(_encoded_window, url, vendor, lo, hi, give_up_s, settings)
                )
            yield from batch
            done += 1
            if progress:
                progress(done, windows)


def export_records(
    ledger: Ledger,
    url: str,
    *,
    workers: int,
    signers: set[str],
    billed: dict[str, Billed],
    **period: Any,
) -> Iterator[dict[str, Any] | Encoded]:
    """The records of `evidence export`: `iter_records` in this process (workers 1) or
    `iter_encoded` (the ledger at `url`), noting as they pass the agent keys that signed
    their facts (`signers`) and what imported invoices billed for their probes (`billed`,
    billing.json's: `vendor_bills` by the message ids the records carry, looked up
    BILL_BATCH ids at a time as the records pass, so the period's ids are never all held;
    a record's ids are in one batch, and a probe's lines come sorted either way)."""
    vendor: str = period["vendor"]
    owner: dict[str, str] = {}  # message id -> probe id, this batch's

    def note(message_ids: Sequence[str], probe_id: str) -> None:
        owner.update(dict.fromkeys(message_ids, probe_id))
        if len(owner) >= BILL_BATCH:
            billed.update(vendor_bills(ledger, vendor, owner))
            owner.clear()

    if workers > 1:
        for encoded in iter_encoded(url, workers=workers, **period):
            signers.update(encoded.signers)
            note(encoded.message_ids, encoded.probe_id)
            yield encoded
    else:
        for encoded in iter_records_encoded(ledger, signers=signers, **period):
            note(encoded.message_ids, encoded.probe_id)
            yield encoded
    billed.update(vendor_bills(ledger, vendor, owner))


_WORKER: dict[str, tuple[Ledger, dict[str, _Context]]] = {}


def _encoded_window(
    url: str, vendor: str, since_ns: int, until_ns: int, give_up_s: float, judging: Any
) -> list[Encoded]:
    """One window's records, encoded (in a worker process of iter_encoded)."""

    if url not in _WORKER:
        _WORKER[url] = (open_ledger(url), {})
    ledger, contexts = _WORKER[url]
    facts = ledger.probe_facts(vendor=vendor, since_ns=since_ns, until_ns=until_ns)
    if not facts:
        return []
    if vendor not in contexts:
        contexts[vendor] = _context(ledger, facts, judging_from_json(judging))
    signers: set[str] = set()
    encoded = list(_encoded(ledger, facts, contexts[vendor], give_up_s, signers))
    # the window's signers ride on its first record (export_records unites them)
    encoded[0] = encoded[0]._replace(signers=frozenset(signers))
    return encoded


@dataclass(frozen=True, slots=True)
class _Context:
    """What every window's records take from beyond the window."""

    judging: JudgingConfig
    agents: Mapping[str, AgentStatus]
    gaps: Mapping[str, Sequence[GapSpan]]
    canaries: Mapping[str, _SimCanaries]


def _context(ledger: Ledger, probes: Sequence[ProbeFacts], judging: JudgingConfig) -> _Context:
    """Read with the first probes (the oldest): the canaries from their look-back on."""
    gaps: dict[str, list[GapSpan]] = defaultdict(list)
    for g in ledger.gaps():
        gaps[g.agent_id].append(g)
    return _Context(
        judging=judging,
        agents={a.agent_id: a for a in ledger.agents()},
        gaps=gaps,
        canaries=_canaries_by_msisdn(ledger, probes, judging, gaps),
    )


def collect_records(
    ledger: Ledger,
    *,
    vendor: str,
    since_ns: int,
    until_ns: int,
    give_up_s: float = 600.0,
    judging: JudgingConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[dict[str, Any]], list[JudgedProbe]]:
    """Every probe of `vendor` planned in [since, until) as an evidence record.

    `judging`: the settings the judge ran with; the canaries to each probe's SIM are judged
    with them (as of now; verify takes each one's status as of the verdict).

    `progress(done, total)` is called after each record.
    """
    probes, verdicts, judged = load_judged(
        ledger, since_ns=since_ns, until_ns=until_ns, vendor=vendor
    )
    if not probes:
        return [], []
    facts = [facts_of(p, verdicts.get(p.plan.probe_id)) for p in probes]
    context = _context(ledger, facts, judging or JudgingConfig())
    records = []
    for record in _records(ledger, facts, [judged_json(j) for j in judged], context, give_up_s):
        records.append(record)
        if progress:
            progress(len(records), len(probes))
    return records, judged


def _records(
    ledger: Ledger,
    probes: Sequence[ProbeFacts],
    judged: Sequence[dict[str, Any]] | None,
    context: _Context,
    give_up_s: float,
    signers: set[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """The records of these probes with their "judged" objects (None: judged_of each, as
    its record is made), their facts read in one batch per kind; `signers`: see
    iter_records (every record read here is quoted by one of these records)."""
    for f, judged_json_, facts in _facts(ledger, probes, judged, context, give_up_s, signers):
        yield _record(f, judged_json_, **facts)


def _encoded(
    ledger: Ledger,
    probes: Sequence[ProbeFacts],
    context: _Context,
    give_up_s: float,
    signers: set[str],
) -> Iterator[Encoded]:
    """`_records`' records, each as its canonical JSON (`_record_json`)."""
    for f, judged, facts in _facts(ledger, probes, None, context, give_up_s, signers):
        yield Encoded(
            _record_json(f, judged, **facts),
            judged,
            f.probe_id,
            strs(f.vendor_message_ids, "\n"),
            frozenset(),
        )


def _facts(
    ledger: Ledger,
    probes: Sequence[ProbeFacts],
    judged: Sequence[dict[str, Any]] | None,
    context: _Context,
    give_up_s: float,
    signers: set[str] | None,
) -> Iterator[tuple[ProbeFacts, dict[str, Any], dict[str, Any]]]:
    """Each probe with its "judged" object and the facts its record quotes (_record's
    keyword arguments), read in one batch per kind for all of them."""
    ids = [f.probe_id for f in probes]
    dlrs = ledger.dlr_rows_of(ids)  # plain tuples: about one a probe
    revisions = ledger.revisions_of(ids)  # these probes' only, not the ledger's
    arrival_ids = {f.probe_id: strs(f.arrival_uuids or "") for f in probes}
    uuids = {u for us in arrival_ids.values() for u in us}
    # by uuid: only this vendor's arrivals, with their signed records in the same read
    sms, parts = ledger.sms_rows(sorted(uuids)) if uuids else ({}, {})
    raw = {u: s.raw for u, s in sms.items() if s.raw is not None}
    health = _health_by_imei(ledger, probes, give_up_s)
    # Sorted by collector time once, so each probe takes its window by bisection.
    health_at = {
        imei: [h.health.at_ns + round((_num(h.clock.offset_ms) or 0.0) * 1e6) for h in rows]
        for imei, rows in health.items()
    }
    windows = {f.probe_id: _window(f, health, health_at, give_up_s) for f in probes}
    quoted = {h.uuid for rows in windows.values() for h in rows}
    if quoted:
        raw = {**raw, **ledger.record_raw(sorted(quoted))}
    if signers is not None:
        from collector.evidence.signatures import raw_signers  # it renders facts with this

        signers.update(raw_signers(raw.values()))
    judging = context.judging
    for i, f in enumerate(probes):
        pid = f.probe_id
        yield (
            f,
            judged_of(f) if judged is None else judged[i],
            {
                "revisions": revisions.get(pid, ()),
                "dlrs": dlrs.get(pid, ()),
                "arrivals": [
                    (sms[u], parts.get(sms[u].record_id, ())) for u in arrival_ids[pid] if u in sms
                ],
                "health": windows[pid],
                "agent": context.agents.get(f.agent_id),
                "give_up_s": give_up_s,
                "raw": raw,
                "gaps": context.gaps.get(f.agent_id, ()),
                "canaries": _canaries_of(f, context.canaries.get(f.msisdn, _NO_CANARIES), judging),
            },
        )


@dataclass(frozen=True, slots=True)
class _SimCanaries:
    """A SIM's canary outcomes, with their send times ascending and where each is in
    `outcomes`: a probe takes its window by bisection (a month's canaries to a SIM are
    hundreds, and every probe to it looks), in the outcomes' own order."""

    outcomes: Sequence[CanaryOutcome]
    times: Sequence[int]
    at: Sequence[int]

    @classmethod
    def of(cls, outcomes: Sequence[CanaryOutcome]) -> _SimCanaries:
        order = sorted(range(len(outcomes)), key=lambda k: outcomes[k].canary.sent_at_ns)
        return cls(outcomes, [outcomes[k].canary.sent_at_ns for k in order], order)

    def sent_within(self, since_ns: int, until_ns: int) -> list[CanaryOutcome]:
        """The outcomes sent in [since_ns, until_ns], in their order."""
        lo = bisect.bisect_left(self.times, since_ns)
        hi = bisect.bisect_right(self.times, until_ns)
        return [self.outcomes[k] for k in sorted(self.at[lo:hi])]


_NO_CANARIES = _SimCanaries((), (), ())


def _canaries_by_msisdn(
    ledger: Ledger,
    probes: Sequence[ProbeFacts],
    judging: JudgingConfig,
    gaps: Mapping[str, Sequence[GapSpan]],
) -> Mapping[str, _SimCanaries]:
    """Every canary that may bear on the probes and those planned after them, judged once
    (collector/canaries.py)."""
    oldest = min((p.submitted_at_ns or p.planned_at_ns) for p in probes)
    now = max(time.time_ns(), max(p.submitted_at_ns for p in probes))
    gaps_by_agent = {
        agent: [(g.start_ns, g.end_ns or now) for g in spans] for agent, spans in gaps.items()
    }
    out: dict[str, list[CanaryOutcome]] = defaultdict(list)
    for o in canary_outcomes(
        ledger,
        since_ns=oldest - int((max(judging.canary_lookback_s, 0.0) + 3600) * NS),
        now_ns=now,
        deadline_s=judging.canary_deadline_s,
        max_silence_s=judging.health_max_silence_s,
        gaps_by_agent=gaps_by_agent,
    ):
        out[o.canary.to_msisdn].append(o)
    return {msisdn: _SimCanaries.of(outcomes) for msisdn, outcomes in out.items()}


def _canaries_of(
    probe: ProbeFacts, outcomes: _SimCanaries, judging: JudgingConfig
) -> list[dict[str, Any]]:
    """The canaries that can mark this probe's receiver unhealthy: sent within the judge's
    look-back before the submit, up to give-up."""
    submitted = probe.submitted_at_ns or probe.planned_at_ns
    since = submitted - int(max(judging.canary_lookback_s, 0.0) * NS)
    until = submitted + int(judging.policy.give_up_s * NS)
    return [canary_json(o, judging.canary_deadline_s) for o in outcomes.sent_within(since, until)]


def _window(
    probe: ProbeFacts,
    health: Mapping[str, list[StoredHealth]],
    health_at: Mapping[str, list[int]],
    give_up_s: float,
) -> list[StoredHealth]:
    rows, times = health.get(probe.modem_imei), health_at.get(probe.modem_imei)
    if not rows or not times:
        return []
    since, until = health_window(probe.submitted_at_ns or probe.planned_at_ns, give_up_s)
    return rows[bisect.bisect_left(times, since) : bisect.bisect_right(times, until)]


def _health_by_imei(
    ledger: Ledger, probes: Iterable[ProbeFacts], give_up_s: float
) -> Mapping[str, list[StoredHealth]]:
    """One query per modem over the union of its probes' windows (cut per probe later)."""
    spans: dict[str, list[int]] = {}
    for p in probes:
        imei = p.modem_imei
        if not imei:
            continue
        since, until = health_window(p.submitted_at_ns or p.planned_at_ns, give_up_s)
        # Health is read on the agent clock: widen by an hour for offsets.
        since, until = since - 3600 * NS, until + 3600 * NS
        lo_hi = spans.setdefault(imei, [since, until])
        lo_hi[0], lo_hi[1] = min(lo_hi[0], since), max(lo_hi[1], until)
    out = {}
    for imei, (lo, hi) in spans.items():
        rows = ledger.modem_health(imei, lo, hi)
        rows.sort(key=lambda h: h.health.at_ns + round((_num(h.clock.offset_ms) or 0.0) * 1e6))
        out[imei] = rows
    return out


__all__ = [
    "arrival_json",
    "collect_records",
    "evidence_record",
    "export_records",
    "facts_of",
    "health_json",
    "health_window",
    "iter_encoded",
    "iter_records",
    "iter_records_encoded",
    "judged_of",
    "retention_json",
]
