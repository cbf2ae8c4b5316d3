"""`smsprobe-collector`: thin edge; each subcommand lives with its domain."""

from __future__ import annotations

import click

from agent.common.lazy_cli import LazyGroup


@click.group(
    cls=LazyGroup,
    lazy={
        "serve": (
            "collector.app_cli:serve_command",
            "Run the collector: gRPC ingest, probes, verdicts, time series.",
        ),
        "config": (
            "collector.validation_cli:config_group",
            "Check a config file as `serve` would, without starting anything.",
        ),
        "status": (
            "collector.health.cli:status_command",
            "Collector health: vendors probed, services running, since when.",
        ),
        "agents": (
            "collector.agents_cli:agents_command",
            "Every agent and modem: last seen, health, clock, outbox lag.",
        ),
        "certs": (
            "collector.certs_cli:certs_group",
            "Make the CA, the collector's keys and agent certificates.",
        ),
        "sim-vendor": (
            "collector.vendors.simulator.cli:vendor_simulator_command",
            "Run simulated SMS vendors and carrier network.",
        ),
        "demo": (
            "collector.demo.cli:demo_command",
            "The whole system on simulated vendors and modems.",
        ),
        "timeseries": (
            "collector.timeseries.cli:timeseries_group",
            "Time series in InfluxDB: backfill from the ledger.",
        ),
        "report": (
            "collector.reports.cli:report_command",
            "SLA report for a period (html, json, csv, md).",
        ),
        "cost": (
            "collector.billing.cli:cost_command",
            "Per vendor: each billing model's charge, the vendor's bill, the over-charge.",
        ),
        "invoice": (
            "collector.billing.cli:invoice_group",
            "Import a vendor's invoice or CDR file (CSV) to check its bill.",
        ),
        "channels": (
            "collector.channels.cli:channels_command",
            "Vendor channels, channel changes and switch-over times.",
        ),
        "advise": (
            "collector.channels.cli:advise_command",
            "Routing advice (JSON): best vendor per carrier and profile.",
        ),
        "burst": (
            "collector.probes.burst_cli:burst_command",
            "Queue a budget-capped stress burst for the running collector to send.",
        ),
        "evidence": (
            "collector.evidence.cli:evidence_group",
            "Export and verify signed evidence bundles.",
        ),
        "rollups": (
            "collector.rollups_cli:rollups_group",
            "Hourly rollups the reports read: check against the raw rows, rebuild.",
        ),
        "retention": (
            "collector.retention.cli:retention_group",
            "Mask and purge texts, MSISDNs and raw bytes by age ([retention]).",
        ),
        "alerts": (
            "collector.alerts.cli:alerts_group",
            "Alert history: list with filters, show one with every delivery attempt.",
        ),
        "audit": (
            "collector.audit.cli:audit_command",
            "Operator actions: exports, reloads, revocations, retention runs, certificates.",
        ),
    },
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="smsprobe")
def main() -> None:
    """smsprobe collector: sends probes, ingests agent reports, judges every probe."""


if __name__ == "__main__":
    main()
