"""`[vendors.<name>]` tables for China's carrier gateways, and the adapter built from one.

[vendors.cmcc106]            # CMPP 2.0/3.0 (China Mobile)
kind = "cmpp"
version = 2                  # 2 (CMPP 2.0) or 3 (CMPP 3.0)
host = "10.1.2.3"
port = 7890
source_addr = "901234"       # SP enterprise code, 6 digits (CMPP_CONNECT Source_Addr)
shared_secret = "..."
src_id = "10690001"          # the 106 number (+ extension) handsets see
service_id = ""              # optional
window = 16                  # unacknowledged submits
active_test_interval_s = 180
response_timeout_s = 10
receipt_utc_offset_min = 480 # report times are gateway wall clock (UTC+8)

[vendors.cucc106]            # SGIP 1.2 (China Unicom): a connection per batch
kind = "sgip"
host = "10.1.2.4"
port = 8801
login_name = "sp01"          # Bind Login Name / Login Password (16 each)
password = "..."
corp_id = "12345"            # 5 digits (Submit CorpId)
sp_number = "10655001"       # the 106 number (+ extension) handsets see
node_id = 3001012345         # our node id: 3 + area code + corp id (default 3 0000 corp_id)
service_type = ""            # optional (10)
report_listen_host = "0.0.0.0"  # the SMG connects here to send reports (SGIP 1.2 §3)
report_listen_port = 8802
report_login_name = "smg01"  # what the SMG binds with (default: login_name / password)
report_password = "..."

[vendors.ctcc106]            # SMGP 3.0 (China Telecom)
kind = "smgp"
host = "10.1.2.5"
port = 8890
client_id = "sp01"           # Login ClientID (8)
shared_secret = "..."
src_term_id = "10690001"     # the 106 number (+ extension) handsets see
service_id = ""              # optional
active_test_interval_s = 180
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.common.tomlconfig import Table
from collector.vendors.base import Clock, DlrSource, wall_clock_ns
from collector.vendors.cmpp.dialect import CmppAccount, CmppDialect
from collector.vendors.cngw.adapter import GatewayVendor
from collector.vendors.cngw.session import Dialect, SessionConfig
from collector.vendors.sgip.dialect import SgipAccount, SgipDialect
from collector.vendors.sgip.receiver import SgipReportListener
from collector.vendors.smgp.dialect import SmgpAccount, SmgpDialect

__all__ = [
    "GATEWAY_KINDS",
    "GatewayVendorConfig",
    "SgipListen",
    "build_gateway_vendor",
    "parse_gateway_vendor",
]

GATEWAY_KINDS = ("cmpp", "sgip", "smgp")


@dataclass(frozen=True, slots=True)
class SgipListen:
    """Where the SP listens for the SMG's report connections, and what the SMG binds with."""

    host: str
    port: int
    login_name: str
    password: str


@dataclass(frozen=True, slots=True)
class GatewayVendorConfig:
    name: str
    kind: str
    version: int  # CMPP 2 or 3; SGIP 12, SMGP 30 (the protocol's own version)
    session: SessionConfig
    account: CmppAccount | SgipAccount | SmgpAccount
    receipt_utc_offset_min: int = 480
    throttle_retry_after_s: float = 15.0
    sgip_listen: SgipListen | None = None


def _number(t: Table, key: str, width: int, what: str, default: str | None = None) -> str:
    value = t.get_str(key) if default is None else t.get_str(key, default)
    if len(value) > width or not value.isdigit():
        raise t.error(key, f"up to {width} digits ({what})", value)
    return value


def _ascii(t: Table, key: str, width: int, default: str | None = None) -> str:
    value = t.get_str(key) if default is None else t.get_str(key, default)
    if len(value) > width or not value.isascii():
        raise t.error(key, f"at most {width} ASCII characters", value)
    return value


def _session(t: Table, *, persistent: bool) -> SessionConfig:
    return SessionConfig(
        host=t.get_str("host"),
        port=t.get_int("port", min_value=1, max_value=65535),
        persistent=persistent,
        window=t.get_int("window", 16, min_value=1),
        response_timeout_s=t.get_float("response_timeout_s", 10.0, min_value=0.0),
        active_test_interval_s=(
            t.get_float("active_test_interval_s", 180.0, min_value=0.0) if persistent else 0.0
        ),
        connect_timeout_s=t.get_float("connect_timeout_s", 10.0, min_value=0.0),
    )


def parse_gateway_vendor(
    name: str, data: object, path: str | None = None, *, file: str = ""
) -> GatewayVendorConfig:
    t = Table(data, file=file, path=path if path is not None else f"vendors.{name}")
    kind = t.get_choice("kind", GATEWAY_KINDS)
    listen: SgipListen | None = None
    account: CmppAccount | SgipAccount | SmgpAccount
    if kind == "cmpp":
        version = t.get_int("version", 2, min_value=2)
        if version > 3:
            raise t.error("version", "2 (CMPP 2.0) or 3 (CMPP 3.0)", version)
        source_addr = t.get_str("source_addr")
        if len(source_addr) != 6 or not source_addr.isascii():
            raise t.error("source_addr", "the 6-character SP enterprise code", source_addr)
        src_id = _number(t, "src_id", 21, "the 106 number")
        session = _session(t, persistent=True)
        account = CmppAccount(source_addr, t.get_str("shared_secret"), src_id,
                              _ascii(t, "service_id", 10, ""))  # fmt: skip
    elif kind == "sgip":
        version = 12
        login_name, password = _ascii(t, "login_name", 16), _ascii(t, "password", 16)
        corp_id = t.get_str("corp_id")
        if len(corp_id) != 5 or not corp_id.isdigit():
            raise t.error("corp_id", "the 5-digit SP enterprise code", corp_id)
        node_id = t.get_int("node_id", 3_0000_00000 + int(corp_id), min_value=1,
                            max_value=0xFFFFFFFF)  # fmt: skip
        account = SgipAccount(
            login_name, password, _number(t, "sp_number", 21, "the 106 number"), corp_id,
            node_id, _ascii(t, "service_type", 10, ""),
        )  # fmt: skip
        session = _session(t, persistent=False)
        listen = SgipListen(
            host=t.get_str("report_listen_host", "0.0.0.0"),
            port=t.get_int("report_listen_port", min_value=0, max_value=65535),
            login_name=_ascii(t, "report_login_name", 16, login_name),
            password=_ascii(t, "report_password", 16, password),
        )
    else:
        version = 30
        account = SmgpAccount(
            _ascii(t, "client_id", 8), t.get_str("shared_secret"),
            _number(t, "src_term_id", 21, "the 106 number"), _ascii(t, "service_id", 10, ""),
        )  # fmt: skip
        session = _session(t, persistent=True)
    config = GatewayVendorConfig(
        name=name,
        kind=kind,
        version=version,
        session=session,
        account=account,
        receipt_utc_offset_min=t.get_int("receipt_utc_offset_min", 480, min_value=-840),
        throttle_retry_after_s=t.get_float("throttle_retry_after_s", 15.0, min_value=0.0),
        sgip_listen=listen,
    )
    t.finish()
    return config


def build_gateway_vendor(
    config: GatewayVendorConfig, *, clock: Clock = wall_clock_ns
) -> GatewayVendor:
    account = config.account
    dialect: Dialect
    receiver: SgipReportListener | None = None
    if isinstance(account, CmppAccount):
        dialect, source = CmppDialect(config.version, account), DlrSource.CMPP
    elif isinstance(account, SgipAccount):
        sgip = SgipDialect(account)
        dialect, source = sgip, DlrSource.SGIP
        listen = config.sgip_listen
        assert listen is not None
        receiver = SgipReportListener(sgip, host=listen.host, port=listen.port,
                                      login_name=listen.login_name,
                                      password=listen.password)  # fmt: skip
    else:
        dialect, source = SmgpDialect(account), DlrSource.SMGP
    return GatewayVendor(
        config.name,
        dialect,
        config.session,
        source=source,
        receiver=receiver,
        receipt_utc_offset_min=config.receipt_utc_offset_min,
        throttle_retry_after_s=config.throttle_retry_after_s,
        clock=clock,
    )
