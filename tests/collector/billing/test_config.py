"""[billing]: models, the price table's most-specific match, currencies, the invoice
column mapping, the older price keys, and errors naming file, key and what was expected."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from agent.common.tomlconfig import ConfigError
from collector.billing.config import parse_billing
from collector.billing.terms import Model

TABLE = """
currency = "cny"
[vendors.acme]
model = "coefficient"
coefficient = 0.98
price = 0.040
[[vendors.acme.prices]]
carrier = "china_telecom"
price = 0.050
[[vendors.acme.prices]]
grade = "marketing"
price = 0.060
[[vendors.acme.prices]]
carrier = "china_telecom"
grade = "marketing"
price = 0.070
[[vendors.acme.prices]]
profile = "verification_code"
price = 0.030
[[vendors.acme.prices]]
carrier = "china_mobile"
profile = "verification_code"
price = 0.025
[vendors.bolt]
model = "on_submit"
price = 0.035
currency = "usd"
[vendors.bolt.invoice]
message_id = "msgid"
parts = "计费条数"
encoding = "gbk"
"""


def _parse(text: str, **kw: Any) -> Any:
    return parse_billing(tomllib.loads(text), file="c.toml", **kw)


def test_the_most_specific_rule_sets_the_price() -> None:
    b = _parse(TABLE)
    acme = b.terms("acme")
    assert (acme.model, acme.coefficient, acme.currency) == (Model.COEFFICIENT, 0.98, "CNY")
    # (carrier, profile) -> price: base, carrier, grade, carrier+grade, profile, carrier+profile
    cases = {
        ("china_unicom", "notification"): 0.040,
        ("china_telecom", "notification"): 0.050,
        ("china_unicom", "marketing"): 0.060,
        ("china_telecom", "marketing"): 0.070,
        ("china_telecom", "verification_code"): 0.050,  # carrier (4) beats profile (2)
        ("china_unicom", "verification_code"): 0.030,
        ("china_mobile", "verification_code"): 0.025,
    }
    for (carrier, profile), price in cases.items():
        assert acme.price_of(carrier, profile) == price, (carrier, profile)
    assert acme.highest_price() == 0.070
    bolt = b.terms("bolt")
    assert (bolt.model, bolt.currency, bolt.coefficient) == (Model.ON_SUBMIT, "USD", 1.0)
    m = b.invoice_mapping("bolt")
    assert (m.message_id, m.parts, m.amount, m.encoding) == ("msgid", "计费条数", "amount", "gbk")
    assert m.explicit == {"message_id", "parts"}
    assert b.terms("nobody").price == 0.0 and "nobody" not in b.vendors


def test_the_grade_is_the_profiles_category() -> None:
    from collector.billing.terms import grade_of

    assert grade_of("verification_code") == "otp"
    assert grade_of("notification") == "notification"
    assert grade_of("no_such_profile") == ""


def test_older_price_keys_still_price_a_vendor() -> None:
    b = parse_billing(
        {},
        file="c.toml",
        reports={"prices": {"acme": 0.045}},
        probes={"vendors": {"acme": {"price_per_part": 0.04}, "cheap": {"price_per_part": 0.02}}},
    )
    assert b.terms("acme").price == 0.045  # [reports.prices] over price_per_part
    assert b.terms("acme").source == "reports.prices.acme"
    assert (b.terms("cheap").price, b.terms("cheap").model) == (0.02, Model.ON_SUCCESS)


@pytest.mark.parametrize(
    ("text", "legacy", "message"),
    [
        ('[vendors.a]\nmodel = "per_click"\nprice = 1', {},
         'c.toml: billing.vendors.a.model: expected one of "on_submit", "on_success", '
         '"coefficient", got "per_click"'),
        ('[vendors.a]\nmodel = "coefficient"\nprice = 1', {},
         "c.toml: billing.vendors.a.coefficient: expected a number from 0.0 to 1.0, got nothing"),
        ('[vendors.a]\nmodel = "coefficient"\ncoefficient = 1.2\nprice = 1', {},
         "c.toml: billing.vendors.a.coefficient: expected a number from 0.0 to 1.0, got 1.2"),
        ('[vendors.a]\nmodel = "on_submit"\ncoefficient = 0.9\nprice = 1', {},
         'c.toml: billing.vendors.a.coefficient: expected no coefficient unless model = '
         '"coefficient", got 0.9'),
        ("[vendors.a]\nprice = -1", {},
         "c.toml: billing.vendors.a.price: expected a number >= 0.0, got -1"),
        ("[vendors.a]\nmodel = \"on_submit\"", {},
         "c.toml: billing.vendors.a.price: expected a number >= 0.0, got nothing"),
        ("[vendors.a]\nprice = 1\n[[vendors.a.prices]]\nprice = 2", {},
         "c.toml: billing.vendors.a.prices[0]: a price rule names none of carrier, profile, "
         "grade (that is the vendor's `price`)"),
        ('[vendors.a]\nprice = 1\n[[vendors.a.prices]]\ngrade = "vip"\nprice = 2', {},
         'c.toml: billing.vendors.a.prices[0].grade: expected one of "otp", "notification", '
         '"marketing", got "vip"'),
        ('[vendors.a]\nprice = 1\n[[vendors.a.prices]]\ncarrier = "x"\nprice = 2\n'
         '[[vendors.a.prices]]\ncarrier = "x"\nprice = 3', {},
         "c.toml: billing.vendors.a.prices[1]: names the same carrier as "
         "billing.vendors.a.prices[0] (one price per match)"),
        ('[vendors.a]\nprice = 1\n[[vendors.a.prices]]\ncarrier = "x"\nprice = 2\nprize = 2', {},
         "c.toml: billing.vendors.a.prices[0].prize: unknown key (known here: carrier, grade, "
         "price, profile)"),
        ('currency = "元"', {}, 'c.toml: billing.currency: expected a currency code such as '
         '"CNY", got "元"'),
        ('[vendors.a]\nprice = 1\n[vendors.a.invoice]\nencoding = "klingon"', {},
         'c.toml: billing.vendors.a.invoice.encoding: expected a text encoding such as "utf-8" '
         'or "gbk", got "klingon"'),
        ('[vendors.a]\nprice = 1\n[vendors.a.invoice]\nmessage_id = ""', {},
         'c.toml: billing.vendors.a.invoice.message_id: expected the header of the message-id '
         'column, got ""'),
        ("[vendors.a]\nprice = 1", {"reports": {"prices": {"a": 0.5}}},
         "c.toml: billing.vendors.a: this vendor is also priced by reports.prices.a: keep its "
         "price in [billing] only"),
        ("", {"probes": {"vendors": {"a": {"price_per_part": "cheap"}}}},
         'c.toml: probes.vendors.a.price_per_part: expected a number >= 0.0, got "cheap"'),
    ],
)  # fmt: skip
def test_errors_name_the_file_the_key_and_what_was_expected(
    text: str, legacy: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        _parse(text, **legacy)
    assert str(err.value) == message
