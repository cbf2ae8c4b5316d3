"""firmware-config/ profiles: strict loading (one invalid file per error) and matching."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent.common.tomlconfig import ConfigError
from agent.modem.profiles import (
    DEFAULT_PROFILE_DIR,
    load_profile,
    load_profiles,
    match_profile,
)

INVALID = Path(__file__).parent / "data" / "invalid_profiles"
NAMES = {
    "generic",
    "quectel_ec25",
    "quectel_eg25",
    "simcom_sim7600",
    "simcom_sim800",
    "huawei_e3372",
    "huawei_me909",
    "ublox_lara_r2",
}


def test_shipped_profiles_load_with_the_agreed_names() -> None:
    profiles = load_profiles(DEFAULT_PROFILE_DIR)
    assert set(profiles) == NAMES
    for name, profile in profiles.items():
        assert profile.name == name
        assert "ATE0" in profile.init and "AT+CMGF=0" in profile.init
        assert profile.cnmi and profile.storages and profile.iccid_commands


def test_vendor_specifics_are_data() -> None:
    p = load_profiles()
    assert p["quectel_ec25"].iccid_commands[0] == "AT+QCCID"
    assert p["huawei_e3372"].iccid_commands[0] == "AT^ICCID?"
    assert "^RSSI" in p["huawei_e3372"].quirks.noise_urc_prefixes
    assert p["simcom_sim800"].quirks.sms_ready_urc == "SMS Ready"
    assert not p["simcom_sim800"].quirks.reset_reenumerates
    assert p["quectel_ec25"].match.at_interface == 2


@pytest.mark.parametrize(
    ("file", "message"),
    [
        ("unknown_key.toml", ": at.inti_optional: unknown key (known here: cnmi, iccid_commands,"),
        ("unknown_section.toml", ": quirk: unknown key (known here: at, description,"),
        ("wrong_type.toml", ': quirks.needs_cnma: expected true or false, got "yes"'),
        ("missing_init.toml", ": at.init: expected a non-empty array of strings, got nothing"),
        (
            "bad_usb_id.toml",
            ': match.usb[0]: expected "vvvv:pppp" (lower-case hex), got "2C7C-0125"',
        ),
        (
            "bad_storage.toml",
            ': storage.cpms[1]: expected one of "BM", "ME", "MT", "SM", "SR", got "FLASH"',
        ),
        ("bad_cnmi.toml", ': at.cnmi[0]: expected CNMI settings like "2,1,0,2,0", got "2;1;0"'),
        ("bad_regex.toml", ": match.model_regex: expected a valid regular expression (missing )"),
        (
            "bad_empty_read.toml",
            ': quirks.empty_read: expected one of "ok", "cms321", "cms500", got "cms999"',
        ),
        ("negative_timeout.toml", ": timeouts.default_s: expected a number > 0.0, got -1"),
        ("not_toml.toml", ": invalid TOML: "),
        ("empty_cnmi.toml", ": at.cnmi: expected a non-empty array of strings, got an empty array"),
    ],
)
def test_invalid_profile_names_file_and_key(file: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_profile(INVALID / file)
    assert str(info.value).startswith(f"{INVALID / file}: ")
    assert message in str(info.value)


def test_directory_without_generic_is_rejected(tmp_path: Path) -> None:
    shutil.copy(DEFAULT_PROFILE_DIR / "quectel_ec25.toml", tmp_path)
    with pytest.raises(ConfigError, match=r"no generic\.toml"):
        load_profiles(tmp_path)


@pytest.mark.parametrize(
    ("manufacturer", "model", "vid_pid", "expected"),
    [
        ("Quectel", "EC25", "2c7c:0125", "quectel_ec25"),
        ("Quectel", "EG25", "2c7c:0125", "quectel_eg25"),  # same USB id: told apart by model
        ("Quectel", "EG25", None, "quectel_eg25"),
        ("", "", "1e0e:9001", "simcom_sim7600"),  # before AT answers: USB id alone
        ("SIMCOM INCORPORATED", "SIMCOM_SIM7600G-H", None, "simcom_sim7600"),
        ("SIMCOM_Ltd", "SIMCOM_SIM800C", None, "simcom_sim800"),
        ("huawei", "E3372", "12d1:1506", "huawei_e3372"),
        ("Huawei Technologies Co., Ltd.", "ME909s-120", None, "huawei_me909"),
        ("u-blox", "LARA-R280", None, "ublox_lara_r2"),
        ("Fibocom", "L610", None, "generic"),
        ("Quectel", "EC200T", "2c7c:6026", "generic"),  # unknown model of a known vendor
    ],
)
def test_match_profile(manufacturer: str, model: str, vid_pid: str | None, expected: str) -> None:
    assert match_profile(manufacturer, model, vid_pid).name == expected
