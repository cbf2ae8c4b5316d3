"""The collector's self-metrics for Prometheus (agent link). One registry per process,
created at the edge (collector/app.py) and handed to the servicer."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


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


def serve_metrics(metrics: CollectorMetrics, listen: str) -> int:
    """Serve /metrics on `host:port` (port 0 = pick one). Returns the bound port."""
    host, _, port = listen.rpartition(":")
    server, _thread = start_http_server(
        int(port), addr=host.strip("[]") or "0.0.0.0", registry=metrics.registry
    )
    return int(server.server_port)
