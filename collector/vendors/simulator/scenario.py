"""Vendor-simulator scenarios: the knobs, read strictly from TOML/JSON, and the pure decisions
made from them (submit policy, each accepted message's fate, content rewriting).

Over 500 lines on purpose: the knobs, their strict reader and the pure decisions made from
them are one vocabulary; each decision is a small function tested alone in milliseconds.

Everything here is a function of (scenario, inputs, seeded RNG, simulated time): no I/O, no
clock reads, so the statistics a scenario produces can be tested by drawing thousands of
fates in milliseconds. Knobs: docs/vendors.md, "The vendor simulator".
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.common.tomlconfig import ConfigError, Table, load_json, load_toml
from collector.vendors.base import ContentProfile, DlrStatus, RejectReason, sms_parts
from collector.vendors.simulator.channels import ChannelPlan, parse_channel_plan
from collector.vendors.smpp.server import ReceiptForm

__all__ = [
    "CHINA_TZ",
    "UNSUBSCRIBE_SUFFIX",
    "Carrier",
    "DailyCaps",
    "Fate",
    "FateKind",
    "Knobs",
    "Latency",
    "Outage",
    "OutageMode",
    "PeakBand",
    "PlannedDlr",
    "PushFormat",
    "Rewrite",
    "Scenario",
    "SignatureMode",
    "SubmitCheck",
    "Subscriber",
    "TokenBucket",
    "UnsubscribeMode",
    "VendorProtocol",
    "VendorScenario",
    "carrier_for_msisdn",
    "check_submit",
    "decide_fate",
    "load_scenario",
    "parse_scenario",
    "render_template",
    "rewrite_content",
]

CHINA_TZ = timezone(timedelta(hours=8))
UNSUBSCRIBE_SUFFIX = "拒收请回复R"  # marketing opt-out (docs/vendors.md)
_SIGNATURE = re.compile(r"^【([^】]*)】")
_LINK = re.compile(r"https?://[^\s，。、】]+")
_MSISDN = re.compile(r"^(?:\+?86)?(1\d{10})$")


class Carrier(StrEnum):
    CMCC = "cmcc"
    CUCC = "cucc"
    CTCC = "ctcc"
    CBN = "cbn"
    UNKNOWN = "unknown"


# MIIT allocation as of 2023-03 (docs/vendors.md, "Number plan"); 4-digit entries first.
_PREFIX_TABLE = {
    Carrier.CTCC: "1700 1701 1702 1349 133 149 153 162 173 177 180 181 189 190 191 193 199",
    Carrier.CMCC: "1703 1705 1706 134 135 136 137 138 139 147 148 150 151 152 157 158 159 165"
    " 172 178 182 183 184 187 188 195 197 198",
    Carrier.CUCC: "1704 1707 1708 1709 130 131 132 145 146 155 156 166 167 171 175 176 185 186 196",
    Carrier.CBN: "192",
}
_PREFIXES: Mapping[str, Carrier] = MappingProxyType(
    {prefix: carrier for carrier, spec in _PREFIX_TABLE.items() for prefix in spec.split()}
)


def carrier_for_msisdn(msisdn: str) -> Carrier:
    """Carrier by number prefix. Wrong for ported numbers: the simulator uses it only to pick
    per-carrier knobs when a subscriber does not name its carrier."""
    match = _MSISDN.match(msisdn)
    if match is None:
        return Carrier.UNKNOWN
    national = match.group(1)
    return _PREFIXES.get(national[:4]) or _PREFIXES.get(national[:3]) or Carrier.UNKNOWN


class SmscAlphabet(StrEnum):
    """What an SMPP vendor reads data_coding 0 as, the "SMSC default alphabet"
    (SMPP 3.4 §5.2.19): GSM 03.38 septets one per octet (the common case), or Latin-1."""

    GSM7 = "gsm7"
    LATIN1 = "latin1"


class VendorProtocol(StrEnum):
    HTTP = "http"  # the 253-style aggregator API (simulator/http_api.py)
    SMPP = "smpp"
    ALIYUN = "aliyun"  # Alibaba Cloud SMS (simulator/cloud_api.py)
    TENCENT = "tencent"  # Tencent Cloud SMS (simulator/cloud_api.py)
    CMPP2 = "cmpp2"  # China's carrier gateways (simulator/gateway_api.py)
    CMPP3 = "cmpp3"
    SGIP = "sgip"
    SMGP = "smgp"

    @property
    def is_gateway(self) -> bool:
        return self in _GATEWAY_PROTOCOLS


_GATEWAY_PROTOCOLS = frozenset(
    {VendorProtocol.CMPP2, VendorProtocol.CMPP3, VendorProtocol.SGIP, VendorProtocol.SMGP}
)


class LatencyDist(StrEnum):
    FIXED = "fixed"
    LOGNORMAL = "lognormal"


@dataclass(frozen=True, slots=True)
class Latency:
    dist: LatencyDist = LatencyDist.LOGNORMAL
    median_s: float = 4.0
    sigma: float = 0.6

    def draw(self, rng: random.Random) -> float:
        if self.dist is LatencyDist.FIXED:
            return self.median_s
        return rng.lognormvariate(math.log(self.median_s), self.sigma)


@dataclass(frozen=True, slots=True)
class PeakBand:
    """Local hours [start_h, end_h) in the scenario's time zone during which latency is
    multiplied."""

    start_h: int
    end_h: int
    multiplier: float

    def covers(self, hour: int) -> bool:
        if self.start_h <= self.end_h:
            return self.start_h <= hour < self.end_h
        return hour >= self.start_h or hour < self.end_h  # band across midnight


class SignatureMode(StrEnum):
    KEEP = "keep"
    REPLACE = "replace"  # a reseller swaps in its own signature
    APPEND = "append"  # a second 【signature】 at the end
    MOVE_TO_END = "move_to_end"


class UnsubscribeMode(StrEnum):
    NEVER = "never"
    MARKETING = "marketing"
    ALWAYS = "always"  # a violation on notifications, for the detector to find


@dataclass(frozen=True, slots=True)
class Rewrite:
    p_apply: float = 1.0
    signature: SignatureMode = SignatureMode.KEEP
    replacement_signature: str = ""
    rewrite_links_to: str = ""  # "" = links untouched
    unsubscribe: UnsubscribeMode = UnsubscribeMode.NEVER
    truncate_at: int = 0  # characters; 0 = off
    # character -> same-length substitute (content filters masking words, look-alikes)
    replace_chars: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Knobs:
    """Per vendor x carrier behaviour of the network behind a vendor (4.5 knob table)."""

    p_arrive: float = 0.97
    latency: Latency = field(default_factory=Latency)
    peak_bands: tuple[PeakBand, ...] = ()
    dlr_latency: Latency = field(default_factory=lambda: Latency(median_s=3.0, sigma=0.5))
    p_fake_delivered: float = 0.0  # DELIVRD for a message that never arrives
    p_false_failure: float = 0.0  # UNDELIV for a message that did arrive
    p_missing_dlr: float = 0.0
    p_duplicate_dlr: float = 0.0
    p_late_dlr: float = 0.0
    late_dlr_delay_s: float = 4 * 86400.0  # beyond the 72 h window
    p_dlr_before_arrival: float = 0.0  # DELIVRD claimed before the handset has it
    p_enroute_after_final: float = 0.0  # an intermediate ENROUTE after the final
    p_contradicting_final: float = 0.0  # a second final of the opposite kind, a minute later
    p_out_of_order_dlr: float = 0.0  # all receipts sent at the last one's time, newest first
    p_part_lost: float = 0.0  # one part of a long message never arrives (4.5 "Splitting")
    known_number_p_arrive: float | None = None  # vendors learn test numbers (4.3, TelQ)
    rewrite: Rewrite = field(default_factory=Rewrite)
    # The fee the vendor reports (Tencent Fee, 253 data.fee, Alibaba sms_size) is the
    # 70/67 rule's parts plus fee_inflated_by for this share of messages (truth: fee_inflated)
    p_fee_inflated: float = 0.0
    fee_inflated_by: int = 1


class PushFormat(StrEnum):
    JSON = "json"  # POST a JSON array (Alibaba/Tencent style, 2.1/2.2)
    QUERY = "query"  # GET with a query string (253/Chuanglan style, 2.3)


class OutageMode(StrEnum):
    REFUSE = "refuse"  # submits fail (HTTP 503 / SMPP RSYSERR)
    BLACKHOLE = "blackhole"  # submits accepted, nothing arrives, no DLR


@dataclass(frozen=True, slots=True)
class Outage:
    """A window in seconds of simulated time since the scenario started."""

    start_s: float
    end_s: float
    mode: OutageMode = OutageMode.REFUSE

    def covers(self, elapsed_s: float) -> bool:
        return self.start_s <= elapsed_s < self.end_s


@dataclass(frozen=True, slots=True)
class VendorScenario:
    name: str
    protocol: VendorProtocol = VendorProtocol.HTTP
    port: int = 0  # listening port; 0 = a free ephemeral port
    account: str = "probe"
    password: str = "secret"
    request_secret: str | None = None  # set: submits must carry an HMAC signature
    dlr_push_url: str | None = None
    dlr_push_secret: str | None = None
    dlr_push_format: PushFormat = PushFormat.JSON
    dlr_push_retry_s: tuple[float, ...] = (60.0, 300.0, 600.0)  # Alibaba SmsReport: 1/5/10 min
    smpp_receipt_form: ReceiptForm = ReceiptForm.TEXT_AND_TLV  # how SMPP receipts travel
    sgip_report_to: str | None = None  # SGIP: HOST:PORT of the SP's report listener
    smpp_default_alphabet: SmscAlphabet = SmscAlphabet.GSM7  # data_coding 0 (§5.2.19)
    sender_prefix: str = "1069"
    sender_ext: str = "0001"
    signature_required: bool = True
    approved_signatures: tuple[str, ...] = ()  # empty: any signature is approved
    templates: Mapping[str, str] = field(default_factory=dict)
    rejected_templates: tuple[str, ...] = ()
    code_daily_cap: int = 10  # verification codes per number per day (Alibaba 10/day, 0.5)
    throttle_tps: float = 0.0  # 0: unlimited
    throttle_burst: int = 10
    # Messages per second the vendor's route carries; accepted messages beyond it wait in a
    # FIFO queue, so delay grows with load (0: unlimited). The truth has each queue delay.
    capacity_tps: float = 0.0
    marketing_hours: tuple[int, int] = (8, 21)
    outages: tuple[Outage, ...] = ()
    knobs: Knobs = field(default_factory=Knobs)
    carrier_knobs: Mapping[Carrier, Knobs] = field(default_factory=dict)
    channel_plan: ChannelPlan = field(default_factory=ChannelPlan)  # simulator/channels.py

    @property
    def sender(self) -> str:
        return self.sender_prefix + self.sender_ext

    def knobs_for(self, carrier: Carrier) -> Knobs:
        return self.carrier_knobs.get(carrier, self.knobs)

    def outage_at(self, elapsed_s: float) -> Outage | None:
        return next((o for o in self.outages if o.covers(elapsed_s)), None)


@dataclass(frozen=True, slots=True)
class Subscriber:
    msisdn: str
    modem: str
    carrier: Carrier  # from config (ported numbers) or by prefix
    known_test_number: bool = False


@dataclass(frozen=True, slots=True)
class Scenario:
    seed: int = 0
    speedup: float = 1.0  # simulated seconds per wall second
    start_at: datetime | None = None  # simulated start; None = wall clock at start
    # The zone of peak bands, marketing hours, daily caps and a zone-less start_at: the
    # collector's [probes] timezone, so the simulated peak is the report's peak.
    timezone: str = "Asia/Shanghai"
    vendors: Mapping[str, VendorScenario] = field(default_factory=dict)
    subscribers: Mapping[str, Subscriber] = field(default_factory=dict)

    def subscriber(self, msisdn: str) -> Subscriber | None:
        match = _MSISDN.match(msisdn)
        return self.subscribers.get(match.group(1)) if match else None


# --------------------------------------------------------------------------- parsing


def _latency(t: Table | None, default: Latency) -> Latency:
    if t is None:
        return default
    dist = t.get_enum("dist", LatencyDist, default.dist)
    if dist is LatencyDist.LOGNORMAL:  # log(0) has no lognormal: only a fixed one may be 0
        median_s = t.get_float("median_s", default.median_s, above=0.0)
    else:
        median_s = t.get_float("median_s", default.median_s, min_value=0.0)
    latency = Latency(
        dist=dist, median_s=median_s, sigma=t.get_float("sigma", default.sigma, min_value=0.0)
    )
    t.finish()
    return latency


def _p(t: Table, key: str, default: float) -> float:
    return t.get_float(key, default, min_value=0.0, max_value=1.0, expected="a probability 0..1")


def _replace_chars(t: Table) -> Mapping[str, str]:
    table = t.get_str_map("replace_chars")
    for old, new in table.items():
        if len(old) != 1 or len(new) != 1:
            raise t.error(f"replace_chars.{old}", "one character replacing one character", new)
    return table


def _knobs(t: Table, base: Knobs) -> Knobs:
    bands: list[PeakBand] = []
    for b in t.get_tables("peak_bands"):
        bands.append(
            PeakBand(
                start_h=b.get_int("start_h", min_value=0, max_value=23),
                end_h=b.get_int("end_h", min_value=0, max_value=24),
                multiplier=b.get_float("multiplier", min_value=0.0),
            )
        )
        b.finish()
    rw_t = t.get_table("rewrite")
    rewrite = base.rewrite
    if rw_t is not None:
        rewrite = Rewrite(
            p_apply=_p(rw_t, "p_apply", base.rewrite.p_apply),
            signature=rw_t.get_enum("signature", SignatureMode, base.rewrite.signature),
            replacement_signature=rw_t.get_str(
                "replacement_signature", base.rewrite.replacement_signature
            ),
            rewrite_links_to=rw_t.get_str("rewrite_links_to", base.rewrite.rewrite_links_to),
            unsubscribe=rw_t.get_enum("unsubscribe", UnsubscribeMode, base.rewrite.unsubscribe),
            truncate_at=rw_t.get_int("truncate_at", base.rewrite.truncate_at, min_value=0),
            replace_chars=_replace_chars(rw_t)
            if rw_t.has("replace_chars")
            else base.rewrite.replace_chars,
        )
        rw_t.finish()
    known = t.get_optional_float("known_number_p_arrive", min_value=0.0, max_value=1.0)
    knobs = Knobs(
        p_arrive=_p(t, "p_arrive", base.p_arrive),
        latency=_latency(t.get_table("latency"), base.latency),
        peak_bands=tuple(bands) if t.has("peak_bands") else base.peak_bands,
        dlr_latency=_latency(t.get_table("dlr_latency"), base.dlr_latency),
        p_fake_delivered=_p(t, "p_fake_delivered", base.p_fake_delivered),
        p_false_failure=_p(t, "p_false_failure", base.p_false_failure),
        p_missing_dlr=_p(t, "p_missing_dlr", base.p_missing_dlr),
        p_duplicate_dlr=_p(t, "p_duplicate_dlr", base.p_duplicate_dlr),
        p_late_dlr=_p(t, "p_late_dlr", base.p_late_dlr),
        late_dlr_delay_s=t.get_float("late_dlr_delay_s", base.late_dlr_delay_s, min_value=0.0),
        p_dlr_before_arrival=_p(t, "p_dlr_before_arrival", base.p_dlr_before_arrival),
        p_enroute_after_final=_p(t, "p_enroute_after_final", base.p_enroute_after_final),
        p_contradicting_final=_p(t, "p_contradicting_final", base.p_contradicting_final),
        p_out_of_order_dlr=_p(t, "p_out_of_order_dlr", base.p_out_of_order_dlr),
        p_part_lost=_p(t, "p_part_lost", base.p_part_lost),
        known_number_p_arrive=known
        if t.has("known_number_p_arrive")
        else base.known_number_p_arrive,
        rewrite=rewrite,
        p_fee_inflated=_p(t, "p_fee_inflated", base.p_fee_inflated),
        fee_inflated_by=t.get_int("fee_inflated_by", base.fee_inflated_by, min_value=1),
    )
    return knobs


_KNOB_KEYS = frozenset(
    {
        "p_arrive",
        "latency",
        "peak_bands",
        "dlr_latency",
        "p_fake_delivered",
        "p_false_failure",
        "p_missing_dlr",
        "p_duplicate_dlr",
        "p_late_dlr",
        "late_dlr_delay_s",
        "p_dlr_before_arrival",
        "p_enroute_after_final",
        "p_contradicting_final",
        "p_out_of_order_dlr",
        "p_part_lost",
        "known_number_p_arrive",
        "rewrite",
        "p_fee_inflated",
        "fee_inflated_by",
    }
)


def _vendor(name: str, t: Table) -> VendorScenario:
    knobs_t = t.get_table("knobs")
    knobs = Knobs()
    if knobs_t is not None:
        knobs = _knobs(knobs_t, knobs)
        knobs_t.finish()
    carrier_knobs: dict[Carrier, Knobs] = {}
    carriers_t = t.get_table("carriers")
    if carriers_t is not None:
        for carrier in Carrier:
            sub = carriers_t.get_table(carrier.value)
            if sub is not None:
                carrier_knobs[carrier] = _knobs(sub, knobs)
                sub.finish()
        carriers_t.finish()
    outages: list[Outage] = []
    for o in t.get_tables("outages"):
        start_s = o.get_float("start_s", min_value=0.0)
        outage = Outage(
            start_s=start_s,
            end_s=o.get_float("end_s", above=start_s, expected=f"a number > start_s ({start_s})"),
            mode=o.get_enum("mode", OutageMode, OutageMode.REFUSE),
        )
        o.finish()
        outages.append(outage)
    hours = t.get_int_list(
        "marketing_hours", [8, 21], min_value=0, max_value=24, min_len=2, max_len=2
    )
    vendor = VendorScenario(
        name=name,
        protocol=t.get_enum("protocol", VendorProtocol, VendorProtocol.HTTP),
        port=t.get_int("port", 0, min_value=0),
        account=t.get_str("account", "probe"),
        password=t.get_str("password", "secret"),
        request_secret=t.get_optional_str("request_secret"),
        dlr_push_url=t.get_optional_str("dlr_push_url"),
        dlr_push_secret=t.get_optional_str("dlr_push_secret"),
        dlr_push_format=t.get_enum("dlr_push_format", PushFormat, PushFormat.JSON),
        dlr_push_retry_s=t.get_float_list("dlr_push_retry_s", [60.0, 300.0, 600.0], min_value=0.0),
        smpp_receipt_form=t.get_enum("smpp_receipt_form", ReceiptForm, ReceiptForm.TEXT_AND_TLV),
        smpp_default_alphabet=t.get_enum("smpp_default_alphabet", SmscAlphabet, SmscAlphabet.GSM7),
        sgip_report_to=t.get_optional_str("sgip_report_to"),
        sender_prefix=t.get_str("sender_prefix", "1069"),
        sender_ext=t.get_str("sender_ext", "0001"),
        signature_required=t.get_bool("signature_required", True),
        approved_signatures=t.get_str_list("approved_signatures", [], non_empty_items=False),
        templates=t.get_str_map("templates"),
        rejected_templates=t.get_str_list("rejected_templates", [], non_empty_items=False),
        code_daily_cap=t.get_int("code_daily_cap", 10, min_value=0),
        throttle_tps=t.get_float("throttle_tps", 0.0, min_value=0.0),
        throttle_burst=t.get_int("throttle_burst", 10, min_value=1),
        capacity_tps=t.get_float("capacity_tps", 0.0, min_value=0.0),
        marketing_hours=(hours[0], hours[1]),
        outages=tuple(outages),
        knobs=knobs,
        carrier_knobs=MappingProxyType(carrier_knobs),
        channel_plan=parse_channel_plan(t),
    )
    if not vendor.sender.isdigit() or not vendor.sender.startswith("106"):
        raise t.error(
            "sender_prefix",
            "digits making a 106 service number with sender_ext",
            vendor.sender_prefix,
        )
    t.finish()
    return vendor


def parse_scenario(data: Mapping[str, object], *, file: str = "") -> Scenario:
    """Validate a scenario document (already decoded from TOML or JSON)."""
    t = Table(data, file=file)
    zone = t.get_str("timezone", "Asia/Shanghai", non_empty=True, expected="an IANA time zone")
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise t.error("timezone", "an IANA time zone such as Asia/Shanghai", zone) from None
    start_raw = t.get_optional_str("start_at")
    start_at: datetime | None = None
    if start_raw is not None:
        try:
            start_at = datetime.fromisoformat(start_raw)
        except ValueError:
            raise t.error("start_at", "an ISO 8601 time", start_raw) from None
        if start_at.tzinfo is None:
            start_at = start_at.replace(tzinfo=tz)
    speedup = t.get_float("speedup", 1.0, above=0.0)
    vendors_t = t.get_table("vendors", required=True)
    assert vendors_t is not None
    vendors: dict[str, VendorScenario] = {}
    for name in vendors_t.key_names():
        vendor_t = vendors_t.get_table(name, required=True)
        assert vendor_t is not None
        vendors[name] = _vendor(name, vendor_t)
    vendors_t.finish()
    subscribers: dict[str, Subscriber] = {}
    for s in t.get_tables("subscribers"):
        msisdn = s.get_str("msisdn", pattern=_MSISDN, expected="an 11-digit Chinese mobile")
        match = _MSISDN.match(msisdn)
        assert match is not None
        national = match.group(1)
        carrier = s.get_enum("carrier", Carrier, carrier_for_msisdn(national))
        subscribers[national] = Subscriber(
            msisdn=national,
            modem=s.get_str("modem"),
            carrier=carrier,
            known_test_number=s.get_bool("known_test_number", False),
        )
        s.finish()
    scenario = Scenario(
        seed=t.get_int("seed", 0, min_value=0),
        speedup=speedup,
        start_at=start_at,
        timezone=zone,
        vendors=MappingProxyType(vendors),
        subscribers=MappingProxyType(subscribers),
    )
    t.finish()
    return scenario


def load_scenario(path: Path) -> Scenario:
    """Read a `.toml` or `.json` scenario file."""
    data = load_json(path) if path.suffix == ".json" else load_toml(path)
    if not isinstance(data, dict):
        raise ConfigError(path.name, "", "a table at the top level", data)
    return parse_scenario(data, file=path.name)


# --------------------------------------------------------------------------- submit policy


class TokenBucket:
    """Submits per second with a burst, on simulated time passed in (never read here)."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._tokens = float(burst)
        self._last: float | None = None

    def take(self, now_s: float) -> float:
        """0.0 when a token was taken, else the seconds until one is available."""
        if self._rate <= 0:
            return 0.0
        if self._last is not None:
            self._tokens = min(self._burst, self._tokens + (now_s - self._last) * self._rate)
        self._last = now_s
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate


class DailyCaps:
    """Verification codes per number per local (UTC+8) day."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, date], int] = {}

    def count(self, msisdn: str, day: date) -> int:
        return self._counts.get((msisdn, day), 0)

    def add(self, msisdn: str, day: date) -> None:
        self._counts[(msisdn, day)] = self.count(msisdn, day) + 1


@dataclass(frozen=True, slots=True)
class SubmitCheck:
    """The outcome of submit policy: accepted (reject is None) or why not."""

    reject: RejectReason | None = None
    throttled_retry_s: float | None = None
    outage: Outage | None = None
    code: str = ""
    message: str = ""

    @property
    def accepted(self) -> bool:
        return (
            self.reject is None
            and self.throttled_retry_s is None
            and (self.outage is None or self.outage.mode is OutageMode.BLACKHOLE)
        )


def render_template(template: str, params: Mapping[str, str]) -> str:
    """`${name}` placeholders, the Alibaba/Tencent template syntax (2.1, 4.4)."""
    return re.sub(r"\$\{(\w+)\}", lambda m: params.get(m.group(1), m.group(0)), template)


def check_submit(
    vendor: VendorScenario,
    *,
    msisdn: str,
    signature: str,
    content: str,
    template_id: str | None,
    profile: ContentProfile,
    now_local: datetime,
    elapsed_s: float,
    caps: DailyCaps,
    bucket: TokenBucket,
) -> SubmitCheck:
    """The vendor's acceptance rules, in the order a Chinese aggregator applies them.
    Mutates `caps`/`bucket` only when the submit is accepted/counted."""
    outage = vendor.outage_at(elapsed_s)
    if outage is not None and outage.mode is OutageMode.REFUSE:
        return SubmitCheck(outage=outage, code="500", message="service unavailable")
    wait = bucket.take(elapsed_s)
    if wait > 0:
        return SubmitCheck(throttled_retry_s=wait, code="103", message="提交过快")
    if _MSISDN.match(msisdn) is None:
        return SubmitCheck(reject=RejectReason.NUMBER, code="106", message="号码格式错误")
    if vendor.signature_required and not signature:
        return SubmitCheck(reject=RejectReason.SIGNATURE, code="105", message="签名缺失")
    if signature and vendor.approved_signatures and signature not in vendor.approved_signatures:
        return SubmitCheck(reject=RejectReason.SIGNATURE, code="105", message="签名未报备")
    if template_id is not None and (
        template_id in vendor.rejected_templates or template_id not in vendor.templates
    ):
        return SubmitCheck(reject=RejectReason.TEMPLATE, code="104", message="模板未审核")
    if profile is ContentProfile.VERIFICATION_CODE and template_id is None and vendor.templates:
        # Verification codes go through approved templates only.
        return SubmitCheck(reject=RejectReason.TEMPLATE, code="104", message="验证码须用模板")
    if profile is ContentProfile.MARKETING:
        start_h, end_h = vendor.marketing_hours
        if not start_h <= now_local.hour < end_h:
            return SubmitCheck(reject=RejectReason.CONTENT, code="107", message="营销时段外")
        if not content.rstrip().endswith(UNSUBSCRIBE_SUFFIX):
            return SubmitCheck(reject=RejectReason.CONTENT, code="107", message="缺少退订")
    if profile is ContentProfile.VERIFICATION_CODE and vendor.code_daily_cap > 0:
        national = _MSISDN.match(msisdn)
        key = national.group(1) if national else msisdn
        if caps.count(key, now_local.date()) >= vendor.code_daily_cap:
            # Aggregator HD:29: over the per-number daily cap.
            return SubmitCheck(
                throttled_retry_s=_to_midnight(now_local), code="108", message="HD:29"
            )
        caps.add(key, now_local.date())
    return SubmitCheck(outage=outage)


def _to_midnight(now_local: datetime) -> float:
    tomorrow = (now_local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (tomorrow - now_local).total_seconds()


# --------------------------------------------------------------------------- fate


class FateKind(StrEnum):
    DELIVERED = "delivered"
    LOST = "lost"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class PlannedDlr:
    status: DlrStatus
    after_s: float  # its done time, since acceptance, simulated seconds
    send_after_s: float | None = None  # when it goes out, if not at its done time

    @property
    def sent_after_s(self) -> float:
        return self.after_s if self.send_after_s is None else self.send_after_s


@dataclass(frozen=True, slots=True)
class Fate:
    kind: FateKind
    deliver_after_s: float | None  # since acceptance; None when lost
    text: str  # as the handset will show it
    rewritten: bool
    dlrs: tuple[PlannedDlr, ...]  # in the order the vendor sends them
    fake_dlr: bool = False  # planned: DELIVRD for a message that is lost (none if missing)
    false_failure: bool = False  # planned: a failure receipt for one that arrives
    lost_part: int | None = None  # 0-based index of the part that never arrives
    queue_delay_s: float = 0.0  # waited for the vendor's capacity (part of the latency)

    def with_receiver_down(self) -> Fate:
        """The target modem was unplugged/unregistered at delivery time: the SMS is lost and
        an honest network reports EXPIRED; a faking vendor still says DELIVRD."""
        dlrs = tuple(
            d
            if self.fake_dlr or d.status is not DlrStatus.DELIVRD
            else replace(d, status=DlrStatus.EXPIRED)
            for d in self.dlrs
        )
        return replace(self, kind=FateKind.LOST, deliver_after_s=None, dlrs=dlrs)


def rewrite_content(
    text: str, rewrite: Rewrite, profile: ContentProfile, rng: random.Random
) -> str:
    """Apply a vendor's content changes to the signed text (4.5 "Content" knobs)."""
    if rewrite.p_apply < 1.0 and rng.random() >= rewrite.p_apply:
        return text
    out = text
    match = _SIGNATURE.match(out)
    if match is None and rewrite.signature is SignatureMode.REPLACE:
        out = f"【{rewrite.replacement_signature}】{out}"  # injected where there was none
    elif match is not None and rewrite.signature is not SignatureMode.KEEP:
        body = out[match.end() :]
        if rewrite.signature is SignatureMode.REPLACE:
            out = f"【{rewrite.replacement_signature}】{body}"
        elif rewrite.signature is SignatureMode.APPEND:
            out = f"{out}【{rewrite.replacement_signature}】"
        else:
            out = f"{body}{match.group(0)}"
    if rewrite.rewrite_links_to:
        out = _LINK.sub(rewrite.rewrite_links_to, out)
    wants_suffix = rewrite.unsubscribe is UnsubscribeMode.ALWAYS or (
        rewrite.unsubscribe is UnsubscribeMode.MARKETING and profile is ContentProfile.MARKETING
    )
    if wants_suffix and UNSUBSCRIBE_SUFFIX not in out:
        out = out + UNSUBSCRIBE_SUFFIX
    if rewrite.replace_chars:
        out = "".join(rewrite.replace_chars.get(ch, ch) for ch in out)
    if rewrite.truncate_at > 0:
        out = out[: rewrite.truncate_at]
    return out


def decide_fate(
    knobs: Knobs,
    *,
    text: str,
    profile: ContentProfile,
    known_number: bool,
    local_hour: int,
    blackhole: bool,
    rng: random.Random,
    queue_delay_s: float = 0.0,
) -> Fate:
    """One accepted message's fate. Draw order is fixed so a seed reproduces a run.
    `queue_delay_s`: time waiting for the vendor's capacity, added to the latency."""
    p_arrive = knobs.p_arrive
    if known_number and knobs.known_number_p_arrive is not None:
        p_arrive = knobs.known_number_p_arrive
    arrives = (not blackhole) and rng.random() < p_arrive
    latency = knobs.latency.draw(rng)
    for band in knobs.peak_bands:
        if band.covers(local_hour):
            latency *= band.multiplier
    latency += queue_delay_s
    delivered_text = rewrite_content(text, knobs.rewrite, profile, rng)
    dlr_delay = knobs.dlr_latency.draw(rng)
    # Draws happen unconditionally so one knob's value does not shift another's stream.
    fake = rng.random() < knobs.p_fake_delivered
    false_failure = rng.random() < knobs.p_false_failure
    missing = rng.random() < knobs.p_missing_dlr
    duplicate = rng.random() < knobs.p_duplicate_dlr
    late = rng.random() < knobs.p_late_dlr
    early = rng.random() < knobs.p_dlr_before_arrival
    enroute_after = rng.random() < knobs.p_enroute_after_final
    part_draw = rng.random()
    contradicting = rng.random() < knobs.p_contradicting_final
    out_of_order = rng.random() < knobs.p_out_of_order_dlr
    parts = sms_parts(delivered_text)
    lost_part = (
        int(part_draw / knobs.p_part_lost * parts)
        if arrives and parts > 1 and part_draw < knobs.p_part_lost
        else None
    )
    base_s = latency if arrives else 0.0
    dlr_at = base_s + dlr_delay + (knobs.late_dlr_delay_s if late else 0.0)
    if arrives and early and not late:
        dlr_at = max(0.0, latency - dlr_delay)
    if blackhole:
        status: DlrStatus | None = None
        fake = false_failure = False
    elif arrives:
        status = DlrStatus.UNDELIV if false_failure else DlrStatus.DELIVRD
        fake = False
    else:
        status = DlrStatus.DELIVRD if fake else DlrStatus.UNDELIV
        false_failure = False
    dlrs: tuple[PlannedDlr, ...] = ()
    if status is None or missing:
        fake = false_failure = False  # planned but never sent: nothing was claimed
    else:
        dlrs = (PlannedDlr(status, dlr_at),)
        if duplicate:
            dlrs += (PlannedDlr(status, dlr_at + dlr_delay),)
        if enroute_after:
            dlrs += (PlannedDlr(DlrStatus.ENROUTE, dlr_at + 2 * dlr_delay),)
        if contradicting:
            # A minute on, so the two are apart even in minute-precision SMPP done dates.
            other = DlrStatus.UNDELIV if status is DlrStatus.DELIVRD else DlrStatus.DELIVRD
            dlrs += (PlannedDlr(other, dlr_at + 60.0 + dlr_delay),)
        if out_of_order and len(dlrs) > 1:
            last = max(d.after_s for d in dlrs)
            dlrs = tuple(replace(d, send_after_s=last) for d in reversed(dlrs))
    return Fate(
        kind=FateKind.DELIVERED if arrives else FateKind.LOST,
        deliver_after_s=latency if arrives else None,
        text=delivered_text,
        rewritten=delivered_text != text,
        dlrs=dlrs,
        fake_dlr=fake,
        false_failure=false_failure,
        lost_part=lost_part,
        queue_delay_s=queue_delay_s,
    )
