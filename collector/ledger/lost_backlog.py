"""When a queued gap's backlog is given up for lost (pure; the SQL is in
collector/ledger/sql/gaps.py, the periodic pass in collector/lost_backlog.py).

A queued gap (GapSpan.queued) waits for the agent's backlog. An agent that never comes
back (host dead, disk gone) would leave it queued, unreported, for ever; so the backlog is
given up once the agent has been down longer than `[agents] backlog_grace_s`. Down means
what the agents view calls not `up` (AgentStatus.up): disconnected since its last
sighting, or connected but silent for longer than `[agents] offline_after_s`.
"""

from __future__ import annotations

from agent.common.units import NS

# Why a queued gap was reported: the words of its event's detail and its warning.
NOT_PENDING = "no longer pending in its outbox"
OUTBOX_RESTARTED = "its outbox restarted (seq reset at registration)"
AGENT_GONE = "the agent has been down longer than [agents] backlog_grace_s"


def down_since_ns(*, connected: bool, last_seen_ns: int, offline_after_s: float) -> int:
    """From when the agent counts as down (collector clock): its last sighting when its
    stream is gone, else the moment its silence passed `offline_after_s`."""
    return last_seen_ns + (int(offline_after_s * NS) if connected else 0)


def backlog_given_up(
    *,
    now_ns: int,
    connected: bool,
    last_seen_ns: int,
    offline_after_s: float,
    grace_s: float,
) -> bool:
    """True when the agent has been down for longer than `grace_s`: what it announced and
    never delivered is reported missing."""
    down = down_since_ns(
        connected=connected, last_seen_ns=last_seen_ns, offline_after_s=offline_after_s
    )
    return now_ns - down > int(grace_s * NS)
