"""The collector's self-metrics for Prometheus (agent link). One registry per process,
created at the edge (collector/app.py) and handed to the servicer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from collector.channels.advice import Advice
from collector.health.board import UnitState, UnitStatus


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.batches = Counter(
            "smsprobe_collector_batches",
            "Upload batches committed and acked.",
            ["agent"],
            registry=r,
        )
        self.records_ingested = Counter(
            "smsprobe_collector_records_ingested", "New records committed.", ["agent"], registry=r
        )
        self.records_duplicate = Counter(
            "smsprobe_collector_records_duplicate",
            "Replayed records already in the ledger.",
            ["agent"],
            registry=r,
        )
        self.records_quarantined = Counter(
            "smsprobe_collector_records_quarantined",
            "Invalid records stored in quarantine (acked).",
            ["agent"],
            registry=r,
        )
        self.ingest_seconds = Histogram(
            "smsprobe_collector_ingest_seconds",
            "Time to commit one batch to the ledger.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.rpc_errors = Counter(
            "smsprobe_collector_rpc_errors",
            "RPCs ended with an error, by method and status code.",
            ["method", "code"],
            registry=r,
        )
        self.upload_streams = Gauge(
            "smsprobe_collector_upload_streams", "Open upload streams.", registry=r
        )
        self.agents_connected = Gauge(
            "smsprobe_collector_agents_connected",
            "Agents with at least one open stream.",
            registry=r,
        )
        self.agent_outbox_depth = Gauge(
            "smsprobe_collector_agent_outbox_depth",
            "Records waiting on the agent, as reported with its latest batch.",
            ["agent"],
            registry=r,
        )
        self.agent_upload_lag_seconds = Gauge(
            "smsprobe_collector_agent_upload_lag_seconds",
            "Collector time minus persisted_at of the agent's oldest pending record.",
            ["agent"],
            registry=r,
        )
        self.agent_clock_offset_ms = Gauge(
            "smsprobe_collector_agent_clock_offset_ms",
            "The agent's latest clock offset estimate (collector minus agent).",
            ["agent"],
            registry=r,
        )
        self.config_pushes = Counter(
            "smsprobe_collector_config_pushes", "AgentConfig messages sent.", ["agent"], registry=r
        )
        # The collector's own health (collector/health): which units run, since when.
        self.unit_up = Gauge(
            "smsprobe_collector_unit_up",
            "1 while a supervised unit (vendor:<name>, service:<name>) runs, else 0.",
            ["unit"],
            registry=r,
        )
        self.unit_state_since = Gauge(
            "smsprobe_collector_unit_state_since_seconds",
            "Unix time the unit entered its current state.",
            ["unit"],
            registry=r,
        )
        self.unit_failures = Gauge(
            "smsprobe_collector_unit_failures",
            "Consecutive failures of the unit (0 once it runs again).",
            ["unit"],
            registry=r,
        )
        self.unit_restarts = Gauge(
            "smsprobe_collector_unit_restarts",
            "Restarts of the unit since the collector started.",
            ["unit"],
            registry=r,
        )
        self.routing_advice = Gauge(
            "smsprobe_collector_routing_advice_confidence",
            "The vendor advised per carrier and profile, with the confidence that it delivers"
            " on time more often than the runner-up (NaN: the only candidate).",
            ["carrier", "profile", "vendor"],
            registry=r,
        )
        self.vendor_measured = Gauge(
            "smsprobe_collector_vendor_measured",
            "1 while the vendor is being probed and judged; 0 is a not-measured span.",
            ["vendor"],
            registry=r,
        )

    def show_advice(self, advice: Iterable[Advice]) -> None:
        """The routing advice (collector/channels/advice.py): one series per carrier ×
        profile, labelled with the advised vendor; the old vendor's series goes away."""
        self.routing_advice.clear()
        for a in advice:
            confidence = a.confidence if a.confidence is not None else float("nan")
            self.routing_advice.labels(a.carrier, a.profile, a.vendor).set(confidence)

    def show_health(self, units: Iterable[UnitStatus], measured: Mapping[str, bool]) -> None:
        for u in units:
            self.unit_up.labels(u.name).set(int(u.state is UnitState.RUNNING))
            self.unit_state_since.labels(u.name).set(u.since_ns / 1e9)
            self.unit_failures.labels(u.name).set(u.failures)
            self.unit_restarts.labels(u.name).set(u.restarts)
        for vendor, ok in measured.items():
            self.vendor_measured.labels(vendor).set(int(ok))
