"""Merge the partial records of one long SMS into one arrival. Pure: values in, values out.

An agent uploads a concatenated SMS still missing parts after its reassembly timeout as
partial records, one per run of consecutive parts (agent/outbox/reassembly.py); a part that
arrives later comes as a record of its own. Records that reached the same SIM from the
same sender with the same concatenation reference and total (TS 23.040 §9.2.3.24.1) are
one message, so the probe is judged on every part that arrived, however far apart.

8-bit references wrap every 256 messages and many probes may be outstanding on one SIM,
so the key alone could join parts of two probes. Records are therefore merged after token
matching, within one probe (long probes carry the token in their first and last part); a
record without a token (a middle part) joins the one probe holding records of the same
key, and stays unsolicited when there is none or more than one. Within a probe a record
joins a message only when it adds parts the message lacks, within `window_ns` of its
first part, and without interleaving with the parts it has (each record's text is exact
only for its own run, so the merged text is exact only when the runs can be laid end to
end). A record that cannot join stays an arrival of its own, never dropped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from collector.correlation.model import Arrival


@dataclass(frozen=True, slots=True)
class MessageKey:
    """What makes partial records one message."""

    sim: str  # ICCID (else IMEI) of the receiving SIM
    sender: str
    ref: int
    total: int


def _first_ns(a: Arrival) -> int:
    return min(p.collector_time_ns() for p in a.parts)


def _seqs(a: Arrival) -> set[int]:
    return {p.part_seq for p in a.parts}


def _fits(records: Sequence[Arrival], new: Arrival) -> bool:
    """New parts only, laid before or after each record's run, never inside one."""
    seqs = _seqs(new)
    for r in records:
        have = _seqs(r)
        if have & seqs or not (max(have) < min(seqs) or max(seqs) < min(have)):
            return False
    return True


def _merged(records: Sequence[Arrival], total: int) -> Arrival:
    ordered = sorted(records, key=lambda r: min(_seqs(r)))
    earliest = min(records, key=_first_ns)
    parts = tuple(sorted((p for r in records for p in r.parts), key=lambda p: p.part_seq))
    have = {p.part_seq for p in parts}
    return replace(
        earliest,
        text="".join(r.text for r in ordered),
        parts=parts,
        total_parts=total,
        missing_parts=tuple(s for s in range(1, total + 1) if s not in have),
        merged_uuids=tuple(r.record_uuid for r in records if r is not earliest),
    )


def merge_partials(
    arrivals: Iterable[tuple[str, MessageKey | None, Arrival]], *, window_ns: int
) -> list[tuple[str, Arrival]]:
    """(matching key, arrival) for every message: partial records of one message merged.

    Input: (matching key, message key or None, arrival); None for a complete or single
    message, which passes through as it is. Records merge only under one matching key
    (the probe they were attributed to).
    """
    out: list[tuple[str, Arrival]] = []
    keyed: dict[tuple[str, MessageKey], list[Arrival]] = defaultdict(list)
    for match_key, key, arrival in arrivals:
        if key is None or not arrival.missing_parts or not arrival.parts:
            out.append((match_key, arrival))
        else:
            keyed[(match_key, key)].append(arrival)
    for (match_key, key), members in keyed.items():
        messages: list[list[Arrival]] = []
        for arrival in sorted(members, key=_first_ns):
            start = _first_ns(arrival)
            home = next(
                (
                    records
                    for records in messages
                    if start - min(_first_ns(r) for r in records) <= window_ns
                    and _fits(records, arrival)
                ),
                None,
            )
            if home is None:
                messages.append([arrival])
            else:
                home.append(arrival)
        out.extend(
            (match_key, records[0] if len(records) == 1 else _merged(records, key.total))
            for records in messages
        )
    return out


def merge_matched(
    by_probe: Mapping[str, Sequence[Arrival]],
    unsolicited: Sequence[Arrival],
    keys: Mapping[str, MessageKey | None],
    *,
    window_ns: int,
) -> tuple[dict[str, list[Arrival]], list[Arrival]]:
    """Per probe, its arrivals with partial records merged; and what stays unsolicited.

    `keys` maps a record uuid to its message key (None: complete or single).
    """
    holders: dict[MessageKey, set[str]] = defaultdict(set)
    for pid, arrivals in by_probe.items():
        for a in arrivals:
            if (key := keys.get(a.record_uuid)) is not None:
                holders[key].add(pid)
    adopted: dict[str, list[Arrival]] = {pid: list(a) for pid, a in by_probe.items()}
    strays: list[Arrival] = []
    for a in unsolicited:
        key = keys.get(a.record_uuid)
        owners = holders.get(key, set()) if key is not None else set()
        if len(owners) == 1:
            adopted[next(iter(owners))].append(a)
        else:
            strays.append(a)
    merged = merge_partials(
        ((pid, keys.get(a.record_uuid), a) for pid, arrivals in adopted.items() for a in arrivals),
        window_ns=window_ns,
    )
    out: dict[str, list[Arrival]] = defaultdict(list)
    for pid, a in merged:
        out[pid].append(a)
    return dict(out), strays
