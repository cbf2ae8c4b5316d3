"""Who the agent says it is when it registers (Register). The values it exchanges with the
collector are in agent/wire/records.py."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    agent_id: str
    software_version: str = ""
    capabilities: tuple[str, ...] = ("sms-receive", "status-report")
    site: str = ""
    region: str = ""
