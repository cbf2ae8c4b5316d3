"""What each vendor did to the text of the probes that arrived, by kind of change
(collector/correlation/content.py `content_changes`): signature added or changed, link
rewritten, truncated, characters replaced, text added or removed.

The verdict says whether a probe's content was intact; the kinds come from comparing its
expected text with the arrival the verdict names (its first arrival record: duplicates are
whole copies). Probes whose arrival text retention has masked are not classified.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from collector.correlation.content import CHANGE_KINDS, content_changes
from collector.correlation.model import ContentVerdict, Outcome
from collector.ledger.base import Ledger
from collector.ledger.probes import StoredProbe, StoredVerdict
from collector.reports.figures import Tally

ARRIVED = (Outcome.DELIVERED, Outcome.LATE, Outcome.PARTIAL)
ARRIVED_NAMES = tuple(o.value for o in ARRIVED)


def texts_of(ledger: Ledger, verdicts: Mapping[str, StoredVerdict]) -> dict[str, str]:
    """Arrival record uuid -> text, for the arrivals `change_counts` compares: the first
    of each arrived probe whose content was not intact (read by uuid, not every SMS)."""
    wanted = [
        v.verdict.arrival_uuids[0]
        for v in verdicts.values()
        if v.verdict.outcome in ARRIVED
        and v.verdict.content is not ContentVerdict.INTACT
        and v.verdict.arrival_uuids
    ]
    found = ledger.sms_of(wanted) if wanted else {}
    return {uuid: r.sms.text for uuid, r in found.items() if not r.minimised}


def change_counts(
    probes: Iterable[StoredProbe],
    verdicts: Mapping[str, StoredVerdict],
    texts: Mapping[str, str],
    counted: Iterable[Tally] = (),
) -> dict[str, dict[str, int]]:
    """vendor -> {"arrived": compared probes, "changed": probes with any change, kind: n}.
    `counted`: further arrived probes known intact, counted (rollup tallies: every hour
    holding a changed one is read raw, see reports/period.py)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CHANGE_KINDS, 0))
    for t in counted:
        if t.probe.outcome in ARRIVED_NAMES:
            if t.probe.content != ContentVerdict.INTACT.value:
                raise ValueError(f"a counted probe of {t.probe.vendor} was not intact")
            counts = out[t.probe.vendor]
            counts["arrived"] = counts.get("arrived", 0) + t.n
            counts.setdefault("changed", 0)
    for p in probes:
        stored = verdicts.get(p.plan.probe_id)
        if stored is None or stored.verdict.outcome not in ARRIVED:
            continue
        v = stored.verdict
        counts = out[p.plan.vendor]
        counts["arrived"] = counts.get("arrived", 0) + 1
        counts.setdefault("changed", 0)
        if v.content is ContentVerdict.INTACT or not v.arrival_uuids:
            continue
        text = texts.get(v.arrival_uuids[0])
        if text is None:
            counts["unclassified"] = counts.get("unclassified", 0) + 1
            continue
        kinds = content_changes(p.plan.expected_text, text)
        counts["changed"] += bool(kinds)
        for kind in kinds:
            counts[kind] += 1
    return {vendor: dict(c) for vendor, c in sorted(out.items())}
