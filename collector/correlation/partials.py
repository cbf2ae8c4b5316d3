"""Merge the partial records of one long SMS into one arrival. Pure: values in, values out.

An agent uploads a concatenated SMS still missing parts after its reassembly timeout as
partial records, one per run of consecutive parts (agent/reassembly.py); a part that
arrives later comes as a record of its own. Records that reached the same SIM from the
same sender with the same concatenation reference and total (TS 23.040 §9.2.3.24.1) are
one message: merged here, before token matching, so the probe is judged on every part
that arrived, however far apart they came.

8-bit references wrap every 256 messages, so a record joins a message only when it adds
parts the message lacks, within `window_ns` of its first part, and without interleaving
with the parts it has (each record's text is exact only for its own run, so the merged
text is exact only when the runs can be laid end to end). A record that cannot join
stays an arrival of its own, never dropped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
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
    message, which passes through as it is.
    """
    out: list[tuple[str, Arrival]] = []
    keyed: dict[MessageKey, list[tuple[str, Arrival]]] = defaultdict(list)
    for match_key, key, arrival in arrivals:
        if key is None or not arrival.missing_parts or not arrival.parts:
            out.append((match_key, arrival))
        else:
            keyed[key].append((match_key, arrival))
    for key, members in keyed.items():
        messages: list[tuple[str, list[Arrival]]] = []
        for match_key, arrival in sorted(members, key=lambda m: _first_ns(m[1])):
            start = _first_ns(arrival)
            home = next(
                (
                    records
                    for _, records in messages
                    if start - min(_first_ns(r) for r in records) <= window_ns
                    and _fits(records, arrival)
                ),
                None,
            )
            if home is None:
                messages.append((match_key, [arrival]))
            else:
                home.append(arrival)
        out.extend(
            (mk, records[0] if len(records) == 1 else _merged(records, key.total))
            for mk, records in messages
        )
    return out
