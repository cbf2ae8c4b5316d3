"""Build the collector's vendors from the `[vendors.<name>]` tables of its config.

    [vendors.acme]        kind = "http"  -> HttpVendor (collector/vendors/config.py keys)
    [vendors.cmpp_gw]     kind = "smpp"  -> SmppVendor (keys below)

`parse_vendors` validates everything without touching the network (telegraf's "validate
config without I/O"); `build_vendors` turns the validated configs into adapters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.common.tomlconfig import ConfigError, Table, join_key
from collector.vendors.base import Clock, DlrPushEndpoint, RejectReason, SmsVendor, wall_clock_ns
from collector.vendors.cngw.config import (
    GATEWAY_KINDS,
    GatewayVendorConfig,
    build_gateway_vendor,
    parse_gateway_vendor,
)
from collector.vendors.config import HttpVendorConfig, parse_http_vendor
from collector.vendors.http import HttpVendor
from collector.vendors.smpp.adapter import SmppVendor, SmppVendorConfig
from collector.vendors.smpp.client import BindMode, SmppClientConfig
from collector.vendors.smpp.segment import Gsm7Wire, LongMessages

if TYPE_CHECKING:
    from collector.vendors.smpp.adapter import SmppVendorConfig

__all__ = ["VendorSet", "build_vendors", "parse_smpp_vendor", "parse_vendors"]

_NAME = re.compile(r"[a-z0-9_-]+")


def parse_smpp_vendor(
    name: str, data: object, path: str | None = None, *, file: str = ""
) -> SmppVendorConfig:
    """Validate one `[vendors.<name>]` table with `kind = "smpp"`."""

    t = Table(data, file=file, path=path if path is not None else f"vendors.{name}")
    t.get_choice("kind", ("smpp",))
    modes = {m.name.lower(): m for m in BindMode}
    mode_name = t.get_choice("bind_mode", tuple(modes), "transceiver")
    system_id, password = t.get_str("system_id"), t.get_str("password")
    system_type = t.get_str("system_type", "")
    # SMPP 3.4 §4.1 bind: C-Octet Strings of at most 16 / 9 / 13 octets with their NUL terminator
    for key, value, limit in (
        ("system_id", system_id, 15),
        ("password", password, 8),
        ("system_type", system_type, 12),
    ):
        if len(value.encode("latin-1", "replace")) > limit:
            raise t.error(key, f"at most {limit} characters (SMPP 3.4)", value)
    client = SmppClientConfig(
        host=t.get_str("host"),
        port=t.get_int("port", min_value=1),
        system_id=system_id,
        password=password,
        system_type=system_type,
        bind_mode=modes[mode_name],
        window=t.get_int("window", 10, min_value=1),
        response_timeout_s=t.get_float("response_timeout_s", 10.0, min_value=0.0),
        enquire_link_interval_s=t.get_float("enquire_link_interval_s", 30.0, min_value=0.0),
        connect_timeout_s=t.get_float("connect_timeout_s", 10.0, min_value=0.0),
    )
    reasons: dict[int, RejectReason] = {}
    for code, reason in t.get_str_map("reject_reasons").items():
        try:
            reasons[int(code, 0)] = RejectReason(reason)
        except ValueError:
            raise ConfigError(
                file,
                join_key(t.key_path("reject_reasons"), code),
                "0xNN = " + "|".join(r.value for r in RejectReason),
                reason,
            ) from None
    config = SmppVendorConfig(
        name=name,
        client=client,
        source_addr=t.get_str("source_addr", ""),
        source_addr_ton=t.get_int("source_addr_ton", 5, min_value=0),
        source_addr_npi=t.get_int("source_addr_npi", 0, min_value=0),
        dest_addr_ton=t.get_int("dest_addr_ton", 1, min_value=0),
        dest_addr_npi=t.get_int("dest_addr_npi", 1, min_value=0),
        service_type=t.get_str("service_type", ""),
        throttle_retry_after_s=t.get_float("throttle_retry_after_s", 15.0, min_value=0.0),
        receipt_utc_offset_min=t.get_int("receipt_utc_offset_min", 480, min_value=-840),
        reject_reasons=reasons,
        gsm7_wire=t.get_enum("gsm7_wire", Gsm7Wire, Gsm7Wire.UNPACKED),
        long_messages=t.get_enum("long_messages", LongMessages, LongMessages.UDH),
        bind_timeout_s=t.get_float("bind_timeout_s", 10.0, min_value=0.0),
    )
    t.finish()
    return config


def parse_vendors(
    section: Mapping[str, object], *, file: str = ""
) -> dict[str, HttpVendorConfig | SmppVendorConfig | GatewayVendorConfig]:
    """Validate the whole `[vendors]` section; errors carry the key path (and `file`)."""
    configs: dict[str, HttpVendorConfig | SmppVendorConfig | GatewayVendorConfig] = {}
    vendors = Table(section, file=file, path="vendors")
    for name in vendors.key_names():
        path = vendors.key_path(name)
        if not _NAME.fullmatch(name):
            raise ConfigError(
                file, path, "a vendor name of a-z 0-9 _ - (it becomes a URL path)", name
            )
        table = vendors.get_value(name)
        if not isinstance(table, Mapping):
            raise vendors.error(name, "a table", table)
        kind = table.get("kind", "http")
        if kind == "http":
            configs[name] = parse_http_vendor(name, table, path, file=file)
        elif kind == "smpp":
            configs[name] = parse_smpp_vendor(name, table, path, file=file)
        elif kind in GATEWAY_KINDS:
            configs[name] = parse_gateway_vendor(name, table, path, file=file)
        else:
            kinds = '"http", "smpp", "cmpp", "sgip" or "smgp"'
            raise ConfigError(file, join_key(path, "kind"), kinds, kind)
    return configs


@dataclass(frozen=True, slots=True)
class VendorSet:
    vendors: Mapping[str, SmsVendor]
    push_endpoints: tuple[DlrPushEndpoint, ...]  # mount these on the DlrWebhookServer


def build_vendors(
    section: Mapping[str, object], *, clock: Clock = wall_clock_ns, file: str = ""
) -> VendorSet:
    vendors: dict[str, SmsVendor] = {}
    endpoints: list[DlrPushEndpoint] = []
    for name, config in parse_vendors(section, file=file).items():
        if isinstance(config, HttpVendorConfig):
            http = HttpVendor(config, clock=clock)
            vendors[name] = http
            if http.accepts_push:
                endpoints.append(http)
        elif isinstance(config, GatewayVendorConfig):
            vendors[name] = build_gateway_vendor(config, clock=clock)
        else:
            vendors[name] = SmppVendor(config, clock=clock)
    return VendorSet(vendors=vendors, push_endpoints=tuple(endpoints))
