"""`kind = "cmpp" | "sgip" | "smgp"` vendor tables: errors name the file and the key."""

from __future__ import annotations

import pytest

from agent.common.tomlconfig import ConfigError
from collector.vendors.base import DlrSource
from collector.vendors.cmpp.dialect import CmppAccount
from collector.vendors.cngw.config import build_gateway_vendor, parse_gateway_vendor
from collector.vendors.sgip.dialect import SgipAccount

GOOD = {
    "kind": "cmpp", "version": 3, "host": "127.0.0.1", "port": 7890,
    "source_addr": "901234", "shared_secret": "s", "src_id": "10690001",
}  # fmt: skip


def test_good_table_builds_a_cmpp3_vendor() -> None:
    config = parse_gateway_vendor("cm", GOOD, file="collector.toml")
    assert isinstance(config.account, CmppAccount)
    assert (config.version, config.session.port, config.account.src_id) == (3, 7890, "10690001")
    vendor = build_gateway_vendor(config)
    assert vendor.name == "cm"


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"source_addr": "1234567"}, "source_addr"),
        ({"src_id": "106abc"}, "src_id"),
        ({"version": 4}, "version"),
        ({"windw": 3}, "windw"),
    ],
)
def test_bad_values_name_file_and_key(change: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_gateway_vendor("cm", {**GOOD, **change}, file="collector.toml")
    assert "collector.toml" in str(exc.value) and f"vendors.cm.{key}" in str(exc.value)


SGIP = {
    "kind": "sgip", "host": "127.0.0.1", "port": 8801, "login_name": "sp01",
    "password": "pw", "corp_id": "12345", "sp_number": "10655001", "report_listen_port": 8802,
}  # fmt: skip
SMGP = {
    "kind": "smgp", "host": "127.0.0.1", "port": 8890, "client_id": "sp01",
    "shared_secret": "s", "src_term_id": "10690001",
}  # fmt: skip


def test_sgip_and_smgp_tables_build_their_vendors() -> None:
    sgip = parse_gateway_vendor("cu", SGIP, file="collector.toml")
    assert isinstance(sgip.account, SgipAccount)
    assert sgip.account.node_id == 3000012345  # default: 3, area 0000, corp id
    assert not sgip.session.persistent  # SGIP 1.2 §3: a connection per batch
    assert sgip.sgip_listen is not None and sgip.sgip_listen.login_name == "sp01"
    smgp = parse_gateway_vendor("ct", SMGP, file="collector.toml")
    assert smgp.session.persistent
    assert build_gateway_vendor(smgp).name == "ct"
    assert build_gateway_vendor(sgip).name == "cu"
    assert {build_gateway_vendor(c)._source for c in (sgip, smgp)} == {
        DlrSource.SGIP, DlrSource.SMGP}  # fmt: skip


@pytest.mark.parametrize(
    ("table", "change", "key"),
    [
        (SGIP, {"corp_id": "1234"}, "corp_id"),
        (SGIP, {"login_name": "x" * 17}, "login_name"),
        (SGIP, {"active_test_interval_s": 30}, "active_test_interval_s"),  # SGIP has none
        (SGIP, {"report_listen_port": 70000}, "report_listen_port"),
        (SMGP, {"client_id": "123456789"}, "client_id"),
        (SMGP, {"src_term_id": "abc"}, "src_term_id"),
    ],
)
def test_bad_sgip_smgp_values_name_the_key(
    table: dict[str, object], change: dict[str, object], key: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_gateway_vendor("v", {**table, **change}, file="collector.toml")
    assert "collector.toml" in str(exc.value) and f"vendors.v.{key}" in str(exc.value)
