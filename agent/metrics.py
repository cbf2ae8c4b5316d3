"""The agent's self-metrics for Prometheus. One registry per process (no module-level
state): the app creates `AgentMetrics()`, hands it to the uplink and serves its registry
with `agent.common.metrics_http.serve_metrics`. Names follow Prometheus conventions (base
units, `_total` counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

GRPC_OK = "OK"


class AgentMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.outbox_depth = Gauge(
            "smsprobe_agent_outbox_depth", "Records persisted but not yet acked.", registry=r
        )
        self.outbox_oldest_age_seconds = Gauge(
            "smsprobe_agent_outbox_oldest_age_seconds",
            "Age of the oldest record not yet acked (0 when none).",
            registry=r,
        )
        self.outbox_unwritable = Gauge(
            "smsprobe_agent_outbox_unwritable",
            "1 while the outbox cannot be written (disk full, read-only, I/O error):"
            " nothing is read off the SIMs until it can.",
            registry=r,
        )
        self.tasks_restarted = Counter(
            "smsprobe_agent_tasks_restarted",
            "Agent tasks (modem supervisors, uplink, housekeeping, canaries) restarted"
            " after a failure.",
            ["task"],
            registry=r,
        )
        self.upload_lag_seconds = Gauge(
            "smsprobe_agent_upload_lag_seconds",
            "Persist-to-ack time of the oldest record in the latest acked batch.",
            registry=r,
        )
        self.records_sent = Counter(
            "smsprobe_agent_records_sent", "Records written to the upload stream.", registry=r
        )
        self.records_acked = Counter(
            "smsprobe_agent_records_acked", "Records the collector acked.", registry=r
        )
        self.records_ingested = Counter(
            "smsprobe_agent_records_ingested",
            "Acked records the collector reported as newly committed.",
            registry=r,
        )
        self.records_duplicate = Counter(
            "smsprobe_agent_records_duplicate",
            "Acked records the collector already had (replays).",
            registry=r,
        )
        self.records_quarantined = Counter(
            "smsprobe_agent_records_quarantined",
            "Acked records the collector quarantined as invalid.",
            registry=r,
        )
        self.batches_in_flight = Gauge(
            "smsprobe_agent_batches_in_flight", "Batches sent and not yet acked.", registry=r
        )
        self.reconnects = Counter(
            "smsprobe_agent_reconnects", "Upload sessions that ended and were retried.", registry=r
        )
        self.connected = Gauge(
            "smsprobe_agent_connected", "1 while an upload session is registered.", registry=r
        )
        self.collector_connected = Gauge(
            "smsprobe_agent_collector_connected",
            "1 for the collector address the upload session is registered with, 0 for the"
            " other configured ones.",
            ["address"],
            registry=r,
        )
        self.grpc_errors = Counter(
            "smsprobe_agent_grpc_errors",
            "Failed gRPC calls by method and status code.",
            ["method", "code"],
            registry=r,
        )
        self.modems_up = Gauge(
            "smsprobe_agent_modems_up", "Modems answering AT (latest health).", registry=r
        )
        self.modems_healthy = Gauge(
            "smsprobe_agent_modems_healthy",
            "Modems judged able to receive SMS (latest health).",
            registry=r,
        )
        self.clock_offset_ms = Gauge(
            "smsprobe_agent_clock_offset_ms",
            "Estimated collector clock minus agent clock.",
            registry=r,
        )
        self.clock_uncertainty_ms = Gauge(
            "smsprobe_agent_clock_uncertainty_ms",
            "Bound on the clock offset error (half RTT plus drift).",
            registry=r,
        )
        self.config_version = Gauge(
            "smsprobe_agent_config_version",
            "Version of the config pushed by the collector.",
            registry=r,
        )
