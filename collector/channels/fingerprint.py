"""The channel a message took, as the handset sees it. Pure.

An aggregator reaches a carrier over several channels (通道); each shows in the SMS that
arrives: the sender code (TP-OA: the 106 number and the extension the channel appends,
e.g. 10690202…), the SMSC address the PDU carries (TS 23.040 §9.2.1, the SC address of
the delivering SMSC), and the channel's TP-PID habit (§9.2.3.9). Those three identify a
channel — but the SMSC also follows the receiving SIM's network (an MVNO or ported line
is served by its host network's SMSC), so within one carrier group it varies by SIM with
no change of channel: a *change* of channel is a new sender code or PID (`route`), and the
SMSCs are shown beside it. TP-DCS (TS 23.038 §4) follows the text (UCS2 for Chinese), so
it is kept and shown but not part of the identity; latency is a property of a channel (its regime),
never its identity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from collector.stats import percentile

# A channel's latency regime by the median of its arrivals (seconds).
REGIMES = ((10.0, "fast"), (60.0, "slow"))
VERY_SLOW = "very_slow"


@dataclass(frozen=True, slots=True, order=True)
class Fingerprint:
    sender: str
    smsc: str
    pid: int = 0

    @property
    def key(self) -> str:
        """One printable name: sender/SMSC/PID (`10690303/+8613800100511/0`)."""
        return f"{self.sender}/{self.smsc or '-'}/{self.pid}"

    @property
    def route(self) -> str:
        """What a change of channel changes: sender/PID (`10690303/0`)."""
        return f"{self.sender}/{self.pid}"

    @classmethod
    def parse(cls, key: str) -> Fingerprint:
        sender, smsc, pid = key.rsplit("/", 2)
        return cls(sender, "" if smsc == "-" else smsc, int(pid))


def regime(latencies: Sequence[float]) -> str:
    """fast / slow / very_slow by the median latency; "" with no latency known."""
    median = percentile(latencies, 50)
    if median is None:
        return ""
    return next((name for bound, name in REGIMES if median < bound), VERY_SLOW)
