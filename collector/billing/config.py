"""The [billing] section: one place for every vendor's billing model, prices and currency,
and the column mapping of its invoice/CDR files (docs/billing.md).

[billing]
currency = "CNY"                      # default of every vendor
[billing.vendors.acme]
model = "on_success"                  # on_submit | on_success | coefficient
coefficient = 0.98                    # model = "coefficient" only: parts billed per part sent
price = 0.045                         # per part, when no rule below matches
currency = "CNY"                      # this vendor's, over the default
[[billing.vendors.acme.prices]]       # 阶梯定价: most specific match wins (billing/terms.py)
carrier = "china_telecom"             # any of carrier, profile, grade (otp|notification|marketing)
grade = "marketing"
price = 0.055
[billing.vendors.acme.invoice]        # CSV columns, by header name (billing/invoice.py)
message_id = "msgid"                  # required column: the vendor's message id
parts = "计费条数"                     # billed parts ("" = one per line)
amount = "金额"                        # money billed for the line ("" = parts × our price)
billed_at = "发送时间"                 # ("" = none)
time_format = "%Y-%m-%d %H:%M:%S"     # strptime format ("" = ISO-8601)
timezone = "Asia/Shanghai"            # zone of zone-less times
delimiter = ","
encoding = "utf-8"                    # or "gbk", "gb18030"

Older keys still read, each for a vendor [billing] does not name: `[reports.prices] X =`
(model on_success, as the report used to bill) and `[probes.vendors.X] price_per_part`
(the same). A vendor priced in [billing] and in an older key is a config error naming both,
so a price lives in one place.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.common.tomlconfig import ConfigError, Table
from collector.billing.terms import (
    DEFAULT_CURRENCY,
    MATCH_FIELDS,
    Model,
    PriceRule,
    VendorTerms,
    duplicate_rule,
)
from collector.config import CollectorSettings
from collector.probes.config import ProbesConfig
from collector.probes.content import Category
from collector.reports.figures import JudgedProbe

GRADES = tuple(c.value for c in Category)


@dataclass(frozen=True, slots=True)
class InvoiceMapping:
    """Which CSV column holds what (by header name); "" = the file has no such column."""

    message_id: str = "message_id"
    parts: str = "parts"
    amount: str = "amount"
    billed_at: str = "billed_at"
    time_format: str = ""
    timezone: str = "Asia/Shanghai"
    delimiter: str = ","
    encoding: str = "utf-8"
    explicit: frozenset[str] = frozenset()  # keys written in the config: their column must exist


@dataclass(frozen=True, slots=True)
class BillingConfig:
    currency: str = DEFAULT_CURRENCY
    vendors: Mapping[str, VendorTerms] = field(default_factory=lambda: MappingProxyType({}))
    invoices: Mapping[str, InvoiceMapping] = field(default_factory=lambda: MappingProxyType({}))

    def terms(self, vendor: str) -> VendorTerms:
        """The vendor's terms; a vendor priced nowhere costs 0 (shown as unpriced)."""
        return self.vendors.get(vendor) or VendorTerms(vendor, currency=self.currency)

    def invoice_mapping(self, vendor: str) -> InvoiceMapping:
        return self.invoices.get(vendor) or InvoiceMapping()

    def base_prices(self) -> dict[str, float]:
        """vendor -> its base price (shown as the report's configured prices; every money
        figure is priced per probe by `part_price`)."""
        return {v: t.price for v, t in self.vendors.items()}

    def part_price(self, probe: JudgedProbe) -> float:
        """Money per part of `probe`: its vendor's price table (VendorTerms.price_of), the
        one price of every money figure — the report's tables and summary, its billing
        section, `cost` and billing.json (billing/statement.py) alike; 0 when unpriced."""
        return self.terms(probe.vendor).price_of(probe.carrier, probe.profile)

    def budget_prices(self) -> dict[str, float]:
        """vendor -> the highest price a part can cost, for the daily probe budget (only
        vendors priced in [billing]: an older price_per_part still budgets its own)."""
        return {
            v: t.highest_price() for v, t in self.vendors.items() if t.source.startswith("billing.")
        }

    def budget_plans(self, probes: ProbesConfig) -> ProbesConfig:
        """[probes] with each plan priced by [billing]: the scheduler's daily budget counts
        each probe at its price from the vendor's table (VendorTerms.price_of, as every
        money figure), a burst (several carriers at once) at the table's highest."""
        prices = self.budget_prices()
        plans = tuple(
            replace(p, price_per_part=prices[p.name], part_price=self.vendors[p.name].price_of)
            if p.name in prices
            else p
            for p in probes.plans
        )
        return replace(probes, plans=plans)


def _currency(t: Table, default: str) -> str:
    value = t.get_str("currency", default, expected='a currency code such as "CNY"')
    if not (3 <= len(value) <= 8 and value.isascii() and value.isalpha()):
        raise t.error("currency", 'a currency code such as "CNY"', value)
    return value.upper()


def _rules(v: Table) -> tuple[PriceRule, ...]:
    rules = []
    for r in v.get_tables("prices"):
        fields = {f: r.get_str(f, "", non_empty=False) for f in MATCH_FIELDS}
        if fields["grade"] and fields["grade"] not in GRADES:
            raise r.error("grade", "one of " + ", ".join(f'"{g}"' for g in GRADES),
                          fields["grade"])  # fmt: skip
        if not any(fields.values()):
            raise ConfigError(r.file, r.path, "", problem="a price rule names none of "
                              "carrier, profile, grade (that is the vendor's `price`)")  # fmt: skip
        rules.append(PriceRule(price=r.get_float("price", min_value=0.0), **fields))
        r.finish()
    dup = duplicate_rule(rules)
    if dup is not None:
        path = v.key_path("prices")
        raise ConfigError(v.file, f"{path}[{dup[1]}]", "",
                          problem=f"names the same {', '.join(rules[dup[1]].fields())} as "
                          f"{path}[{dup[0]}] (one price per match)")  # fmt: skip
    return tuple(rules)


def _invoice(t: Table | None) -> InvoiceMapping:
    d = InvoiceMapping()
    if t is None:
        return d
    cols = {k: t.get_str(k, getattr(d, k)) for k in ("message_id", "parts", "amount", "billed_at")}
    if not cols["message_id"]:
        raise t.error("message_id", "the header of the message-id column", "")
    tz = t.get_str("timezone", d.timezone, non_empty=True)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise t.error("timezone", 'an IANA time zone such as "Asia/Shanghai"', tz) from exc
    delimiter = t.get_str("delimiter", d.delimiter)
    if len(delimiter) != 1 or delimiter in '\r\n"':
        raise t.error("delimiter", "one character (not a quote or line break)", delimiter)
    encoding = t.get_str("encoding", d.encoding, non_empty=True)
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise t.error("encoding", 'a text encoding such as "utf-8" or "gbk"', encoding) from exc
    time_format = t.get_str("time_format", "")
    explicit = frozenset(k for k in cols if t.has(k) and cols[k])
    t.finish()
    return InvoiceMapping(**cols, time_format=time_format, timezone=tz, delimiter=delimiter,
                          encoding=encoding, explicit=explicit)  # fmt: skip


def _legacy(reports: Mapping[str, Any], probes: Mapping[str, Any]) -> dict[str, tuple[float, str]]:
    """vendor -> (price, key) from the keys [billing] replaced."""
    out: dict[str, tuple[float, str]] = {}
    vendors = probes.get("vendors")
    if isinstance(vendors, Mapping):
        for name, v in vendors.items():
            if isinstance(v, Mapping) and "price_per_part" in v:
                out[name] = (v["price_per_part"], f"probes.vendors.{name}.price_per_part")
    prices = reports.get("prices")
    if isinstance(prices, Mapping):
        for name, price in prices.items():
            out[name] = (price, f"reports.prices.{name}")
    return out


def parse_billing(
    raw: Mapping[str, Any] | None,
    *,
    file: str,
    reports: Mapping[str, Any] | None = None,
    probes: Mapping[str, Any] | None = None,
) -> BillingConfig:
    """Validate [billing] (and the older price keys of [reports] and [probes], which their
    own parsers type-check); raises ConfigError naming file and key path."""
    t = Table(raw or {}, file=file, path="billing")
    currency = _currency(t, DEFAULT_CURRENCY)
    legacy = _legacy(reports or {}, probes or {})
    terms: dict[str, VendorTerms] = {}
    invoices: dict[str, InvoiceMapping] = {}
    vt = t.get_table("vendors")
    for name in vt.key_names() if vt is not None else ():
        assert vt is not None
        v = vt.get_table(name, required=True)
        assert v is not None
        if name in legacy:
            also = legacy[name][1]
            raise ConfigError(file, vt.key_path(name), "", problem=f"this vendor is also "
                              f"priced by {also}: keep its price in [billing] only")  # fmt: skip
        model = v.get_enum("model", Model, Model.ON_SUCCESS)
        coefficient = 1.0
        if model is Model.COEFFICIENT:
            coefficient = v.get_float("coefficient", min_value=0.0, max_value=1.0)
        elif v.has("coefficient"):
            raise v.error("coefficient", 'no coefficient unless model = "coefficient"',
                          v.get_value("coefficient"))  # fmt: skip
        terms[name] = VendorTerms(
            vendor=name,
            model=model,
            price=v.get_float("price", min_value=0.0),
            coefficient=coefficient,
            currency=_currency(v, currency),
            rules=_rules(v),
            source=v.path,
        )
        invoices[name] = _invoice(v.get_table("invoice"))
        v.finish()
    if vt is not None:
        vt.finish()
    t.finish()
    for name, (price, key) in legacy.items():
        if name in terms:
            continue
        if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
            raise ConfigError(file, key, "a number >= 0.0", price)
        terms[name] = VendorTerms(name, price=float(price), currency=currency, source=key)
    return BillingConfig(
        currency=currency,
        vendors=MappingProxyType(dict(sorted(terms.items()))),
        invoices=MappingProxyType(invoices),
    )


def billing_of(settings: CollectorSettings) -> BillingConfig:
    """[billing] of a loaded collector config (collector/config.py CollectorSettings)."""
    return parse_billing(
        settings.raw_section("billing"),
        file=settings.source,
        reports=settings.raw_section("reports"),
        probes=settings.raw_section("probes"),
    )
