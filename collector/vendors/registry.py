"""Build the collector's vendors from the `[vendors.<name>]` tables of its config.

    [vendors.acme]        kind = "http"  -> HttpVendor (collector/vendors/config.py keys)
    [vendors.cmpp_gw]     kind = "smpp"  -> SmppVendor (keys below)

`parse_vendors` validates everything without touching the network (telegraf's "validate
config without I/O"); `build_vendors` turns the validated configs into adapters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from collector.configlib import describe
from collector.vendors.base import Clock, DlrPushEndpoint, RejectReason, SmsVendor, wall_clock_ns
from collector.vendors.config import (
    HttpVendorConfig,
    StrictTable,
    VendorConfigError,
    parse_http_vendor,
)
from collector.vendors.http import HttpVendor
from collector.vendors.smpp.adapter import SmppVendor, SmppVendorConfig
from collector.vendors.smpp.client import BindMode, SmppClientConfig
from collector.vendors.smpp.segment import Gsm7Wire, LongMessages

if TYPE_CHECKING:
    from collector.vendors.smpp.adapter import SmppVendorConfig

__all__ = ["VendorSet", "build_vendors", "parse_smpp_vendor", "parse_vendors"]

_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


def parse_smpp_vendor(name: str, data: object, path: str | None = None) -> SmppVendorConfig:
    """Validate one `[vendors.<name>]` table with `kind = "smpp"`."""

    t = StrictTable(data, path if path is not None else f"vendors.{name}")
    t.string("kind")
    modes = {m.name.lower(): m for m in BindMode}
    mode_name = t.string("bind_mode", "transceiver")
    if mode_name not in modes:
        raise VendorConfigError(f"{t.path}.bind_mode", f"expected one of {', '.join(modes)}")
    system_id, password = t.string("system_id"), t.string("password")
    system_type = t.string("system_type", "")
    # SMPP 3.4 §4.1 bind: C-Octet Strings of at most 16 / 9 / 13 octets with their NUL terminator
    for key, value, limit in (
        ("system_id", system_id, 15),
        ("password", password, 8),
        ("system_type", system_type, 12),
    ):
        if len(value.encode("latin-1", "replace")) > limit:
            raise VendorConfigError(f"{t.path}.{key}", f"at most {limit} characters (SMPP 3.4)")
    client = SmppClientConfig(
        host=t.string("host"),
        port=t.integer("port", min_value=1),
        system_id=system_id,
        password=password,
        system_type=system_type,
        bind_mode=modes[mode_name],
        window=t.integer("window", 10, min_value=1),
        response_timeout_s=t.number("response_timeout_s", 10.0),
        enquire_link_interval_s=t.number("enquire_link_interval_s", 30.0),
        connect_timeout_s=t.number("connect_timeout_s", 10.0),
    )
    reasons: dict[int, RejectReason] = {}
    for code, reason in t.str_map("reject_reasons").items():
        try:
            reasons[int(code, 0)] = RejectReason(reason)
        except ValueError:
            raise VendorConfigError(
                f"{t.path}.reject_reasons.{code}", "expected 0xNN = template|signature|..."
            ) from None
    config = SmppVendorConfig(
        name=name,
        client=client,
        source_addr=t.string("source_addr", ""),
        source_addr_ton=t.integer("source_addr_ton", 5),
        source_addr_npi=t.integer("source_addr_npi", 0),
        dest_addr_ton=t.integer("dest_addr_ton", 1),
        dest_addr_npi=t.integer("dest_addr_npi", 1),
        service_type=t.string("service_type", ""),
        throttle_retry_after_s=t.number("throttle_retry_after_s", 15.0),
        receipt_utc_offset_min=t.integer("receipt_utc_offset_min", 480, min_value=-840),
        reject_reasons=reasons,
        gsm7_wire=t.enum("gsm7_wire", Gsm7Wire, Gsm7Wire.UNPACKED),
        long_messages=t.enum("long_messages", LongMessages, LongMessages.UDH),
        bind_timeout_s=t.number("bind_timeout_s", 10.0),
    )
    t.finish()
    return config


def parse_vendors(
    section: Mapping[str, object], *, file: str = ""
) -> dict[str, HttpVendorConfig | SmppVendorConfig]:
    """Validate the whole `[vendors]` section; errors carry the key path (and `file`)."""
    try:
        return _parse_vendors(section)
    except VendorConfigError as exc:
        if not file:
            raise
        raise VendorConfigError(exc.path, exc.problem, file=file) from None


def _parse_vendors(section: Mapping[str, object]) -> dict[str, HttpVendorConfig | SmppVendorConfig]:
    configs: dict[str, HttpVendorConfig | SmppVendorConfig] = {}
    for name, table in section.items():
        path = f"vendors.{name}"
        if not name or not set(name) <= _NAME_OK:
            raise VendorConfigError(path, "vendor names are [a-z0-9_-] (they become URL paths)")
        if not isinstance(table, Mapping):
            raise VendorConfigError(path, "expected a table")
        kind = table.get("kind", "http")
        if kind == "http":
            configs[name] = parse_http_vendor(name, table, path)
        elif kind == "smpp":
            configs[name] = parse_smpp_vendor(name, table, path)
        else:
            raise VendorConfigError(
                f"{path}.kind", f'expected "http" or "smpp", got {describe(kind)}'
            )
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
        else:
            vendors[name] = SmppVendor(config, clock=clock)
    return VendorSet(vendors=vendors, push_endpoints=tuple(endpoints))
