"""The config files of one demo run, filled from the TOML templates in templates/.

Substitution is explicit: `${name}` placeholders (string.Template), every placeholder must
be given and nothing else, so a template and its caller cannot drift apart silently.
Values are inserted as they are; the templates quote them where TOML needs quotes.
"""

from __future__ import annotations

import json
import string
import tomllib
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

from collector.demo.world import (
    ACME_TEMPLATES,
    AGENTS,
    GATE_SECRET,
    GATE_SP,
    GATE_SRC_ID,
    SIGNATURE,
    DemoModem,
    reserve_pool,
)
from collector.probes.content import PROFILES

EXAMPLE_VENDORS = files("collector.vendors").joinpath("example_vendors.toml")


def fill(template: str, **values: object) -> str:
    """templates/TEMPLATE with its `${name}` placeholders replaced by values."""
    text = files("collector.demo.templates").joinpath(template).read_text(encoding="utf-8")
    tpl = string.Template(text)
    wanted = set(tpl.get_identifiers())
    if wanted != values.keys():
        raise ValueError(
            f"templates/{template}: placeholders {sorted(wanted)}, values for {sorted(values)}"
        )
    return tpl.substitute({k: str(v) for k, v in values.items()})


def toml_value(value: object) -> str:
    """A TOML inline value (strings as JSON strings, which TOML basic strings accept)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + ", ".join(pairs) + " }"
    raise TypeError(f"no TOML for {type(value).__name__}")


def _keys(table: dict[str, object]) -> str:
    return "\n".join(f"{key} = {toml_value(value)}" for key, value in table.items())


def fleet_toml(modems: list[DemoModem], sims: Path, control_port: int, seed: int) -> str:
    """The modem simulator's fleet file."""
    blocks = "".join(
        fill("fleet_modem.toml", name=m.name, profile=m.profile, link=sims / m.name,
             msisdn=m.msisdn, imsi=m.imsi, iccid=m.iccid, imei=m.imei, operator=m.operator)
        for m in modems
    )  # fmt: skip
    return fill(
        "fleet.toml",
        control_port=control_port,
        transcript=sims / "at-transcript.log",
        seed=seed,
        modems=blocks,
    )


def trouble_tables() -> dict[str, dict[str, object]]:
    """`--trouble`: per vendor, the scenario keys that make it misbehave (trouble.toml)."""
    text = files("collector.demo.templates").joinpath("trouble.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def scenario_toml(
    modems: list[DemoModem],
    webhook_port: int,
    seed: int,
    hour: int,
    *,
    trouble: bool = False,
    timezone: str = "Asia/Shanghai",
) -> str:
    """The vendor simulator's scenario: the demo's four vendors, bolt's peak from `hour`
    to 22:00 in `timezone` (the collector's zone, so it is the report's evening_peak)."""
    extra = trouble_tables() if trouble else {}
    acme_templates = ", ".join(
        f'{code} = "{PROFILES[profile].template.replace("{token}", "${token}")}"'
        for _, code, profile in ACME_TEMPLATES
    )
    subscribers = "".join(
        fill("scenario_subscriber.toml", msisdn=m.msisdn, modem=m.name) for m in modems
    )
    return fill(
        "scenario.toml",
        seed=seed,
        hook=f"http://127.0.0.1:{webhook_port}/dlr",
        acme_templates=acme_templates,
        acme_trouble=_keys(extra.get("acme", {})),
        cheap_trouble=_keys(extra.get("cheap", {})),
        bolt_trouble=_keys(extra.get("bolt", {})),
        rules=fill("scenario_rules.toml", signature=SIGNATURE).rstrip("\n"),
        peak_start_h=hour,
        peak_end_h=22 if hour < 22 else (hour + 2) % 24,
        timezone=timezone,
        subscribers=subscribers,
        gate_sp=GATE_SP,
        gate_secret=GATE_SECRET,
    )


def evening_zone(now: datetime, hour: int = 19) -> str:
    """A fixed-offset zone (Etc/GMT±N) in which `now` falls in local `hour`: the demo runs
    whenever it is started, yet shows the evening peak — the collector's bands, the report
    and the simulator's peak all use this one stated zone."""
    offset = (hour - now.astimezone(UTC).hour) % 24
    offset = offset - 24 if offset > 14 else offset  # Etc zones span UTC-12..UTC+14
    return "Etc/UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def http_vendor_toml(name: str, port: int) -> str:
    """The [vendors.NAME] table for one of the simulator's 253-style HTTP aggregators."""
    return fill("http_vendor.toml", name=name, port=port)


def aliyun_vendor_toml(name: str, port: int) -> str:
    """The [vendors.NAME] table for the simulator's Alibaba Cloud SMS API: the shipped example
    (collector/vendors/example_vendors.toml) with the simulator's address, keys and acme's
    template codes."""
    table = tomllib.loads(EXAMPLE_VENDORS.read_text(encoding="utf-8"))["vendors"]["aliyun"]
    table["base_url"] = f"http://127.0.0.1:{port}"
    table["auth"].update(key_id=name, secret=f"{name}-secret")
    table["templates"] = {profile: code for profile, code, _ in ACME_TEMPLATES}
    # Alibaba signs no receipt push: the simulator pushes from loopback, nothing else may.
    table["dlr_push"]["allow_from"] = ["127.0.0.1/32", "::1/128"]
    return f"[vendors.{name}]\n{_keys(table)}\n"


def collector_toml(
    out: Path,
    grpc_port: int,
    webhook_port: int,
    ports: dict[str, int],
    duration_s: float,
    seed: int,
    timezone: str = "Asia/Shanghai",
) -> str:
    """The collector's config: the demo's four vendors, probing for `duration_s`, with the
    buyer's templates and SIM rotation over the world's reserve pool."""
    return fill(
        "collector.toml",
        grpc_port=grpc_port,
        pki=out / "pki",
        ledger=out / "ledger.db",
        acme_vendor=aliyun_vendor_toml("acme", ports["acme"]),
        cheap_vendor=http_vendor_toml("cheap", ports["cheap"]),
        bolt_port=ports["bolt"],
        gate_port=ports["gate"],
        gate_sp=GATE_SP,
        gate_secret=GATE_SECRET,
        gate_src_id=GATE_SRC_ID,
        reserve_pool=_keys(dict(reserve_pool())),
        seed=seed,
        webhook_port=webhook_port,
        send_for_s=duration_s,
        signature=SIGNATURE,
        timezone=timezone,
    )


def timeseries_toml(url: str, api: str, bucket: str, org: str, token: str) -> str:
    """The [timeseries] section for `--influx-url` (InfluxDB 1.x or 2.x API)."""
    if api == "v1":
        return fill("timeseries_v1.toml", url=url, bucket=bucket)
    return fill("timeseries_v2.toml", url=url, bucket=bucket, org=org, token=token)


def agent_toml(out: Path, agent: str, modems: list[DemoModem], grpc_port: int) -> str:
    """The config of one demo agent with its modems."""
    site, region = AGENTS[agent]
    blocks = "".join(
        fill("agent_modem.toml", port=out / "sims" / m.name, profile=m.profile, imei=m.imei)
        for m in modems
        if m.agent == agent
    )
    return fill(
        "agent.toml",
        agent=agent,
        site=site,
        region=region,
        outbox=out / agent / "outbox.sqlite",
        grpc_port=grpc_port,
        pki=out / "pki",
        modems=blocks,
    )
