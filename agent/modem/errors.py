"""The modem driver's exception tree, and the one place errors are classified.

    ModemError
    ├── PortGoneError       the device vanished (USB unplug, pty master closed, socket EOF)
    ├── AtTimeoutError      no final result code before the deadline
    ├── AtError             a final result code that is not OK
    │   ├── CmeError        +CME ERROR: <err>   (TS 27.007 §9.2)
    │   └── CmsError        +CMS ERROR: <err>   (TS 27.005 §3.2.5)
    └── ResponseParseError  a reply we could not make sense of

(An invalid firmware-config/*.toml is a config error: agent.common.tomlconfig.ConfigError.)

`transient` answers one question for the recovery policy: "is it worth retrying the
same command later without changing anything?". The tables below are the only place
that decision is made.
"""

from __future__ import annotations

from typing import Final


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() accepts '²' and other scripts' digits, which int()
    then rejects."""
    return text.isascii() and text.isdigit()


class ModemError(Exception):
    """Root of every error the modem driver raises."""

    @property
    def transient(self) -> bool:
        return False


class PortGoneError(ModemError):
    """The byte stream ended: the device disappeared or the link was closed."""

    @property
    def transient(self) -> bool:
        # The modem may re-enumerate; the caller reopens (possibly under a new name).
        return True


class AtTimeoutError(ModemError):
    """No final result code arrived for `command` within `timeout_s`."""

    def __init__(self, command: str, timeout_s: float) -> None:
        super().__init__(f"{command!r}: no final result within {timeout_s:g} s")
        self.command = command
        self.timeout_s = timeout_s

    @property
    def transient(self) -> bool:
        return True


class ResponseParseError(ModemError):
    """A response line did not have the documented (or any known real-world) shape."""


# TS 27.007 §9.2.1 codes worth retrying unchanged: phone failure (0), link reserved (2),
# SIM busy (14, normal right after boot), memory failure (23), no network service (30),
# network timeout (31), unknown (100).
_CME_TRANSIENT: Final = frozenset({0, 2, 14, 23, 30, 31, 100})
# TS 27.005 §3.2.5: ME failure (300), SMS service reserved (301), operation not allowed
# (302, frequent before "SMS Ready"), SIM busy (314), memory failure (320), SMSC unknown (330,
# usually the SIM is still loading), no network (331), network timeout (332), unknown (500,
# the Huawei/Quectel/SIMCom catch-all also used for "not ready"), 512+ vendor specific;
# RP causes 41/42/47 (temporary failure, congestion, resources unavailable, TS 24.011 §8.2.5.4)
# and TP-FCS 0xC0 SC busy, 0xD4 SIM toolkit busy (TS 23.040 §9.2.3.22).
_CMS_TRANSIENT: Final = frozenset(
    {41, 42, 47, 0xC0, 0xD4, 300, 301, 302, 314, 320, 330, 331, 332, 500}
)
# Slot already empty: reading or deleting it is "nothing there", not a failure.
_CME_EMPTY_SLOT: Final = frozenset({21, 22})
_CMS_EMPTY_SLOT: Final = frozenset({321})
_CME_STORAGE_FULL: Final = frozenset({20})
_CMS_STORAGE_FULL: Final = frozenset({22, 0xD0, 0xD3, 322})
# SIM absent or unusable: no retry helps until someone acts (TS 27.007 / 27.005 tables).
_CME_SIM_PROBLEM: Final = frozenset({5, 10, 11, 12, 13, 15, 16})
_CMS_SIM_PROBLEM: Final = frozenset({310, 311, 312, 313, 315, 316})

# AT+CMEE=2 verbose texts seen on real modems -> numeric code (TS 27.007 §9.2.1 wording,
# plus vendor spellings). Lower-cased, compared after stripping.
_CME_TEXT: Final = {
    "phone failure": 0,
    "no connection to phone": 1,
    "operation not allowed": 3,
    "operation not supported": 4,
    "ph-sim pin required": 5,
    "sim not inserted": 10,
    "sim pin required": 11,
    "sim puk required": 12,
    "sim failure": 13,
    "sim busy": 14,
    "sim wrong": 15,
    "incorrect password": 16,
    "memory full": 20,
    "invalid index": 21,
    "not found": 22,
    "memory failure": 23,
    "no network service": 30,
    "network timeout": 31,
    "incorrect parameters": 50,
    "unknown": 100,
    "unknown error": 100,
}
_CMS_TEXT: Final = {
    "me failure": 300,
    "sms service of me reserved": 301,
    "operation not allowed": 302,
    "operation not supported": 303,
    "invalid pdu mode parameter": 304,
    "invalid text mode parameter": 305,
    "sim not inserted": 310,
    "sim pin required": 311,
    "sim failure": 313,
    "sim busy": 314,
    "sim wrong": 315,
    "sim puk required": 316,
    "memory failure": 320,
    "invalid memory index": 321,
    "memory full": 322,
    "smsc address unknown": 330,
    "no network service": 331,
    "network timeout": 332,
    "no cnma acknowledgement expected": 340,
    "unknown error": 500,
}


class AtError(ModemError):
    """The modem answered with a final result code other than OK (plain `ERROR` etc.)."""

    def __init__(self, command: str, final: str) -> None:
        super().__init__(f"{command!r} -> {final!r}")
        self.command = command
        self.final = final

    @property
    def empty_slot(self) -> bool:
        """The addressed message slot is empty / already deleted."""
        return False

    @property
    def storage_full(self) -> bool:
        return False

    @property
    def sim_problem(self) -> bool:
        return False


class CmeError(AtError):
    """`+CME ERROR: <code>`; `code` is None when a verbose text was not in our table."""

    def __init__(self, command: str, final: str, code: int | None, text: str = "") -> None:
        super().__init__(command, final)
        self.code = code
        self.text = text

    @property
    def transient(self) -> bool:
        return self.code in _CME_TRANSIENT

    @property
    def empty_slot(self) -> bool:
        return self.code in _CME_EMPTY_SLOT

    @property
    def storage_full(self) -> bool:
        return self.code in _CME_STORAGE_FULL

    @property
    def sim_problem(self) -> bool:
        return self.code in _CME_SIM_PROBLEM


class CmsError(AtError):
    """`+CMS ERROR: <code>`; `code` is None when a verbose text was not in our table."""

    def __init__(self, command: str, final: str, code: int | None, text: str = "") -> None:
        super().__init__(command, final)
        self.code = code
        self.text = text

    @property
    def transient(self) -> bool:
        return self.code is not None and (self.code in _CMS_TRANSIENT or self.code >= 512)

    @property
    def empty_slot(self) -> bool:
        return self.code in _CMS_EMPTY_SLOT

    @property
    def storage_full(self) -> bool:
        return self.code in _CMS_STORAGE_FULL

    @property
    def sim_problem(self) -> bool:
        return self.code in _CMS_SIM_PROBLEM


def error_from_final(command: str, final: str) -> AtError:
    """Build the typed error for a non-OK final result line (pure)."""
    for prefix, cls, table in (
        ("+CME ERROR:", CmeError, _CME_TEXT),
        ("+CMS ERROR:", CmsError, _CMS_TEXT),
    ):
        if final.upper().startswith(prefix):
            detail = final[len(prefix) :].strip().strip('"')
            code: int | None
            code = int(detail) if _digits(detail) else table.get(detail.lower())
            return cls(command, final, code, detail)
    return AtError(command, final)
