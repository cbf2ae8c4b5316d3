"""Shared fixtures for the agent link: real certificates made by collector/certs.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from collector.certs import AgentCertPaths, CaPaths, create_ca, issue_agent


@dataclass(frozen=True)
class Pki:
    ca: CaPaths
    agents: dict[str, AgentCertPaths]
    other_ca: CaPaths  # a CA the collector does not trust
    rogue: AgentCertPaths  # "agent-a" issued by the other CA


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root: Path = tmp_path_factory.mktemp("pki")
    ca = create_ca(root / "ca")
    agents = {a: issue_agent(root / "ca", a) for a in ("agent-a", "agent-b", "agent-c", "agent-r")}
    other = create_ca(root / "other")
    rogue = issue_agent(root / "other", "agent-a")
    return Pki(ca=ca, agents=agents, other_ca=other, rogue=rogue)
