"""Modem profiles: per-model init strings and quirks as data (firmware-config/*.toml).

Read with the one strict reader (agent/common/tomlconfig.py): unknown keys and wrong types
are a ConfigError naming the file and the key path. The file stem is the profile name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

from agent.common.tomlconfig import ConfigError, Table, load_toml


def _default_profile_dir() -> Path:
    # Package data: agent/modem/firmware_config is a symlink to the top-level
    # firmware-config/ in a checkout (and an editable install), and a real directory in a
    # wheel. Installed packages live unpacked on disk, so the resource is a real path.
    return Path(str(resources.files("agent.modem").joinpath("firmware_config")))


DEFAULT_PROFILE_DIR: Final = _default_profile_dir()
GENERIC: Final = "generic"


@dataclass(frozen=True, slots=True)
class MatchRules:
    """How a device is recognised. `usb` holds "vvvv:pppp" ids; `at_interface` is the USB
    interface number of the primary AT port (None = probe every interface)."""

    usb: tuple[str, ...] = ()
    at_interface: int | None = None
    skip_interfaces: tuple[int, ...] = ()
    manufacturer_regex: str = ""
    model_regex: str = ""


@dataclass(frozen=True, slots=True)
class Timeouts:
    default_s: float = 5.0
    list_s: float = 60.0  # AT+CMGL on a full storage takes seconds (docs/modems.md)
    send_s: float = 60.0
    reset_s: float = 15.0


@dataclass(frozen=True, slots=True)
class Quirks:
    cmti_unreliable: bool = False  # sweep storage often; +CMTI may never come
    needs_cnma: bool = False  # CSMS=1 firmware: every +CMT/+CDS must be acked with AT+CNMA
    echo_after_reset: bool = True  # echo comes back on after a reboot (volatile ATE0)
    boot_urcs: tuple[str, ...] = ("RDY", "^BOOT")
    sms_ready_urc: str = ""  # the marker after which SMS commands work ("" = none)
    noise_urc_prefixes: tuple[str, ...] = ()
    reset_reenumerates: bool = True  # AT+CFUN=1,1 makes the USB device vanish
    power_cycle_hint: str = ""
    empty_read: str = "ok"  # what AT+CMGR on an empty slot returns: ok | cms321 | cms500


@dataclass(frozen=True, slots=True)
class ModemProfile:
    name: str
    description: str
    match: MatchRules = field(default_factory=MatchRules)
    init: tuple[str, ...] = ()
    init_optional: tuple[str, ...] = ()
    iccid_commands: tuple[str, ...] = ("AT+CCID", "AT+CRSM=176,12258,0,0,10")
    cnmi: tuple[str, ...] = ("2,1,0,2,0", "2,1,0,1,0", "2,1,0,0,0")
    cpms: tuple[str, ...] = ("ME", "ME", "ME")
    storages: tuple[str, ...] = ("ME", "SM")
    timeouts: Timeouts = field(default_factory=Timeouts)
    quirks: Quirks = field(default_factory=Quirks)
    source: str = ""


# -- strict loader --------------------------------------------------------------------------

_USB_RE: Final = re.compile(r"[0-9a-f]{4}:[0-9a-f]{4}")
_CNMI_RE: Final = re.compile(r"\d(,\d){1,4}")
_STORAGES: Final = ("BM", "ME", "MT", "SM", "SR")
_EMPTY_READS: Final = ("ok", "cms321", "cms500")


def _regex(t: Table, key: str) -> str:
    value = t.get_str(key, "")
    try:
        re.compile(value)
    except re.error as exc:
        raise t.error(key, f"a valid regular expression ({exc})", value) from exc
    return value


def _timeout(t: Table, key: str, default: float) -> float:
    # TOML has inf/nan literals; an infinite timeout is a hang, not a setting.
    return t.get_float(key, default, above=0.0)


def parse_profile(name: str, data: Mapping[str, Any], where: str) -> ModemProfile:
    """Validate one parsed TOML document and build the profile (pure). `where` names the
    file in errors."""
    defaults = ModemProfile(name=name, description="")
    root = Table(data, file=where)
    description = root.get_str("description")
    m = root.section("match")
    match = MatchRules(
        usb=m.get_str_list(
            "usb", (), pattern=_USB_RE, item_expected='"vvvv:pppp" (lower-case hex)'
        ),
        at_interface=m.get_optional_int("at_interface", min_value=0),
        skip_interfaces=m.get_int_list("skip_interfaces", (), min_value=0),
        manufacturer_regex=_regex(m, "manufacturer_regex"),
        model_regex=_regex(m, "model_regex"),
    )
    m.finish()
    at = root.section("at")
    init = at.get_str_list("init", non_empty_items=False, min_len=1)
    init_optional = at.get_str_list("init_optional", (), non_empty_items=False)
    iccid_commands = at.get_str_list(
        "iccid_commands", defaults.iccid_commands, non_empty_items=False, min_len=1
    )
    cnmi = at.get_str_list(
        "cnmi",
        defaults.cnmi,
        pattern=_CNMI_RE,
        item_expected='CNMI settings like "2,1,0,2,0"',
        min_len=1,
    )
    at.finish()
    storage = root.section("storage")
    # AT+CPMS takes mem1 (read/delete), mem2 (write/send), mem3 (receive): 1 to 3 of them.
    cpms = storage.get_str_list("cpms", defaults.cpms, choices=_STORAGES, min_len=1, max_len=3)
    storages = storage.get_str_list("sweep", defaults.storages, choices=_STORAGES)
    storage.finish()
    t = root.section("timeouts")
    base = Timeouts()
    timeouts = Timeouts(
        default_s=_timeout(t, "default_s", base.default_s),
        list_s=_timeout(t, "list_s", base.list_s),
        send_s=_timeout(t, "send_s", base.send_s),
        reset_s=_timeout(t, "reset_s", base.reset_s),
    )
    t.finish()
    q = root.section("quirks")
    base_q = Quirks()
    quirks = Quirks(
        cmti_unreliable=q.get_bool("cmti_unreliable", base_q.cmti_unreliable),
        needs_cnma=q.get_bool("needs_cnma", base_q.needs_cnma),
        echo_after_reset=q.get_bool("echo_after_reset", base_q.echo_after_reset),
        boot_urcs=q.get_str_list("boot_urcs", base_q.boot_urcs, non_empty_items=False),
        sms_ready_urc=q.get_str("sms_ready_urc", base_q.sms_ready_urc),
        noise_urc_prefixes=q.get_str_list(
            "noise_urc_prefixes", base_q.noise_urc_prefixes, non_empty_items=False
        ),
        reset_reenumerates=q.get_bool("reset_reenumerates", base_q.reset_reenumerates),
        power_cycle_hint=q.get_str("power_cycle_hint", base_q.power_cycle_hint),
        empty_read=q.get_choice("empty_read", _EMPTY_READS, base_q.empty_read),
    )
    q.finish()
    root.finish()
    return ModemProfile(
        name=name,
        description=description,
        match=match,
        init=init,
        init_optional=init_optional,
        iccid_commands=iccid_commands,
        cnmi=cnmi,
        cpms=cpms,
        storages=storages,
        timeouts=timeouts,
        quirks=quirks,
        source=where,
    )


def load_profile(path: Path) -> ModemProfile:
    """One profile file; errors name its full path (the profile directory varies)."""
    try:
        data = load_toml(path)
    except ConfigError as exc:
        raise ConfigError(str(path), "", exc.expected, problem=exc.problem) from exc
    return parse_profile(path.stem, data, str(path))


def load_profiles(directory: Path = DEFAULT_PROFILE_DIR) -> dict[str, ModemProfile]:
    """Every `*.toml` in `directory`, keyed by file stem. A `generic` profile must exist."""
    profiles = {p.stem: load_profile(p) for p in sorted(Path(directory).glob("*.toml"))}
    if GENERIC not in profiles:
        raise ConfigError(
            str(directory), "", f"a {GENERIC}.toml profile", problem=f"no {GENERIC}.toml profile"
        )
    return profiles


def match_profile(
    manufacturer: str,
    model: str,
    vid_pid: str | None = None,
    *,
    profiles: Mapping[str, ModemProfile] | None = None,
) -> ModemProfile:
    """Best profile for a device; falls back to `generic`.

    A profile is a candidate when every rule it states and we have data for agrees;
    the candidate matching most rules (model 4, USB id 2, manufacturer 1) wins, ties go
    to the alphabetically first name.
    """
    table = profiles if profiles is not None else load_profiles()
    best: tuple[int, str] | None = None
    usb = vid_pid.lower() if vid_pid else None
    for name, profile in sorted(table.items()):
        rules = profile.match
        score = 0
        rejected = False
        for regex, value, weight in (
            (rules.model_regex, model, 4),
            (rules.manufacturer_regex, manufacturer, 1),
        ):
            if regex and value:
                if re.search(regex, value):
                    score += weight
                else:
                    rejected = True
        if rules.usb and usb is not None:
            if usb in rules.usb:
                score += 2
            else:
                rejected = True
        if rejected or score == 0:
            continue
        if best is None or score > best[0]:
            best = (score, name)
    if best is None:
        return table[GENERIC]
    return table[best[1]]


__all__ = [
    "DEFAULT_PROFILE_DIR",
    "GENERIC",
    "MatchRules",
    "ModemProfile",
    "Quirks",
    "Timeouts",
    "load_profile",
    "load_profiles",
    "match_profile",
]
