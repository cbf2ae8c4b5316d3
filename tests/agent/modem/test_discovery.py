"""Port candidates and skipping (pure-ish: files in tmp_path, no device access)."""

from __future__ import annotations

from pathlib import Path

from agent.discovery import (
    DiscoveredModem,
    PortInfo,
    candidate_ports,
    find_by_imei,
    one_port_per_modem,
    should_skip,
)
from agent.discovery_cli import format_table
from agent.modem.carrier import CarrierInfo
from agent.modem.gsm import ModemIdentity
from agent.modem.profiles import load_profiles

PROFILES = load_profiles()


def test_by_id_link_and_its_tty_count_once_and_keep_the_stable_name(tmp_path: Path) -> None:
    tty = tmp_path / "ttyUSB2"
    tty.touch()
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    (by_id / "usb-Quectel_EC25-if02-port0").symlink_to(tty)
    ports = candidate_ports([str(tmp_path / "ttyUSB*"), str(by_id / "*"), "socket://127.0.0.1:7"])
    assert [p.url for p in ports] == [
        str(by_id / "usb-Quectel_EC25-if02-port0"),
        "socket://127.0.0.1:7",
    ]
    assert ports[0].device == str(tty.resolve())
    # Order of patterns does not matter for the name kept.
    ports = candidate_ports([str(by_id / "*"), str(tmp_path / "ttyUSB*")])
    assert [p.url for p in ports] == [str(by_id / "usb-Quectel_EC25-if02-port0")]


def test_missing_paths_are_ignored(tmp_path: Path) -> None:
    assert candidate_ports([str(tmp_path / "nope"), str(tmp_path / "ttyACM*")]) == []


def test_diag_and_nmea_interfaces_of_profiled_devices_are_skipped() -> None:
    assert should_skip(PortInfo("/dev/ttyUSB0", "/dev/ttyUSB0", "2c7c:0125", 0), PROFILES)
    assert should_skip(PortInfo("/dev/ttyUSB1", "/dev/ttyUSB1", "2c7c:0125", 1), PROFILES)
    assert not should_skip(PortInfo("/dev/ttyUSB2", "/dev/ttyUSB2", "2c7c:0125", 2), PROFILES)
    # Huawei E3372: which port is PCUI varies, so none is skipped.
    assert not should_skip(PortInfo("/dev/ttyUSB0", "/dev/ttyUSB0", "12d1:1506", 0), PROFILES)
    assert not should_skip(PortInfo("socket://h:1", ""), PROFILES)


def test_table_of_nothing_is_just_the_header_and_imei_lookup() -> None:
    assert format_table([]).split() == [
        "PORT", "PROFILE", "MODEL", "FIRMWARE", "IMEI", "IMSI", "ICCID", "MSISDN", "PLMN",
        "CARRIER", "MVNO",
    ]  # fmt: skip
    assert find_by_imei([], "866758041234567") is None


def _found(
    url: str, interface: int | None, imei: str, profile: str = "quectel_ec25"
) -> DiscoveredModem:
    ident = ModemIdentity("Quectel", "EC25", "r1", imei, "", "", "", "")
    return DiscoveredModem(
        PortInfo(url, url, "2c7c:0125", interface), profile, ident, CarrierInfo("", "other", "")
    )


def test_modem_answering_on_two_at_ports_is_listed_once_on_its_primary() -> None:
    secondary = _found("/dev/ttyUSB3", 3, "866758041234567")
    primary = _found("/dev/ttyUSB2", 2, "866758041234567")
    other = _found("/dev/ttyUSB7", 2, "866758049999999")
    no_imei = _found("socket://h:1", None, "")
    kept = one_port_per_modem([secondary, other, primary, no_imei], PROFILES)
    assert [m.port.url for m in kept] == ["/dev/ttyUSB7", "/dev/ttyUSB2", "socket://h:1"]
    assert find_by_imei(kept, "866758041234567") is primary
    # Huawei: no primary interface known, the first port wins.
    a = _found("/dev/ttyUSB0", 0, "1", "huawei_e3372")
    b = _found("/dev/ttyUSB1", 1, "1", "huawei_e3372")
    assert one_port_per_modem([a, b], PROFILES) == [a]
