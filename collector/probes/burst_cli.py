"""`smsprobe-collector burst`: queue a one-off stress burst for the running collector.

    smsprobe-collector burst --config collector.toml --vendor bolt --count 50 --within 60s \\
        [--at "weekday 20:00"] --budget 2.0 [--profile verification_code] [--name bolt_peak]

It sends nothing itself: a second process sending probes would not receive their DLRs
(the vendors' binds and webhooks are the collector's) and would break the probing lease's
rule of one sender. The request goes into the ledger; the scheduler of the collector holding
the probing lease (docs/scale-out.md) fires it at --at (collector/probes/burst_requests.py)
and `report` shows its figures. `--list` shows every request and its state.

Exit codes: 0 queued (or listed); 2 usage or configuration error (unknown vendor or
profile, a bad --at, a start in the past, a budget that buys no probe, a name taken);
1 the ledger failed.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import click

from agent.common.logs import configure_logging
from agent.common.tomlconfig import ConfigError
from agent.common.units import NS
from collector.ledger import LedgerError, open_ledger
from collector.ledger.leases import PROBING
from collector.ledger.periods import BurstRequest
from collector.probes.burst_requests import LATE_AFTER_S, POLL_S
from collector.probes.bursts import BURST_PREFIX, check_at, next_start
from collector.probes.config import ProbesConfig, parse_probes
from collector.probes.service import billed_parts
from collector.reports.options import load_settings

_WITHIN = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>[smh]?)$")
_NAME = re.compile(r"^[A-Za-z0-9_]{1,40}$")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


def _within_s(text: str) -> float:
    m = _WITHIN.match(text.strip())
    if m is None:
        raise click.BadParameter(
            f"expected seconds or a number with s/m/h (60, 60s, 5m), got {text!r}",
            param_hint="--within",
        )
    return float(m["n"]) * _UNIT_S[m["unit"]]


def _local(at_ns: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(at_ns / NS, tz).isoformat(timespec="seconds")


def _probes(config_path: str) -> tuple[str, str, ProbesConfig]:
    config, _ = load_settings(config_path)  # exit 2 on a bad file
    try:
        probes = parse_probes(
            config.raw_section("probes"), file=config.source, vendor_names=set(config.vendors)
        )
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from exc
    if probes is None:
        click.echo(f"error: {config.source}: [probes]: expected a [probes] section "
                   "(bursts are sent by the collector's scheduler)", err=True)  # fmt: skip
        raise SystemExit(2)
    return config.ledger.url, config.source, probes


def _usage(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(2)


@click.command("burst")
@click.option("--config", "config_path", required=True,
              type=click.Path(exists=True, dir_okay=False))  # fmt: skip
@click.option("--vendor", default=None, help="A vendor of [probes.vendors].")
@click.option("--count", type=click.IntRange(1, 100_000), default=None, help="Probes to send.")
@click.option("--within", "within", default=None, help="Spread over: 60, 60s, 5m, 1h.")
@click.option("--at", "at", default="+0s", show_default=True,
              help='"HH:MM" (next), "weekday HH:MM", an ISO time, or "+30s"/"+5m" from now; '
                   "local times in the [probes] zone.")  # fmt: skip
@click.option("--budget", type=click.FloatRange(min=0.0), default=None,
              help="Money for the whole burst; never exceeded.")  # fmt: skip
@click.option("--profile", default="verification_code", show_default=True)
@click.option("--max-attempts", type=click.IntRange(1, 10), default=1, show_default=True,
              help="1: a throttled submit is measured as refused, not retried.")  # fmt: skip
@click.option("--name", default=None, help="Burst name (letters, digits, _); default cli_<random>.")
@click.option("--list", "list_", is_flag=True, help="List the queued bursts and their state.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def burst_command(
    config_path: str,
    vendor: str | None,
    count: int | None,
    within: str | None,
    at: str,
    budget: float | None,
    profile: str,
    max_attempts: int,
    name: str | None,
    list_: bool,
    as_json: bool,
) -> None:
    """Queue a budget-capped stress burst (N probes through one vendor within T, at a chosen
    time) for the running collector holding the probing lease; print where its figures go."""
    configure_logging("warning")
    url, source, probes = _probes(config_path)
    tz = probes.periods.tz
    if list_:
        _list(url, tz, as_json)
        return
    missing = [f"--{k}" for k, v in (("vendor", vendor), ("count", count), ("within", within),
                                      ("budget", budget)) if v is None]  # fmt: skip
    if missing:
        _usage(f"missing {', '.join(missing)} (or --list)")
    assert vendor is not None and count is not None and within is not None and budget is not None
    plans = {p.name: p for p in probes.plans}
    plan = plans.get(vendor)
    if plan is None:
        _usage(f"{source}: [probes.vendors]: no vendor {vendor!r} "
               f"(probed: {', '.join(sorted(plans)) or 'none'})")  # fmt: skip
    assert plan is not None
    if profile not in plan.profiles:
        _usage(f"--profile: {vendor} sends {', '.join(plan.profiles)}, not {profile!r}")
    within_s = _within_s(within)
    problem = check_at(at)
    if problem:
        raise click.BadParameter(f"expected {problem}, got {at!r}", param_hint="--at")
    now = time.time_ns()
    try:
        at_ns = next_start(at, now, started_ns=now, tz=tz)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from exc
    if at_ns < now - NS:  # an ISO time already gone ("HH:MM" forms roll to the next day)
        _usage(f"--at: {at!r} is in the past ({_local(at_ns, tz)}, now {_local(now, tz)})")
    at_ns = max(at_ns, now)
    cost = billed_parts(profile, plan.signature) * plan.price_per_part
    affordable = count if cost <= 0 else min(count, int(budget / cost + 1e-9))
    if affordable == 0:
        _usage(f"--budget: {budget} buys no probe ({vendor} {profile} costs {cost:g} each)")
    if name is not None and not _NAME.match(name):
        raise click.BadParameter("1-40 letters, digits or _", param_hint="--name")
    name = name or f"cli_{secrets.token_hex(4)}"
    request = BurstRequest(
        name=name, vendor=vendor, profile=profile, count=count, within_s=within_s, at_ns=at_ns,
        budget=budget, max_attempts=max_attempts, requested_at_ns=now,
        requested_by=_whoami(),
    )  # fmt: skip
    try:
        ledger = open_ledger(url)
    except LedgerError as exc:
        raise click.ClickException(f"ledger: {exc}") from exc
    try:
        if not ledger.request_burst(request):
            _usage(f"--name: a burst named {name!r} is already queued (see --list)")
        holder = next((lease for lease in ledger.leases() if lease.name == PROBING), None)
        ledger_now = ledger.ledger_now_ns()
    except LedgerError as exc:
        raise click.ClickException(f"ledger: {exc}") from exc
    finally:
        ledger.close()
    live = holder is not None and holder.expires_at_ns > ledger_now
    until_ns = at_ns + int((within_s + probes.policy.give_up_s + 60) * NS)
    doc: dict[str, Any] = {
        "burst": name,
        "vendor": vendor,
        "profile": profile,
        "count": count,
        "affordable": affordable,
        "cost_per_probe": cost,
        "within_s": within_s,
        "at": _local(at_ns, tz),
        "budget": budget,
        "sender": holder.holder if live and holder is not None else None,
        "probe_ids": f"{BURST_PREFIX}{name}-<start second>-NNNNN",
        "report": {
            "since": _local(at_ns, tz),
            "until": _local(until_ns, tz),
            "section": "Periods and bursts",
            "json_key": "bursts",
            "burst_key": f"{name}-<start second>",
        },
    }
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    click.echo(
        f"queued burst {name}: {count} {profile} probes through {vendor} within {within_s:g} s "
        f"from {doc['at']} ({probes.periods.timezone}), budget {budget:g}"
        + ("" if affordable == count else f" (buys {affordable} at {cost:g} each)")
    )
    if live and holder is not None:
        click.echo(f"sent by collector {holder.holder} (probing lease #{holder.token}); it picks "
                   f"up due bursts every {POLL_S:g} s")  # fmt: skip
    else:
        click.echo(f"warning: no collector holds the probing lease now; the burst waits for one "
                   f"and expires if none starts it within {LATE_AFTER_S:g} s of its time",
                   err=True)  # fmt: skip
    click.echo(
        f"figures: smsprobe-collector report --config {config_path} --since {doc['at']} "
        f"--until {doc['report']['until']} (section 'Periods and bursts', burst "
        f"{name}-<start second>; probe ids {doc['probe_ids']}); "
        f"state: smsprobe-collector burst --config {config_path} --list"
    )


def _whoami() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"{user}@{socket.gethostname()}"


def _list(url: str, tz: ZoneInfo, as_json: bool) -> None:
    try:
        ledger = open_ledger(url)
    except LedgerError as exc:
        raise click.ClickException(f"ledger: {exc}") from exc
    try:
        requests = ledger.burst_requests()
    except LedgerError as exc:
        raise click.ClickException(f"ledger: {exc}") from exc
    finally:
        ledger.close()
    rows = [
        {"burst": r.name, "vendor": r.vendor, "profile": r.profile, "count": r.count,
         "within_s": r.within_s, "at": _local(r.at_ns, tz), "budget": r.budget,
         "state": r.state.value, "sent": r.sent, "started_by": r.started_by,
         "started_at": _local(r.started_at_ns, tz) if r.started_at_ns else None,
         "requested_by": r.requested_by, "note": r.note}
        for r in requests
    ]  # fmt: skip
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no bursts queued")
    for row in rows:
        click.echo(
            f"{row['burst']}: {row['state']}, {row['vendor']} {row['count']} within "
            f"{row['within_s']:g} s at {row['at']}, sent {row['sent']}"
            + (f" by {row['started_by']}" if row["started_by"] else "")
            + (f" ({row['note']})" if row["note"] else "")
        )
