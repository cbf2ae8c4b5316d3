"""The demo's world: two agents, their eight modems, the three vendors and what they send."""

from __future__ import annotations

from dataclasses import dataclass

SIGNATURE = "探针科技"

# agent id -> (site, region)
AGENTS = {"east-1": ("hangzhou-idc", "east"), "west-1": ("chengdu-idc", "west")}

# The vendor simulator's protocol of each demo vendor (the collector is configured for these).
DEMO_PROTOCOLS = {"acme": "aliyun", "cheap": "http", "bolt": "smpp"}

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


def demo_modems() -> list[DemoModem]:
    out = []
    lines = (
        ("cm", "138", "46000", "898600"),
        ("cu", "130", "46001", "898601"),
        ("ct", "189", "46011", "898611"),
        ("mvno", "170", "46001", "898601"),  # a 170 MVNO number riding on Unicom's network
    )
    profiles = {
        "east-1": ("quectel_ec25", "simcom_sim7600", "huawei_e3372", "ublox_lara_r2"),
        "west-1": ("quectel_eg25", "huawei_me909", "generic", "simcom_sim800"),
    }
    for a, agent in enumerate(AGENTS):
        for i, (kind, prefix, plmn, iccid_prefix) in enumerate(lines):
            n = a * 10 + i + 1
            out.append(
                DemoModem(
                    name=f"{agent}-{kind}",
                    agent=agent,
                    profile=profiles[agent][i],
                    msisdn=f"{prefix}{n:08d}",
                    imsi=f"{plmn}{n:010d}",
                    iccid=f"{iccid_prefix}{n:013d}",
                    imei=f"86{n:013d}",
                    operator=plmn,
                )
            )
    return out
