"""`kind = "cmpp"` vendor tables: errors name the file, the key and what was expected."""

from __future__ import annotations

import pytest

from agent.common.tomlconfig import ConfigError
from collector.vendors.cngw.config import build_gateway_vendor, parse_gateway_vendor

GOOD = {
    "kind": "cmpp", "version": 3, "host": "127.0.0.1", "port": 7890,
    "source_addr": "901234", "shared_secret": "s", "src_id": "10690001",
}  # fmt: skip


def test_good_table_builds_a_cmpp3_vendor() -> None:
    config = parse_gateway_vendor("cm", GOOD, file="collector.toml")
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
