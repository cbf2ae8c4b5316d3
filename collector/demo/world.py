"""The demo's world: two agents, their nine modems, the four vendors and what they send."""

from __future__ import annotations

from dataclasses import dataclass

SIGNATURE = "探针科技"

# agent id -> (site, region)
AGENTS = {"east-1": ("hangzhou-idc", "east"), "west-1": ("chengdu-idc", "west")}

# The vendor simulator's protocol of each demo vendor (the collector is configured for these).
DEMO_PROTOCOLS = {"acme": "aliyun", "cheap": "http", "bolt": "smpp", "gate": "cmpp3"}

# gate: a "106" platform reached over CMPP 3.0 (China Mobile's gateway protocol).
GATE_SP = "901234"  # CMPP Source_Addr: the SP's 6-digit enterprise code
GATE_SECRET = "gate-secret"
GATE_SRC_ID = "10690404"  # the 106 number + extension submits carry

# acme's approved templates: one per probe profile it sends, worded exactly like the profile
# (vendor ContentProfile value, template code, probe profile)
ACME_TEMPLATES = (
    ("verification_code", "SMS_ACME_CODE", "verification_code"),
    ("notification", "SMS_ACME_NOTE", "notification"),
    ("long", "SMS_ACME_LONG", "long_ucs2"),
)


@dataclass(frozen=True)
class DemoModem:
    name: str
    agent: str
    profile: str
    msisdn: str  # national
    imsi: str
    iccid: str
    imei: str
    operator: str
    line: str  # the kind of line it is (collector/reports/lines.py): what the demo must show
    reserve: bool = False  # in the rotation's reserve pool: no lanes of its own


# Each agent's lines: (name, number segment, IMSI PLMN, ICCID prefix, kind of line).
_LINES = {
    "east-1": (
        ("cm", "138", "46000", "898600", "home"),
        ("cu", "130", "46001", "898601", "home"),
        ("ct", "189", "46011", "898611", "home"),
        ("mvno", "170", "46001", "898601", "mvno"),  # a 170 MVNO number on Unicom's network
        ("cm-reserve", "150", "46000", "898600", "home"),  # China Mobile reserve pool
    ),
    "west-1": (
        ("cm", "138", "46000", "898600", "home"),
        ("cu", "130", "46001", "898601", "home"),
        ("ct", "189", "46011", "898611", "home"),
        # a China Mobile segment (139) ported to China Telecom: its IMSI is Telecom's
        ("ported", "139", "46011", "898611", "ported"),
    ),
}
_PROFILES = {
    "east-1": ("quectel_ec25", "simcom_sim7600", "huawei_e3372", "ublox_lara_r2", "quectel_eg25"),
    "west-1": ("quectel_eg25", "huawei_me909", "generic", "simcom_sim800"),
}


def demo_modems() -> list[DemoModem]:
    out = []
    for a, agent in enumerate(AGENTS):
        for i, (kind, prefix, plmn, iccid_prefix, line) in enumerate(_LINES[agent]):
            n = a * 10 + i + 1
            out.append(
                DemoModem(
                    name=f"{agent}-{kind}",
                    agent=agent,
                    profile=_PROFILES[agent][i],
                    msisdn=f"{prefix}{n:08d}",
                    imsi=f"{plmn}{n:010d}",
                    iccid=f"{iccid_prefix}{n:013d}",
                    imei=f"86{n:013d}",
                    operator=plmn,
                    line=line,
                    reserve=kind.endswith("-reserve"),
                )
            )
    return out


_CARRIERS = {"46000": "china_mobile", "46001": "china_unicom", "46011": "china_telecom"}


def carrier_of(modem: DemoModem) -> str:
    """The carrier serving the SIM (its IMSI's), as the collector names it."""
    return _CARRIERS[modem.operator]


def reserve_pool() -> dict[str, list[str]]:
    """The rotation's reserve pool per carrier (the IMSI's): national MSISDNs."""
    pool: dict[str, list[str]] = {}
    for m in demo_modems():
        if m.reserve:
            pool.setdefault(carrier_of(m), []).append(m.msisdn)
    return pool
