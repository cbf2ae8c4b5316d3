"""Modem profiles: per-model init strings and quirks as data (firmware-config/*.toml).

Strict like every config here: unknown keys and wrong types are rejected with an
error that names the file and the key path. The file stem is the profile name.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

from agent.modem.errors import ProfileError


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

_Check = Callable[[Any], bool]


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_num(v: Any) -> bool:
    # TOML has inf/nan literals; an infinite timeout is a hang, not a setting.
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_strs(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_ints(v: Any) -> bool:
    return isinstance(v, list) and all(_is_int(x) for x in v)


_SCHEMA: Final[dict[str, Any]] = {
    "description": (_is_str, "a string"),
    "match": {
        "usb": (_is_strs, "a list of strings"),
        "at_interface": (_is_int, "a non-negative integer"),
        "skip_interfaces": (_is_ints, "a list of non-negative integers"),
        "manufacturer_regex": (_is_str, "a string"),
        "model_regex": (_is_str, "a string"),
    },
    "at": {
        "init": (_is_strs, "a list of strings"),
        "init_optional": (_is_strs, "a list of strings"),
        "iccid_commands": (_is_strs, "a list of strings"),
        "cnmi": (_is_strs, "a list of strings"),
    },
    "storage": {
        "cpms": (_is_strs, "a list of strings"),
        "sweep": (_is_strs, "a list of strings"),
    },
    "timeouts": {
        "default_s": (_is_num, "a positive number"),
        "list_s": (_is_num, "a positive number"),
        "send_s": (_is_num, "a positive number"),
        "reset_s": (_is_num, "a positive number"),
    },
    "quirks": {
        "cmti_unreliable": (_is_bool, "a boolean"),
        "needs_cnma": (_is_bool, "a boolean"),
        "echo_after_reset": (_is_bool, "a boolean"),
        "boot_urcs": (_is_strs, "a list of strings"),
        "sms_ready_urc": (_is_str, "a string"),
        "noise_urc_prefixes": (_is_strs, "a list of strings"),
        "reset_reenumerates": (_is_bool, "a boolean"),
        "power_cycle_hint": (_is_str, "a string"),
        "empty_read": (lambda v: v in ("ok", "cms321", "cms500"), '"ok", "cms321" or "cms500"'),
    },
}
_REQUIRED: Final = ("description", "at.init")
_USB_RE: Final = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{4}$")
_CNMI_RE: Final = re.compile(r"^\d(,\d){1,4}$")
_STORAGES: Final = frozenset({"SM", "ME", "MT", "SR", "BM"})


def _validate(data: Mapping[str, Any], schema: Mapping[str, Any], where: str, path: str) -> None:
    for key, value in data.items():
        key_path = f"{path}.{key}" if path else key
        if key not in schema:
            raise ProfileError(f"{where}: unknown key {key_path!r}")
        rule = schema[key]
        if isinstance(rule, dict):
            if not isinstance(value, dict):
                raise ProfileError(f"{where}: {key_path!r} must be a table")
            _validate(value, rule, where, key_path)
        else:
            check, expected = rule
            if not check(value):
                raise ProfileError(f"{where}: {key_path!r} must be {expected}, got {value!r}")


def _get(data: Mapping[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def parse_profile(name: str, data: Mapping[str, Any], where: str) -> ModemProfile:
    """Validate one parsed TOML document and build the profile (pure)."""
    _validate(data, _SCHEMA, where, "")
    for required in _REQUIRED:
        if _get(data, required) is None:
            raise ProfileError(f"{where}: missing required key {required!r}")
    match = data.get("match", {})
    for usb in match.get("usb", []):
        if not _USB_RE.match(usb):
            raise ProfileError(
                f"{where}: 'match.usb' entry {usb!r} is not 'vvvv:pppp' (lower-case hex)"
            )
    for key in ("manufacturer_regex", "model_regex"):
        try:
            re.compile(match.get(key, ""))
        except re.error as exc:
            raise ProfileError(f"{where}: 'match.{key}' is not a valid regex: {exc}") from exc
    at = data.get("at", {})
    for key in ("init", "cnmi", "iccid_commands"):
        if key in at and not at[key]:
            raise ProfileError(f"{where}: 'at.{key}' must not be empty")
    for cnmi in at.get("cnmi", []):
        if not _CNMI_RE.match(cnmi):
            raise ProfileError(f"{where}: 'at.cnmi' entry {cnmi!r} is not like '2,1,0,2,0'")
    storage = data.get("storage", {})
    for key in ("cpms", "sweep"):
        for mem in storage.get(key, []):
            if mem not in _STORAGES:
                raise ProfileError(
                    f"{where}: 'storage.{key}' entry {mem!r} is not one of {sorted(_STORAGES)}"
                )
    if "cpms" in storage and not 1 <= len(storage["cpms"]) <= 3:
        raise ProfileError(f"{where}: 'storage.cpms' needs 1 to 3 memories (mem1, mem2, mem3)")
    defaults = ModemProfile(name=name, description="")
    quirk_values: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in data.get("quirks", {}).items()
    }
    timeouts = data.get("timeouts", {})
    return ModemProfile(
        name=name,
        description=data["description"],
        match=MatchRules(
            usb=tuple(match.get("usb", ())),
            at_interface=match.get("at_interface"),
            skip_interfaces=tuple(match.get("skip_interfaces", ())),
            manufacturer_regex=match.get("manufacturer_regex", ""),
            model_regex=match.get("model_regex", ""),
        ),
        init=tuple(at["init"]),
        init_optional=tuple(at.get("init_optional", ())),
        iccid_commands=tuple(at.get("iccid_commands", defaults.iccid_commands)),
        cnmi=tuple(at.get("cnmi", defaults.cnmi)),
        cpms=tuple(storage.get("cpms", defaults.cpms)),
        storages=tuple(storage.get("sweep", defaults.storages)),
        timeouts=Timeouts(**{k: float(v) for k, v in timeouts.items()}),
        quirks=Quirks(**quirk_values),
        source=where,
    )


def load_profile(path: Path) -> ModemProfile:
    where = str(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{where}: invalid TOML: {exc}") from exc
    except OSError as exc:
        raise ProfileError(f"{where}: cannot read: {exc}") from exc
    return parse_profile(path.stem, data, where)


def load_profiles(directory: Path = DEFAULT_PROFILE_DIR) -> dict[str, ModemProfile]:
    """Every `*.toml` in `directory`, keyed by file stem. A `generic` profile must exist."""
    profiles = {p.stem: load_profile(p) for p in sorted(Path(directory).glob("*.toml"))}
    if GENERIC not in profiles:
        raise ProfileError(f"{directory}: no {GENERIC}.toml profile")
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
    "ProfileError",
    "Quirks",
    "Timeouts",
    "load_profile",
    "load_profiles",
    "match_profile",
]
