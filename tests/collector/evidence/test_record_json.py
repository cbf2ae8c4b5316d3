"""The export writes each record's canonical JSON straight from the rows it read
(records._record_json, no dict in between); `evidence verify`, the whole-period exporter
and evidence_record build the record as a dict (records._record). The two must give the
same bytes for every kind of record: random facts of every outcome and submit status,
unjudged probes, arrivals with several parts and missing or undecodable parts, texts
with non-ASCII, control characters, quotes and backslash-u, retention marks on the
probe, its DLRs and its arrivals, health samples, sequence gaps, canaries, revisions,
an agent with and without the modem, values NaN or infinite, and a text column holding
what it should not (written the reference way)."""

from __future__ import annotations

import json
import math
import random
from types import SimpleNamespace
from typing import Any, get_type_hints

from agent.common.units import NS
from agent.wire.records import ClockEstimate, ModemHealth, Registration, SimInfo
from collector.evidence.bundle import canonical
from collector.evidence.records import _iso, _record, _record_json, _SimCanaries, judged_of
from collector.ledger.model import (
    AgentStatus,
    GapSpan,
    ModemStatus,
    SmsPartRow,
    SmsRow,
    StoredHealth,
)
from collector.ledger.probes import DlrRow, ProbeFacts, Revision
from collector.reports.config import iso

OUTCOMES = ("delivered", "late", "partial", "lost", "inconclusive", None)
TEXTS = ("Your code is 137013", "【验证】您的验证码是 424242", 'quote " and \\ back',
         "tab\tnew\nline\x01\x7f", "literal \\u0041 and 😀", "", "Ünïcödé  ")  # fmt: skip
T0 = 1_779_740_800 * NS


def _text(rng: random.Random) -> str:
    return rng.choice(TEXTS)


def _float(rng: random.Random) -> float:
    return rng.choice((0.0, 1.5, -2.25, 7.142000909, 1e-7, 123456.789, math.nan, math.inf))


def _probe(rng: random.Random, i: int) -> ProbeFacts:
    outcome = rng.choice(OUTCOMES)
    values: dict[str, Any] = {}
    hints = get_type_hints(ProbeFacts)
    for name in ProbeFacts._fields:
        kind = hints[name]
        if kind is str:
            values[name] = _text(rng)
        elif kind is int:
            values[name] = rng.choice((0, 1, T0 + rng.randrange(86400 * NS)))
        elif kind is float:
            values[name] = _float(rng)
        elif kind == bytes | None:
            values[name] = rng.choice((None, b"", b"POST /send\x00\xff" * rng.randrange(3)))
        elif kind == int | None:
            values[name] = rng.choice((None, 0, 2, T0))
        elif kind == float | None:
            values[name] = rng.choice((None, _float(rng)))
        else:  # str | None
            values[name] = rng.choice((None, _text(rng)))
    values.update(
        probe_id=f"p{i:06d}", msisdn=rng.choice(("+8613900000002", "13900000003", "")),
        carrier=rng.choice(("china_mobile", "china_unicom")), mvno=rng.choice(("", "xiaomi")),
        submit_status=rng.choice(("accepted", "rejected", "error")),
        vendor_message_ids=rng.choice(("", "m1", "m1\nm2\nm3")),
        minimised=rng.choice(("", "", "text:mask,msisdn:mask")),
        missing_parts=rng.choice(("", "2", "2,3")),
        reasons=rng.choice(("", "arrived\nlate DLR")), arrival_uuids=rng.choice(("", "u1,u2")),
        billed_from=rng.choice(("", "fee")),
    )  # fmt: skip
    if outcome is None:  # not judged: every verdict column NULL
        verdict = ProbeFacts._fields.index("revision")
        values.update(dict.fromkeys(ProbeFacts._fields[verdict:]))
    else:
        values["outcome"] = outcome
        values["duplicates"] = rng.choice((0, 1, 2))
    return ProbeFacts(**values)


def _sms(rng: random.Random, uuid: str) -> tuple[SmsRow, list[SmsPartRow]]:
    total = rng.choice((1, 1, 2, 3))
    row = SmsRow(
        rng.randrange(1, 1000), uuid, "agent-02", "860000000000002", rng.choice(("", "8986")),
        "+8613900000002", "+8613800100500", rng.choice(("10086", "【bank】")), _text(rng),
        rng.choice(("gsm7", "ucs2")), rng.choice((0, 8)), rng.choice((-1, 17)), total,
        rng.choice(("", "2", "2,3")), rng.choice((0, 1)), _float(rng),
        rng.choice((None, 2.0, math.inf)), rng.choice((0, T0)), T0 + 5 * NS,
        rng.choice(("", "", "text:purge")), rng.choice((0, T0 + 86400 * NS)), "ab" * 32,
        None,
    )  # fmt: skip
    parts = [
        SmsPartRow(row.record_id, f"{uuid}-{seq}", seq, bytes(rng.randrange(256) for _ in range(9)),
                   rng.choice((0, T0 + 7 * NS + 123_456_789)), rng.choice((32, -20, 0)),
                   T0 + seq * NS + rng.randrange(NS), "SM", seq, rng.choice(("", "bad UDH")))
        for seq in range(1, total + 1)
    ]  # fmt: skip
    return row, parts


def _health(rng: random.Random, at_ns: int) -> StoredHealth:
    return StoredHealth(
        "agent-02", f"h{at_ns}", "860000000000002",
        ClockEstimate(rng.choice((0.0, 1.5, math.nan)), 2.0, T0),
        ModemHealth(at_ns, rng.choice((True, False)), rng.choice((-71.0, math.nan)),
                    registration=Registration.HOME, operator_mcc_mnc="46000",
                    healthy=rng.choice((True, False)), reasons=("weak signal",) * rng.randrange(2),
                    iccid="8986"),
    )  # fmt: skip


def _agent(rng: random.Random) -> AgentStatus | None:
    modem = ModemStatus("860000000000002", "Quectel", "EC25", "", "", "", True,
                        rng.choice((None, SimInfo("89860000000000000002"))), None)  # fmt: skip
    return rng.choice((
        None,
        AgentStatus("agent-02", "bj-1", "north", "1", (), True, "", T0, T0, 1.5,
                    rng.choice((2.0, math.inf)), 0, 0, 0, rng.choice(((modem,), ()))),
    ))  # fmt: skip


def _record_args(rng: random.Random, f: ProbeFacts) -> dict[str, Any]:
    at = f.submitted_at_ns or f.planned_at_ns
    arrivals = [_sms(rng, f"u{k}") for k in range(rng.choice((0, 0, 1, 2)))]
    raw = {row.uuid: b"signed\x00" + row.uuid.encode() for row, _ in arrivals if rng.random() < 0.7}
    health = [_health(rng, at + k * 200 * NS) for k in range(rng.choice((0, 0, 3)))]
    dlrs = [
        DlrRow(f.probe_id, k, f"m{k}", rng.choice(("DELIVRD", "UNDELIV")), _text(rng), "",
               at + NS, at + 2 * NS, "push", rng.choice((1, 2)), "message_id",
               rng.choice((b"id:m", b"")), rng.choice((None, 2)), rng.choice(("", "fee")),
               rng.choice((0, 0, T0)))
        for k in range(rng.choice((0, 1, 1, 2)))
    ]  # fmt: skip
    return {
        "revisions": [Revision(f.probe_id, 2, at, ("lost", "missing", "none"),
                               ("delivered", "consistent", "intact"))] * rng.randrange(2),
        "dlrs": dlrs,
        "arrivals": arrivals,
        "health": health,
        "agent": _agent(rng),
        "give_up_s": 600.0,
        "raw": raw,
        "gaps": [GapSpan("agent-02", 5, 9, at - NS, rng.choice((0, at + NS)), at)]
        * rng.randrange(2),
        "canaries": [{"canary_id": "c1", "outcome": "arrived", "sent_at_ns": at}]
        * rng.randrange(2),
    }  # fmt: skip


def test_the_record_written_in_one_pass_is_the_canonical_json_of_the_record() -> None:
    rng = random.Random(14)
    seen: set[tuple[Any, ...]] = set()
    for i in range(3_000):
        f = _probe(rng, i)
        args = _record_args(rng, f)
        judged = judged_of(f)
        record = _record(f, judged, **args)
        written = _record_json(f, judged, **args)
        assert written == canonical(record), f
        assert (
            written
            == json.dumps(
                record, sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode()
        )
        seen.add((judged["outcome"], bool(args["arrivals"]), bool(f.minimised),
                  any(len(p) > 1 for _, p in args["arrivals"]), bool(args["health"])))  # fmt: skip
    # every outcome (and rejected/pending unjudged), with and without arrivals, retention,
    # several parts and health samples, was among them
    outcomes = {s[0] for s in seen}
    assert outcomes == {"delivered", "late", "partial", "lost", "inconclusive", "rejected",
                        "pending"}  # fmt: skip
    assert {s[1:] for s in seen} >= {(True, True, True, True), (False, False, False, False)}


def test_a_text_column_holding_null_is_written_the_reference_way() -> None:
    rng = random.Random(3)
    f = _probe(rng, 1)._replace(body=None, outcome="lost")  # type: ignore[arg-type]
    args = _record_args(rng, f)
    judged = judged_of(f)
    assert _record_json(f, judged, **args) == canonical(_record(f, judged, **args))
    assert b'"body":null' in _record_json(f, judged, **args)


def test_iso_times_in_one_pass_are_iso() -> None:
    rng = random.Random(5)
    instants = [0, -1, NS, -NS - 1, T0, T0 + 999, T0 + 1000, 253_402_300_799 * NS]
    instants += [rng.randrange(-(10**18), 4 * 10**18) for _ in range(20_000)]
    for at in instants:
        assert _iso(at) == iso(at), at


def test_a_probes_canaries_by_bisection_are_those_sent_in_its_window_in_order() -> None:
    """Each probe takes the canaries to its SIM sent in its look-back window by bisecting
    their send times; the same outcomes, in the same order, as looking at every one."""
    rng = random.Random(9)
    outcomes = [
        SimpleNamespace(canary=SimpleNamespace(sent_at_ns=T0 + rng.randrange(50) * 60 * NS))
        for _ in range(400)
    ]  # unsorted, with repeated times
    sim = _SimCanaries.of(outcomes)  # type: ignore[arg-type]
    for _ in range(500):
        since = T0 + rng.randrange(-5, 55) * 60 * NS + rng.choice((0, 1, -1))
        until = since + rng.randrange(0, 20) * 60 * NS
        expected = [o for o in outcomes if since <= o.canary.sent_at_ns <= until]
        assert sim.sent_within(since, until) == expected
    assert _SimCanaries.of([]).sent_within(0, T0) == []
