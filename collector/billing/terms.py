"""A vendor's billing terms: how it counts what it bills (the model) and what a part costs
(a price table matched most-specific first). Pure; parsed by billing/config.py.

Models (docs/billing.md):
- on_submit: every part the vendor accepted is billed;
- on_success: only parts whose DLR says delivered are billed (the vendor's word decides);
- coefficient: accepted parts × a contract coefficient (e.g. 0.98), whatever arrived.

Price matching: each rule names any of carrier, profile and grade (the channel grade: the
profile's category, otp | notification | marketing). A rule matches a probe when every
field it names equals the probe's; of the matching rules the most specific wins, ranked by
which fields it names as a binary number carrier=4, profile=2, grade=1 (so carrier+grade
beats profile+grade beats carrier alone), and no rule matches: the vendor's base price.
Two rules naming the same fields with the same values are a config error, so the ranking
never has a tie.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from collector.probes.content import PROFILES

DEFAULT_CURRENCY = "CNY"
MATCH_FIELDS = ("carrier", "profile", "grade")
_WEIGHT = {"carrier": 4, "profile": 2, "grade": 1}


class Model(enum.StrEnum):
    ON_SUBMIT = "on_submit"
    ON_SUCCESS = "on_success"
    COEFFICIENT = "coefficient"


def grade_of(profile: str) -> str:
    """The channel grade a vendor prices a profile at: its content category ("" unknown)."""
    p = PROFILES.get(profile)
    return p.category.value if p is not None else ""


@dataclass(frozen=True, slots=True)
class PriceRule:
    price: float
    carrier: str = ""
    profile: str = ""
    grade: str = ""

    @property
    def rank(self) -> int:
        return sum(w for f, w in _WEIGHT.items() if getattr(self, f))

    def matches(self, carrier: str, profile: str, grade: str) -> bool:
        return (
            (not self.carrier or self.carrier == carrier)
            and (not self.profile or self.profile == profile)
            and (not self.grade or self.grade == grade)
        )

    def fields(self) -> dict[str, str]:
        return {f: getattr(self, f) for f in MATCH_FIELDS if getattr(self, f)}


@dataclass(frozen=True, slots=True)
class VendorTerms:
    vendor: str
    model: Model = Model.ON_SUCCESS
    price: float = 0.0  # base price per part: no rule matches
    coefficient: float = 1.0  # model coefficient only
    currency: str = DEFAULT_CURRENCY
    rules: tuple[PriceRule, ...] = ()
    source: str = ""  # the key it was read from (billing.vendors.X, or a legacy key)

    def price_of(self, carrier: str, profile: str, grade: str | None = None) -> float:
        """Money per part for a probe to `carrier` with `profile` (grade: its category)."""
        g = grade_of(profile) if grade is None else grade
        best: PriceRule | None = None
        for rule in self.rules:
            if rule.matches(carrier, profile, g) and (best is None or rule.rank > best.rank):
                best = rule
        return best.price if best is not None else self.price

    def highest_price(self) -> float:
        """The most a part can cost: what the daily probe budget plans with."""
        return max([self.price, *(r.price for r in self.rules)])

    def to_json(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "model": self.model.value,
            "price": self.price,
            "coefficient": self.coefficient,
            "currency": self.currency,
            "rules": [{**r.fields(), "price": r.price} for r in self.rules],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VendorTerms:
        rules = tuple(
            PriceRule(price=float(r["price"]), **{f: str(r.get(f, "")) for f in MATCH_FIELDS})
            for r in data.get("rules", ())
        )
        return cls(
            vendor=str(data["vendor"]),
            model=Model(data["model"]),
            price=float(data["price"]),
            coefficient=float(data["coefficient"]),
            currency=str(data["currency"]),
            rules=rules,
        )


def duplicate_rule(rules: Sequence[PriceRule]) -> tuple[int, int] | None:
    """Indexes (earlier, later) of two rules naming the same fields with the same values."""
    seen: dict[tuple[str, ...], int] = {}
    for i, r in enumerate(rules):
        key = tuple(getattr(r, f) for f in MATCH_FIELDS)
        if key in seen:
            return seen[key], i
        seen[key] = i
    return None
