"""Per-modem health judgement: pure, over what the modem answered (docs/modems.md).

The receiver gathers `HealthInputs` on an interval (+CSQ/+CESQ, +CREG/+CEREG/+C5GREG,
+COPS, +CPIN, +CPMS) and `judge` turns them into a `ModemHealth` record with stable reason
codes. A reason in `WARNINGS` is reported but does not make the modem unhealthy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agent.wire.records import ModemHealth, Registration

# TS 27.007 §7.3 <AcT>.
RAT_NAMES: Mapping[int, str] = {
    0: "GSM",
    1: "GSM_COMPACT",
    2: "UTRAN",
    3: "EGPRS",
    4: "HSDPA",
    5: "HSUPA",
    6: "HSPA",
    7: "LTE",
    8: "EC-GSM-IoT",
    9: "NB-IoT",
    10: "LTE-5GC",
    11: "NR-5GC",
    12: "NG-RAN",
    13: "EN-DC",
}
_NR_SA = frozenset({11, 12})

# TS 27.007 §7.2 <stat> values grouped (6/7 are SMS-only registrations).
_HOME = frozenset({1, 6, 9})
_ROAMING = frozenset({5, 7, 10})

WARNINGS = frozenset({"storage_high"})
STORAGE_HIGH_FRACTION = 0.8  # alarm when used >= 80 % (docs/modems.md, "Full storage")


@dataclass(frozen=True, slots=True)
class RegState:
    domain: str  # CREG | CGREG | CEREG | C5GREG
    stat: int
    act: int | None = None


@dataclass(frozen=True, slots=True)
class StorageState:
    storage: str
    used: int
    total: int


@dataclass(frozen=True, slots=True)
class HealthInputs:
    at_ns: int
    responding: bool
    rssi_dbm: float | None = None
    ber: int | None = None
    registrations: tuple[RegState, ...] = ()
    operator_mcc_mnc: str = ""
    operator_act: int | None = None
    sim_state: str = ""  # READY | SIM PIN | NOT INSERTED | ... ("" = unknown)
    storages: tuple[StorageState, ...] = ()
    settings_lost: bool = False
    iccid: str = ""
    last_sms_at_ns: int = 0
    watching_since_ns: int = 0  # when the agent started watching this modem
    extra_reasons: tuple[str, ...] = field(default=())


def combined_registration(regs: Sequence[RegState]) -> tuple[Registration, int | None]:
    """One registration over all domains: SMS may work over CS (CREG), SGs/IMS (CEREG) or
    NAS-5GC, so registered in any domain counts (docs/modems.md)."""
    best: tuple[int, Registration, int | None] = (0, Registration.UNKNOWN, None)
    rank = {
        Registration.HOME: 6,
        Registration.ROAMING: 5,
        Registration.DENIED: 4,
        Registration.SEARCHING: 3,
        Registration.NOT_REGISTERED: 2,
        Registration.UNKNOWN: 1,
    }
    for reg in regs:
        if reg.stat in _HOME:
            value = Registration.HOME
        elif reg.stat in _ROAMING:
            value = Registration.ROAMING
        elif reg.stat == 3:
            value = Registration.DENIED
        elif reg.stat == 2:
            value = Registration.SEARCHING
        elif reg.stat == 0:
            value = Registration.NOT_REGISTERED
        else:
            value = Registration.UNKNOWN
        if rank[value] > best[0]:
            best = (rank[value], value, reg.act)
    return best[1], best[2]


def _registered(reg: RegState) -> bool:
    return reg.stat in _HOME or reg.stat in _ROAMING


def judge(inputs: HealthInputs, expected_sms_interval_s: float = 0.0) -> ModemHealth:
    """Health and reason codes; `expected_sms_interval_s` > 0 enables no_sms_for_too_long."""
    reasons: list[str] = list(inputs.extra_reasons)
    if not inputs.responding:
        reasons.insert(0, "not_responding")
        return ModemHealth(
            at_ns=inputs.at_ns,
            responding=False,
            healthy=False,
            reasons=tuple(dict.fromkeys(reasons)),
            last_sms_at_ns=inputs.last_sms_at_ns,
            iccid=inputs.iccid,
        )
    registration, act = combined_registration(inputs.registrations)
    if act is None:
        act = inputs.operator_act
    if inputs.sim_state and inputs.sim_state.upper() != "READY":
        reasons.append("sim_not_ready")
    if registration is Registration.DENIED:
        reasons.append("registration_denied")
    elif registration not in (Registration.HOME, Registration.ROAMING):
        reasons.append("not_registered")
    else:
        # Registered only on NR standalone: SMS over NAS/IMS on 5G SA is often not offered
        # by the network or the module, so nothing arrives while all looks fine.
        legacy = [r for r in inputs.registrations if r.domain != "C5GREG" and _registered(r)]
        nr = [r for r in inputs.registrations if r.domain == "C5GREG" and _registered(r)]
        if nr and not legacy and (act in _NR_SA or act is None):
            reasons.append("5g_sa_no_sms")
    used = total = 0
    for s in inputs.storages:
        used += s.used
        total += s.total
        if s.total > 0 and s.used >= s.total:
            reasons.append("storage_full")
        elif s.total > 0 and s.used >= STORAGE_HIGH_FRACTION * s.total:
            reasons.append("storage_high")
    if inputs.settings_lost:
        reasons.append("settings_lost")
    if expected_sms_interval_s > 0:
        since = max(inputs.last_sms_at_ns, inputs.watching_since_ns)
        if since and inputs.at_ns - since > expected_sms_interval_s * 1e9:
            reasons.append("no_sms_for_too_long")
    unique = tuple(dict.fromkeys(reasons))
    return ModemHealth(
        at_ns=inputs.at_ns,
        responding=True,
        rssi_dbm=float("nan") if inputs.rssi_dbm is None else float(inputs.rssi_dbm),
        ber=-1 if inputs.ber is None else inputs.ber,
        registration=registration,
        rat=RAT_NAMES.get(act, "") if act is not None else "",
        operator_mcc_mnc=inputs.operator_mcc_mnc,
        sim_state=inputs.sim_state,
        storage_used=used,
        storage_total=total,
        healthy=not [r for r in unique if r not in WARNINGS],
        reasons=unique,
        last_sms_at_ns=inputs.last_sms_at_ns,
        iccid=inputs.iccid,
    )
