"""`smsprobe-collector channels` and `smsprobe-collector advise`.

    smsprobe-collector channels --config collector.toml --since -24h [--vendor bolt] [--json]
    smsprobe-collector advise   --config collector.toml [--window 3600]

`channels`: the channels each vendor used per carrier (sender code, SMSC, PID, DCS,
latency regime), when they changed, every degradation episode and the switch-over time
per vendor × carrier (通道切换响应). `advise`: JSON, per carrier × profile, the vendor
delivering best now with its confidence. Both first bring the channel observations up to
date (idempotent). Exit codes: 0; 2 configuration error; 1 the ledger failed.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from agent.common.logs import configure_logging
from agent.common.units import NS
from collector.channels.advice import advise
from collector.channels.figures import channel_figures
from collector.channels.observe import ChannelObserver
from collector.ledger import LedgerError, open_ledger
from collector.reports.config import at_second
from collector.reports.judged import load_judged
from collector.reports.options import load_settings, parse_period


def _open(config_path: str) -> Any:
    config, reports = load_settings(config_path)
    try:
        ledger = open_ledger(config.ledger.url)
    except LedgerError as exc:
        raise click.ClickException(f"ledger: {exc}") from exc
    return ledger, reports


@click.command("channels")
@click.option("--config", "config_path", required=True,
              type=click.Path(exists=True, dir_okay=False))  # fmt: skip
@click.option("--since", default="-24h", show_default=True, help="ISO-8601 or -24h.")
@click.option("--until", default="now", show_default=True)
@click.option("--vendor", default=None, help="Only this vendor.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
def channels_command(
    config_path: str, since: str, until: str, vendor: str | None, as_json: bool
) -> None:
    """Channels per vendor × carrier, channel changes and switch-over times."""
    configure_logging("warning")
    ledger, reports = _open(config_path)
    since_ns, until_ns = parse_period(since, until, reports)
    try:
        ChannelObserver(ledger, time.time_ns).update()
        figures = channel_figures(ledger, since_ns=since_ns, until_ns=until_ns, vendor=vendor)
    except LedgerError as exc:
        raise click.ClickException(f"ledger: {exc}") from exc
    finally:
        ledger.close()
    if as_json:
        click.echo(json.dumps(figures, ensure_ascii=False, indent=2))
        return
    for line in channel_lines(figures, lambda ns: at_second(ns, reports.tz)):
        click.echo(line)


def channel_lines(figures: dict[str, Any], when: Any) -> list[str]:
    """The text form (also the report's Markdown section)."""
    out = ["channels (vendor carrier channel=sender/SMSC/PID arrivals p50 regime):"]
    for c in figures["channels"]:
        p50 = "—" if c["p50_latency_s"] is None else f"{c['p50_latency_s']:.1f} s"
        out.append(f"  {c['vendor']:8} {c['carrier']:13} {c['channel']:40} {c['arrivals']:4}"
                   f"  {p50:>8}  {c['regime']}")  # fmt: skip
    changes = [e for e in figures["changes"] if e["kind"] == "changed"]
    out.append(f"channel changes: {len(changes)}")
    for e in changes:
        out.append(f"  {when(e['at_ns'])}  {e['vendor']} {e['carrier']}: {e['from']} -> {e['to']}")
    for e in figures["changes"]:
        if e["kind"] == "unconfirmed":
            out.append(f"  {when(e['at_ns'])}  {e['vendor']} {e['carrier']}: {e['from']} -> "
                       f"{e['to']}? unconfirmed: not enough probes")  # fmt: skip
    out.append("switch-over per vendor × carrier (episodes, switched/same/not recovered, "
               "median and max s, failover median s):")  # fmt: skip
    for s in figures["switch_over"]:
        out.append(
            f"  {s['vendor']:8} {s['carrier']:13} {s['episodes']:3}  {s['switched']}/"
            f"{s['same_channel']}/{s['not_recovered']}  {s['median_switch_over_s']}"
            f"  {s['max_switch_over_s']}  {s['median_failover_s']}"
        )
    return out


@click.command("advise")
@click.option("--config", "config_path", required=True,
              type=click.Path(exists=True, dir_okay=False))  # fmt: skip
@click.option("--window", "window_s", type=click.FloatRange(60), default=3600.0,
              show_default=True, help="Seconds of probes the advice weighs.")  # fmt: skip
def advise_command(config_path: str, window_s: float) -> None:
    """Routing advice (JSON): per carrier × profile, who delivers best, how sure."""
    configure_logging("warning")
    ledger, _ = _open(config_path)
    now = time.time_ns()
    since = now - int(window_s * NS)
    try:
        _, _, judged = load_judged(ledger, since_ns=since, until_ns=now + 1)
    except LedgerError as exc:
        raise click.ClickException(f"ledger: {exc}") from exc
    finally:
        ledger.close()
    advice = advise(judged, since_ns=since, until_ns=now + 1)
    doc = {"generated_at_ns": now, "window_s": window_s, "advice": [a.to_dict() for a in advice]}
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
