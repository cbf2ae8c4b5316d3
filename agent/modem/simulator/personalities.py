"""Per-model behaviour of the simulated modem, as data: quirks are profile data.

Profile names match firmware-config/*.toml. Strings follow the vendor notes in
docs/modems.md; some are reported by users rather than documented and were not verified
against each vendor manual, and are kept here the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EmptyRead(StrEnum):
    """What AT+CMGR / AT+CMGD answer for an empty slot (TS 27.005 §3.4.3, §3.5.4)."""

    OK = "ok"  # plain OK, no +CMGR line (most modems)
    CMS_321 = "cms321"  # +CMS ERROR: 321 invalid memory index
    CMS_500 = "cms500"  # Huawei-style catch-all


class AlphaField(StrEnum):
    """How the empty <alpha> of PDU-mode +CMGR/+CMGL is written (TS 27.005 §3.4.3 variants)."""

    EMPTY = "empty"  # +CMGR: 0,,25
    QUOTED = "quoted"  # +CMGR: 0,"",25 (python-gsmmodem PR #27 logs; unverified)
    ABSENT = "absent"  # +CMGR: 0,25 (gammu tests; +CMGR only, +CMGL keeps the field)


class IccidStyle(StrEnum):
    BARE = "bare"  # "89860..." on its own line (SIM800 AT+CCID)
    PREFIXED = "prefixed"  # "<prefix> 89860..." e.g. "+QCCID: 8986..."
    SWAPPED = "swapped"  # Huawei ^ICCID: nibble-swapped on some firmware


@dataclass(frozen=True)
class IccidCommand:
    command: str  # command name as typed after AT, upper case, e.g. "+QCCID" or "^ICCID?"
    prefix: str  # response prefix, "" for bare
    style: IccidStyle


@dataclass(frozen=True)
class BootUrc:
    """A line emitted after power-on; at_s is seconds after power-on (scaled by timing)."""

    line: str
    at_s: float


@dataclass(frozen=True)
class Personality:
    name: str
    manufacturer: str
    model: str
    revision: str
    iccid_commands: tuple[IccidCommand, ...]
    cmgr_empty: EmptyRead
    cmgd_empty: EmptyRead
    index_base: int  # first storage index (Huawei sticks number slots from 0; unverified)
    boot_urcs: tuple[BootUrc, ...]
    sms_ready_s: float  # SMS commands fail with sms_not_ready_cms until then
    sms_not_ready_cms: int
    noise_urcs: tuple[str, ...]  # periodic vendor noise (Huawei ^RSSI ...), empty = none
    full_urc: str | None  # vendor "storage full" URC, {mem} is replaced
    default_mems: tuple[str, str, str]
    me_capacity: int
    cnmi_default: tuple[int, int, int, int, int]
    cnmi_test: str  # AT+CNMI=? line; values outside are rejected (TS 27.005 §3.4.1)
    cnmi_supported: tuple[tuple[int, ...], ...]
    cmee_default: int
    reset_reenumerates: bool  # AT+CFUN=1,1 makes the USB device (and pty) disappear
    supported_mems: tuple[str, ...]
    imsi_prefixed: bool = False  # "+CIMI: ..." variant (unverified)
    alpha_field: AlphaField = AlphaField.EMPTY

    def ati_lines(self, imei: str) -> tuple[str, ...]:
        return (
            f"Manufacturer: {self.manufacturer}",
            f"Model: {self.model}",
            f"Revision: {self.revision}",
            f"IMEI: {imei}",
            "+GCAP: +CGSM",
        )


_CNMI_FULL = ((0, 1, 2, 3), (0, 1, 2, 3), (0, 1, 2, 3), (0, 1, 2), (0, 1))

_QUECTEL_BOOT = (
    BootUrc("RDY", 0.5),
    BootUrc("+CFUN: 1", 0.8),
    BootUrc("+CPIN: READY", 1.0),
    BootUrc("+QUSIM: 1", 1.1),
    BootUrc("+QIND: SMS DONE", 3.0),
    BootUrc("+QIND: PB DONE", 3.5),
)
_SIMCOM_LTE_BOOT = (
    BootUrc("RDY", 0.5),
    BootUrc("+CPIN: READY", 1.0),
    BootUrc("SMS DONE", 3.0),
    BootUrc("PB DONE", 3.5),
)
_SIM800_BOOT = (
    BootUrc("RDY", 0.3),
    BootUrc("+CFUN: 1", 0.5),
    BootUrc("+CPIN: READY", 1.0),
    BootUrc("Call Ready", 2.5),
    BootUrc("SMS Ready", 3.0),
)
_HUAWEI_BOOT = (
    BootUrc("^BOOT:12345678,0,0,0,75", 0.5),
    BootUrc("+CPIN: READY", 1.0),
    BootUrc("^SIMST: 1", 1.2),
    BootUrc("^SRVST: 2", 2.0),
)
_UBLOX_BOOT = (BootUrc("+CPIN: READY", 1.5),)

_GENERIC = Personality(
    name="generic",
    manufacturer="SMSPROBE",
    model="SIM-MODEM",
    revision="SIM 1.0",
    iccid_commands=(IccidCommand("+CCID", "+CCID:", IccidStyle.PREFIXED),),
    cmgr_empty=EmptyRead.OK,
    cmgd_empty=EmptyRead.OK,
    index_base=1,
    boot_urcs=(BootUrc("RDY", 0.5), BootUrc("+CPIN: READY", 1.0), BootUrc("SMS DONE", 2.0)),
    sms_ready_s=2.0,
    sms_not_ready_cms=302,
    noise_urcs=(),
    full_urc=None,
    default_mems=("SM", "SM", "SM"),
    me_capacity=100,
    cnmi_default=(0, 0, 0, 0, 0),
    cnmi_test="+CNMI: (0-3),(0-3),(0-3),(0-2),(0,1)",
    cnmi_supported=_CNMI_FULL,
    cmee_default=0,
    reset_reenumerates=False,
    supported_mems=("SM", "ME", "MT", "SR"),
)


def _quectel(name: str, model: str, revision: str) -> Personality:
    return Personality(
        name=name,
        manufacturer="Quectel",
        model=model,
        revision=revision,
        iccid_commands=(
            IccidCommand("+QCCID", "+QCCID:", IccidStyle.PREFIXED),
            IccidCommand("+CCID", "+CCID:", IccidStyle.PREFIXED),
        ),
        cmgr_empty=EmptyRead.OK,
        cmgd_empty=EmptyRead.OK,
        index_base=0,
        boot_urcs=_QUECTEL_BOOT,
        sms_ready_s=3.0,
        sms_not_ready_cms=500,
        noise_urcs=('+QIND: "csq",{rssi},99',),
        full_urc=None,
        default_mems=("ME", "ME", "ME"),  # Quectel default storage is often ME
        me_capacity=255,
        cnmi_default=(2, 1, 0, 0, 0),
        cnmi_test="+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)",
        cnmi_supported=((0, 1, 2), (0, 1, 2, 3), (0, 2), (0, 1, 2), (0, 1)),
        cmee_default=1,
        reset_reenumerates=True,  # CFUN=1,1 re-enumerates USB
        supported_mems=("SM", "ME", "MT", "SR"),
    )


_PERSONALITIES: dict[str, Personality] = {
    "generic": _GENERIC,
    "quectel_ec25": _quectel("quectel_ec25", "EC25", "EC25EFAR06A06M4G"),
    "quectel_eg25": _quectel("quectel_eg25", "EG25", "EG25GGBR07A08M2G"),
    "simcom_sim7600": Personality(
        name="simcom_sim7600",
        manufacturer="SIMCOM INCORPORATED",
        model="SIMCOM_SIM7600G-H",
        revision="LE20B04SIM7600G22",
        iccid_commands=(
            IccidCommand("+CICCID", "+ICCID:", IccidStyle.PREFIXED),
            IccidCommand("+ICCID", "+ICCID:", IccidStyle.PREFIXED),
        ),
        cmgr_empty=EmptyRead.OK,
        cmgd_empty=EmptyRead.OK,
        index_base=0,
        boot_urcs=_SIMCOM_LTE_BOOT,
        sms_ready_s=3.0,
        sms_not_ready_cms=500,
        noise_urcs=(),
        full_urc="+SMS FULL",
        default_mems=("SM", "SM", "SM"),
        me_capacity=255,
        cnmi_default=(2, 1, 0, 0, 0),
        cnmi_test="+CNMI: (0-2),(0-3),(0,2),(0-2),(0-1)",
        cnmi_supported=((0, 1, 2), (0, 1, 2, 3), (0, 2), (0, 1, 2), (0, 1)),
        cmee_default=0,
        reset_reenumerates=True,
        supported_mems=("SM", "ME", "MT", "SR"),
    ),
    "simcom_sim800": Personality(
        name="simcom_sim800",
        manufacturer="SIMCOM_Ltd",
        model="SIMCOM_SIM800C",
        revision="Revision:1418B05SIM800C24",
        iccid_commands=(IccidCommand("+CCID", "", IccidStyle.BARE),),
        cmgr_empty=EmptyRead.OK,
        cmgd_empty=EmptyRead.OK,
        index_base=1,
        boot_urcs=_SIM800_BOOT,
        alpha_field=AlphaField.QUOTED,
        sms_ready_s=3.0,
        sms_not_ready_cms=302,
        noise_urcs=(),
        full_urc=None,
        default_mems=("SM", "SM", "SM"),
        me_capacity=50,
        cnmi_default=(2, 1, 0, 0, 0),
        cnmi_test="+CNMI: (0-3),(0-3),(0,2),(0-2),(0,1)",
        cnmi_supported=((0, 1, 2, 3), (0, 1, 2, 3), (0, 2), (0, 1, 2), (0, 1)),
        cmee_default=0,
        reset_reenumerates=False,  # UART module behind a USB bridge: just prints boot URCs
        supported_mems=("SM", "ME", "SR"),
    ),
    "huawei_e3372": Personality(
        name="huawei_e3372",
        manufacturer="huawei",
        model="E3372",
        revision="21.180.01.00.00",
        iccid_commands=(IccidCommand("^ICCID?", "^ICCID:", IccidStyle.SWAPPED),),
        cmgr_empty=EmptyRead.CMS_321,
        cmgd_empty=EmptyRead.OK,
        index_base=0,
        boot_urcs=_HUAWEI_BOOT,
        sms_ready_s=2.5,
        sms_not_ready_cms=500,
        noise_urcs=(
            "^RSSI: {rssi}",
            "^MODE: 7,17",
            '^HCSQ: "LTE",55,40,120,25',
            "^BOOT:20952372,0,0,0,75",  # older Huawei sticks repeat it (gammu logs)
        ),
        full_urc='^SMMEMFULL: "{mem}"',
        default_mems=("SM", "SM", "SM"),
        me_capacity=100,
        cnmi_default=(0, 0, 0, 0, 0),
        cnmi_test="+CNMI: (0,1,2),(0,1,2,3),(0,2),(0,1,2),(0,1)",
        cnmi_supported=((0, 1, 2), (0, 1, 2, 3), (0, 2), (0, 1, 2), (0, 1)),
        cmee_default=0,
        reset_reenumerates=True,
        supported_mems=("SM", "ME", "SR"),
    ),
    "huawei_me909": Personality(
        name="huawei_me909",
        manufacturer="Huawei Technologies Co., Ltd.",
        model="ME909s-821",
        revision="11.617.04.00.00",
        iccid_commands=(IccidCommand("^ICCID?", "^ICCID:", IccidStyle.PREFIXED),),
        cmgr_empty=EmptyRead.CMS_321,
        cmgd_empty=EmptyRead.OK,
        index_base=0,
        boot_urcs=_HUAWEI_BOOT,
        sms_ready_s=2.5,
        sms_not_ready_cms=500,
        noise_urcs=("^RSSI: {rssi}", '^HCSQ: "LTE",50,38,110,22'),
        full_urc='^SMMEMFULL: "{mem}"',
        default_mems=("SM", "SM", "SM"),
        me_capacity=100,
        cnmi_default=(0, 0, 0, 0, 0),
        # No stored status reports (ds=2): agents must fall back (TS 27.005 §3.4.1).
        cnmi_test="+CNMI: (0,1,2),(0,1,2,3),(0,2),(0,1),(0,1)",
        cnmi_supported=((0, 1, 2), (0, 1, 2, 3), (0, 2), (0, 1), (0, 1)),
        cmee_default=0,
        reset_reenumerates=True,
        supported_mems=("SM", "ME", "SR"),
    ),
    "ublox_lara_r2": Personality(
        name="ublox_lara_r2",
        manufacturer="u-blox",
        model="LARA-R280",
        revision="30.31",
        iccid_commands=(IccidCommand("+CCID", "+CCID:", IccidStyle.PREFIXED),),
        cmgr_empty=EmptyRead.CMS_321,
        cmgd_empty=EmptyRead.CMS_321,
        index_base=1,
        boot_urcs=_UBLOX_BOOT,
        sms_ready_s=4.0,
        sms_not_ready_cms=314,
        noise_urcs=(),
        full_urc=None,
        default_mems=("ME", "ME", "ME"),
        me_capacity=150,
        cnmi_default=(1, 0, 0, 0, 0),
        cnmi_test="+CNMI: (0-2),(0-3),(0-3),(0-2),(0,1)",
        cnmi_supported=((0, 1, 2), (0, 1, 2, 3), (0, 1, 2, 3), (0, 1, 2), (0, 1)),
        cmee_default=0,
        reset_reenumerates=True,
        supported_mems=("SM", "ME", "MT", "SR"),
        alpha_field=AlphaField.ABSENT,
    ),
}


def personality_names() -> tuple[str, ...]:
    return tuple(_PERSONALITIES)


def get_personality(name: str) -> Personality:
    try:
        return _PERSONALITIES[name]
    except KeyError:
        known = ", ".join(sorted(_PERSONALITIES))
        raise ValueError(f"unknown modem profile {name!r} (known: {known})") from None
