"""firmware-config/ host files agree with the profiles."""

from __future__ import annotations

import re

from agent.modem.profiles import DEFAULT_PROFILE_DIR, load_profiles

RULES = (DEFAULT_PROFILE_DIR / "99-smsprobe.rules").read_text()
UNIT = (DEFAULT_PROFILE_DIR / "smsprobe-agent.service").read_text()
_ID = re.compile(r'ATTRS\{idVendor\}=="([0-9a-f]{4})", ATTRS\{idProduct\}=="([0-9a-f]{4})"')


def rule_lines() -> list[str]:
    return [line for line in RULES.splitlines() if line and not line.startswith("#")]


def test_every_profiled_usb_id_is_ignored_by_modemmanager_on_device_and_ttys() -> None:
    usb_ignored: set[str] = set()
    tty_ignored: set[str] = set()
    for line in rule_lines():
        m = _ID.search(line)
        if m and 'ENV{ID_MM_DEVICE_IGNORE}="1"' in line:
            target = usb_ignored if 'SUBSYSTEM=="usb"' in line else tty_ignored
            target.add(f"{m.group(1)}:{m.group(2)}")
    wanted = {usb for p in load_profiles().values() for usb in p.match.usb}
    assert wanted
    assert wanted <= usb_ignored
    assert wanted <= tty_ignored


def test_stable_at_links_use_the_profiles_at_interface() -> None:
    for profile in load_profiles().values():
        if profile.match.at_interface is None:
            continue
        for usb in profile.match.usb:
            vid, pid = usb.split(":")
            links = [
                line
                for line in rule_lines()
                if f'ATTRS{{idVendor}}=="{vid}", ATTRS{{idProduct}}=="{pid}"' in line
                and "SYMLINK" in line
            ]
            assert links, f"no stable name for {usb} ({profile.name})"
            iface = f'ENV{{ID_USB_INTERFACE_NUM}}=="{profile.match.at_interface:02d}"'
            assert all(iface in line for line in links), profile.name


def test_systemd_unit_runs_the_agent_and_keeps_modemmanager_away() -> None:
    assert re.search(r"^ExecStart=\S+/smsprobe-agent run --config \S+$", UNIT, re.M)
    assert "Conflicts=ModemManager.service" in UNIT
    assert "SupplementaryGroups=dialout" in UNIT
    assert re.search(r"^Restart=always$", UNIT, re.M)
