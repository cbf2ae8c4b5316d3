"""The only place measurement, tag and field names live (InfluxDB, derived from the ledger).

A field never changes type: flags are integers 0/1 (so InfluxQL `mean()` gives a rate on
InfluxDB 1.x, 2.x and 3.x alike), durations floats in seconds, counts integers, labels
strings. Tags are low-cardinality identifiers only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FieldType = Literal["float", "int", "str"]


@dataclass(frozen=True, slots=True)
class Measurement:
    name: str
    tags: tuple[str, ...]
    fields: dict[str, FieldType]


PROBE = Measurement(
    "probe",
    # line: home | mvno | ported | unknown (collector/reports/lines.py); iccid: the SIM
    ("vendor", "carrier", "mvno", "region", "site", "agent", "profile", "line", "iccid"),
    {
        "latency_s": "float",
        "vendor_delay_s": "float",
        "carrier_delay_s": "float",
        "delivered": "int",
        "verdict": "str",
        "dlr_status": "str",
        "fake_dlr": "int",
        "intact": "int",
    },
)

ARRIVAL = Measurement(
    "arrival",
    ("vendor", "carrier", "region", "profile", "window"),
    {
        "sent": "int",
        "delivered": "int",
        "lost": "int",
        "partial": "int",  # long messages with parts missing: outside the rate
        "parts_missing": "int",
        "inconclusive": "int",
        "rate": "float",
        "ci_low": "float",
        "ci_high": "float",
        "p50_s": "float",
        "p95_s": "float",
    },
)

MODEM = Measurement(
    "modem",
    ("agent", "site", "iccid", "carrier"),
    {"rssi_dbm": "float", "registered": "int", "storage_used": "int", "healthy": "int"},
)

AGENT = Measurement(
    "agent",
    ("agent", "site"),
    {
        "outbox_depth": "int",
        "clock_offset_ms": "float",
        "clock_uncertainty_ms": "float",
        "up": "int",
    },
)

# One point per arrived probe, at its arrival, by the channel it came over
# (collector/channels): channel = sender code/PID (what a change of channel changes), smsc =
# the SMSC address of the PDU (it follows the SIM's network).
CHANNEL = Measurement(
    "channel",
    ("vendor", "carrier", "profile", "channel", "smsc"),
    {"arrived": "int", "latency_s": "float", "dcs": "int"},
)

# The collector's own health (collector/health): one point per unit and per probed vendor
# each pass; `measured` 0 is a not-measured span of that vendor.
COLLECTOR_UNIT = Measurement(
    "collector_unit",
    ("instance", "unit", "kind"),
    {"up": "int", "state": "str", "failures": "int", "restarts": "int"},
)

COLLECTOR_VENDOR = Measurement("collector_vendor", ("instance", "vendor"), {"measured": "int"})

MEASUREMENTS = {
    m.name: m for m in (PROBE, ARRIVAL, MODEM, AGENT, CHANNEL, COLLECTOR_UNIT, COLLECTOR_VENDOR)
}
ARRIVAL_WINDOWS_S = {"5m": 300, "1h": 3600}
