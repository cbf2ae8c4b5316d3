"""`[vendors.<name>]` tables for China's carrier gateways, and the adapter built from one:

[vendors.cmcc106]
kind = "cmpp"             # CMPP; "sgip" and "smgp" are not built yet (docs/vendors.md)
version = 2               # 2 (CMPP 2.0) or 3 (CMPP 3.0)
host = "10.1.2.3"
port = 7890
source_addr = "901234"    # SP enterprise code, 6 digits (CMPP_CONNECT Source_Addr)
shared_secret = "..."
src_id = "10690001"       # the 106 number (+ extension) handsets see
service_id = ""           # optional
window = 16               # unacknowledged submits
active_test_interval_s = 180
response_timeout_s = 10
receipt_utc_offset_min = 480   # report times are gateway wall clock (UTC+8)
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.common.tomlconfig import Table
from collector.vendors.base import Clock, DlrSource, wall_clock_ns
from collector.vendors.cmpp.dialect import CmppAccount, CmppDialect
from collector.vendors.cngw.adapter import GatewayVendor
from collector.vendors.cngw.session import SessionConfig

__all__ = ["GATEWAY_KINDS", "GatewayVendorConfig", "build_gateway_vendor", "parse_gateway_vendor"]

GATEWAY_KINDS = ("cmpp",)


@dataclass(frozen=True, slots=True)
class GatewayVendorConfig:
    name: str
    kind: str
    version: int
    session: SessionConfig
    account: CmppAccount
    receipt_utc_offset_min: int = 480
    throttle_retry_after_s: float = 15.0


def parse_gateway_vendor(
    name: str, data: object, path: str | None = None, *, file: str = ""
) -> GatewayVendorConfig:
    t = Table(data, file=file, path=path if path is not None else f"vendors.{name}")
    kind = t.get_choice("kind", GATEWAY_KINDS)
    version = t.get_int("version", 2, min_value=2)
    if version > 3:
        raise t.error("version", "2 (CMPP 2.0) or 3 (CMPP 3.0)", version)
    source_addr = t.get_str("source_addr")
    if len(source_addr) != 6 or not source_addr.isascii():
        raise t.error("source_addr", "the 6-character SP enterprise code", source_addr)
    src_id = t.get_str("src_id")
    if len(src_id) > 21 or not src_id.isdigit():
        raise t.error("src_id", "up to 21 digits (the 106 number)", src_id)
    session = SessionConfig(
        host=t.get_str("host"),
        port=t.get_int("port", min_value=1),
        window=t.get_int("window", 16, min_value=1),
        response_timeout_s=t.get_float("response_timeout_s", 10.0, min_value=0.0),
        active_test_interval_s=t.get_float("active_test_interval_s", 180.0, min_value=0.0),
        connect_timeout_s=t.get_float("connect_timeout_s", 10.0, min_value=0.0),
    )
    config = GatewayVendorConfig(
        name=name,
        kind=kind,
        version=version,
        session=session,
        account=CmppAccount(
            source_addr, t.get_str("shared_secret"), src_id, t.get_str("service_id", "")
        ),
        receipt_utc_offset_min=t.get_int("receipt_utc_offset_min", 480, min_value=-840),
        throttle_retry_after_s=t.get_float("throttle_retry_after_s", 15.0, min_value=0.0),
    )
    t.finish()
    return config


def build_gateway_vendor(
    config: GatewayVendorConfig, *, clock: Clock = wall_clock_ns
) -> GatewayVendor:
    return GatewayVendor(
        config.name,
        CmppDialect(config.version, config.account),
        config.session,
        source=DlrSource.CMPP,
        receipt_utc_offset_min=config.receipt_utc_offset_min,
        throttle_retry_after_s=config.throttle_retry_after_s,
        clock=clock,
    )
