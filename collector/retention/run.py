"""One retention run: the configured cutoffs as of now, applied batch by batch (each batch
one ledger transaction, so ingest is never held for long), then the space reclaimed."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from collector.ledger import Ledger
from collector.ledger.audit import AuditKind
from collector.ledger.retention import TARGETS, DataKind, personal_changes, zero_counts
from collector.reports.config import iso
from collector.retention.config import RetentionConfig

BATCH = 2000  # records per transaction


@dataclass(frozen=True, slots=True)
class RunOutcome:
    counts: Mapping[str, int]  # values changed per target
    dry_run: bool
    reclaimed: bool
    now_ns: int

    @property
    def changed(self) -> int:
        return sum(self.counts.values())


def run_retention(
    ledger: Ledger,
    config: RetentionConfig,
    *,
    now_ns: int,
    dry_run: bool = False,
    batch: int = BATCH,
    stop: Callable[[], bool] = lambda: False,
) -> RunOutcome:
    """Apply (or count, `dry_run`) the policy as of `now_ns`. `stop()` is asked between
    batches (serve stopping): what is done stays done, the rest is the next run's."""
    policy = config.minimisation(now_ns)
    if not config.kinds:
        return RunOutcome(zero_counts(), dry_run, False, now_ns)
    if dry_run:
        return RunOutcome(ledger.minimise_dry_run(policy, at_ns=now_ns), True, False, now_ns)
    total = zero_counts()
    more = True
    while more and not stop():
        counts, more = ledger.minimise(policy, at_ns=now_ns, limit=batch)
        for target, n in counts.items():
            total[target] += n
    # Only personal values need their old copies gone from the files; deleted agent
    # samples' pages are reused as they are.
    reclaim = config.reclaim and personal_changes(total) > 0
    if reclaim:
        ledger.reclaim_space()
    return RunOutcome(total, False, reclaim, now_ns)


def report_lines(config: RetentionConfig, outcome: RunOutcome) -> Iterator[str]:
    """Per kind: the action, the cutoff and the values changed (or that would be)."""
    verb = "would change" if outcome.dry_run else "changed"
    if not config.kinds:
        yield "retention: no [retention] kinds configured, everything is kept"
        return
    cutoffs = {c.kind: c for c in config.minimisation(outcome.now_ns).effective()}
    for kind in DataKind:
        cut = cutoffs.get(kind)
        if cut is None:
            yield f"{kind.value}: kept (not configured)"
            continue
        yield f"{kind.value}: {cut.action.value} what is older than {iso(cut.before_ns)}"
        for target in TARGETS[kind]:
            yield f"  {target:<26} {outcome.counts.get(target, 0):>10}"
    yield f"{verb} {outcome.changed} values" + (
        "; database space reclaimed" if outcome.reclaimed else ""
    )


def audit_arguments(config: RetentionConfig, outcome: RunOutcome) -> dict[str, object]:
    return {
        "policy": config.describe(),
        "counts": {k: v for k, v in outcome.counts.items() if v},
        "reclaimed": outcome.reclaimed,
    }


AUDIT_KIND = AuditKind.RETENTION_RUN
