"""Named misbehaviours of the simulated modem (docs/modems.md, "What the simulator reproduces").

Each fault is a name plus numeric parameters; `probability` decides, with the modem's
seeded RNG, whether a fault fires on a given occasion, so a seed reproduces a run.
"""

from __future__ import annotations

import math
import random
from enum import StrEnum


class Fault(StrEnum):
    URC_MID_RESPONSE = "urc_mid_response"  # a URC inside a command's response
    LOST_URC = "lost_urc"  # +CMTI not sent for some messages
    GARBAGE_BYTES = "garbage_bytes"  # random bytes between lines
    SLOW_FINAL = "slow_final"  # final result delayed by delay_s
    MISSING_FINAL = "missing_final"  # final result never sent for some commands
    HANG = "hang"  # stops answering until AT+CFUN=1,1
    HARD_HANG = "hard_hang"  # ignores AT+CFUN=1,1 too: needs a power-cycle
    PORT_VANISH = "port_vanish"  # pty closes, reappears after `seconds` (USB re-enumeration)
    STORAGE_FULL = "storage_full"  # receive storage reports full
    PARTS_OUT_OF_ORDER = "parts_out_of_order"  # concatenated parts delivered shuffled
    DUPLICATE_DELIVERY = "duplicate_delivery"  # the same PDU stored twice, in two slots
    NOT_REGISTERED = "not_registered"  # +CREG: 0,0 / 0,2 and no delivery
    SIM_MISSING = "sim_missing"  # +CPIN: NOT INSERTED, CME 10 / CMS 310
    # Beyond the list, from the failure modes in docs/modems.md:
    SPLIT_WRITES = "split_writes"  # output split at random byte offsets, small delays
    DUPLICATE_URC = "duplicate_urc"  # the same +CMTI twice for one message
    REBOOT_MID_RESPONSE = "reboot_mid_response"  # half a response, then boot URCs (once)
    SLOW_SEND = "slow_send"  # AT+CMGS answered after delay_s (congested cell, poor signal)


# Defaults chosen so that a fault switched on without parameters is visible in a demo
# within a few commands; tests pass probability=1 to make it deterministic.
_DEFAULTS: dict[Fault, dict[str, float]] = {
    Fault.URC_MID_RESPONSE: {"probability": 0.5},
    Fault.LOST_URC: {"probability": 0.5},
    Fault.GARBAGE_BYTES: {"probability": 0.3, "max_bytes": 8},
    Fault.SLOW_FINAL: {"probability": 1.0, "delay_s": 2.0},
    Fault.MISSING_FINAL: {"probability": 0.2},
    Fault.HANG: {},
    Fault.HARD_HANG: {},
    Fault.PORT_VANISH: {"after_s": 0.0, "seconds": 5.0, "repeat_s": 0.0},
    Fault.STORAGE_FULL: {},
    Fault.PARTS_OUT_OF_ORDER: {"probability": 1.0},
    Fault.DUPLICATE_DELIVERY: {"probability": 1.0},
    Fault.NOT_REGISTERED: {"stat": 0.0},
    Fault.SIM_MISSING: {},
    Fault.SPLIT_WRITES: {"probability": 1.0, "max_delay_s": 0.02},
    Fault.DUPLICATE_URC: {"probability": 0.5},
    Fault.REBOOT_MID_RESPONSE: {"probability": 1.0},
    Fault.SLOW_SEND: {"delay_s": 20.0},
}


def fault_names() -> tuple[str, ...]:
    return tuple(f.value for f in Fault)


def parse_fault(spec: str) -> tuple[Fault, dict[str, float]]:
    """`name[:key=value,...]`, e.g. `slow_final:delay_s=3` or `lost_urc:probability=1`."""
    name, _, rest = spec.partition(":")
    try:
        fault = Fault(name.strip())
    except ValueError:
        raise ValueError(f"unknown fault {name!r} (known: {', '.join(fault_names())})") from None
    params: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"fault parameter {item!r} in {spec!r} is not key=value")
        params[key.strip()] = float(value)
    check_params(fault, params)
    return fault, params


def check_params(fault: Fault, params: dict[str, float]) -> None:
    # float("nan") and float("inf") parse; a nan probability or an infinite delay does not
    # simulate anything.
    bad = sorted(k for k, v in params.items() if not math.isfinite(v))
    if bad:
        raise ValueError(f"parameter(s) {bad} for fault {fault.value} must be finite numbers")
    unknown = set(params) - set(_DEFAULTS[fault])
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {sorted(unknown)} for fault {fault.value} "
            f"(known: {sorted(_DEFAULTS[fault])})"
        )


class FaultSet:
    """The faults currently switched on for one modem, with their parameters."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._on: dict[Fault, dict[str, float]] = {}

    def enable(self, fault: Fault, **params: float) -> None:
        check_params(fault, params)
        self._on[fault] = {**_DEFAULTS[fault], **params}

    def disable(self, fault: Fault) -> None:
        self._on.pop(fault, None)

    def active(self, fault: Fault) -> bool:
        return fault in self._on

    def param(self, fault: Fault, key: str) -> float:
        return self._on.get(fault, _DEFAULTS[fault])[key]

    def fires(self, fault: Fault) -> bool:
        """Active and the seeded coin says yes this time."""
        if fault not in self._on:
            return False
        probability = self._on[fault].get("probability", 1.0)
        return probability >= 1.0 or self._rng.random() < probability

    def snapshot(self) -> dict[str, dict[str, float]]:
        return {f.value: dict(p) for f, p in self._on.items()}
