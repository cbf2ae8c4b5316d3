"""[retention]: how long message texts, MSISDNs and raw bytes are kept.

    [retention]
    run_every_s = 86400                            # serve runs it this often; 0 = by hand only
    reclaim = true                                 # VACUUM after a run that changed rows
    texts = { action = "mask", after_days = 90 }   # mask | purge
    msisdns = { action = "mask", after_days = 180 }
    raw = { after_days = 30 }                      # PDUs, signed records, vendor exchanges: purged
    agent_samples = { after_days = 7 }             # deleted (the default when not listed)

A personal kind not listed is kept for good. Masking a text or a number purges the raw
bytes of its row at the same age (they contain it). `after_days` must be longer than the
DLR window: verdicts are settled by then (a probe still open is left alone until it is).
Agent samples (a row per liveness touch, ~1/s per agent stream, docs/data-model.md) are
deleted after AGENT_SAMPLES_DAYS unless configured otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.common.tomlconfig import Table
from collector.ledger.retention import Action, Cutoff, DataKind, Minimisation

DAY_NS = 86400 * 1_000_000_000
_SECTIONS = {"texts": DataKind.TEXT, "msisdns": DataKind.MSISDN, "raw": DataKind.RAW}
# A week: the `agent` series (written from them within seconds) survives a time-series
# writer outage that long; 1,000 agents touching once a second add ~86 M rows a day.
AGENT_SAMPLES_DAYS = 7.0


@dataclass(frozen=True, slots=True)
class KindPolicy:
    kind: DataKind
    action: Action
    after_days: float


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    kinds: tuple[KindPolicy, ...] = (
        KindPolicy(DataKind.AGENT_SAMPLES, Action.PURGE, AGENT_SAMPLES_DAYS),
    )
    run_every_s: float = 86400.0  # 0: only `smsprobe-collector retention run`
    reclaim: bool = True

    def minimisation(self, now_ns: int) -> Minimisation:
        return Minimisation(
            tuple(Cutoff(k.kind, k.action, now_ns - int(k.after_days * DAY_NS)) for k in self.kinds)
        )

    def describe(self) -> str:
        if not self.kinds:
            return "off (everything kept)"
        return ", ".join(f"{k.kind.value} {k.action.value} after {k.after_days:g} d"
                         for k in self.kinds)  # fmt: skip


def parse_retention(
    raw: Mapping[str, Any], *, file: str, dlr_window_s: float = 72 * 3600.0
) -> RetentionConfig:
    """An absent or empty section: everything kept. `dlr_window_s`: [probes]' window
    (verdicts can change until then), the shortest age allowed."""
    t = Table(raw, file=file, path="retention")
    run_every = t.get_duration("run_every_s", 86400.0, allow_zero=True)
    reclaim = t.get_bool("reclaim", True)
    min_days = math.ceil(dlr_window_s / 86400.0 * 1000) / 1000
    kinds = []
    for name, kind in _SECTIONS.items():
        k = t.get_table(name)
        if k is None:
            continue
        if kind is DataKind.RAW:
            action = Action(k.get_choice("action", ("purge",), "purge"))
        else:
            action = Action(k.get_choice("action", ("mask", "purge")))
        days = k.get_float(
            "after_days",
            above=min_days,
            max_value=3650.0,
            expected=f"a number of days > {min_days:g} (the DLR window: verdicts settle "
            "then) and <= 3650",
        )
        k.finish()
        kinds.append(KindPolicy(kind, action, days))
    samples = t.get_table("agent_samples")
    days = AGENT_SAMPLES_DAYS
    if samples is not None:
        samples.get_choice("action", ("purge",), "purge")
        days = samples.get_float(
            "after_days", above=0.0, max_value=3650.0,
            expected="a number of days > 0 and <= 3650",
        )  # fmt: skip
        samples.finish()
    kinds.append(KindPolicy(DataKind.AGENT_SAMPLES, Action.PURGE, days))
    t.finish()
    return RetentionConfig(kinds=tuple(kinds), run_every_s=run_every, reclaim=reclaim)
