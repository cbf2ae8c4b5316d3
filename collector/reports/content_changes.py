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

from agent.common.units import NS
from collector.correlation.content import CHANGE_KINDS, content_changes
from collector.correlation.model import ContentVerdict, Outcome
from collector.ledger.base import Ledger
from collector.ledger.probes import StoredProbe, StoredVerdict

ARRIVED = (Outcome.DELIVERED, Outcome.LATE, Outcome.PARTIAL)
SLACK_NS = 4 * 86400 * NS  # arrivals of a period's probes come within the DLR window


def received_texts(ledger: Ledger, *, since_ns: int, until_ns: int) -> dict[str, str]:
    """Arrival record uuid -> text, for the SMS received around [since, until)."""
    rows = ledger.received_sms(since_ns=since_ns - SLACK_NS, until_ns=until_ns + SLACK_NS)
    return {r.uuid: r.sms.text for r in rows if not r.minimised}


def change_counts(
    probes: Iterable[StoredProbe],
    verdicts: Mapping[str, StoredVerdict],
    texts: Mapping[str, str],
) -> dict[str, dict[str, int]]:
    """vendor -> {"arrived": compared probes, "changed": probes with any change, kind: n}."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CHANGE_KINDS, 0))
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
