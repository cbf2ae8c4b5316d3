"""The demo's collector config prices its vendors in [billing] (so its report shows money,
not 0.00), and the probe budget prices each probe by the vendor's table."""

from __future__ import annotations

import random
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from collector.billing.config import billing_of
from collector.billing.terms import Model
from collector.config import parse_config
from collector.demo.configs import collector_toml
from collector.probes.config import parse_probes
from collector.probes.scheduler import Scheduler, Target
from tests.collector.correlation.test_scheduler import at_local, run


def test_the_demo_config_prices_every_vendor(tmp_path: Path) -> None:
    ports = {"acme": 1, "cheap": 2, "bolt": 3, "gate": 4}
    text = collector_toml(tmp_path, 7443, 8480, ports, 60.0, 1)
    config = parse_config(tomllib.loads(text), file="collector.toml", base_dir=tmp_path)
    billing = billing_of(config)
    acme, cheap, bolt = (billing.terms(v) for v in ("acme", "cheap", "bolt"))
    assert (acme.model, cheap.model, bolt.model) == (
        Model.ON_SUCCESS, Model.ON_SUBMIT, Model.COEFFICIENT)  # fmt: skip
    assert acme.price_of("china_telecom", "notification") == 0.045
    assert acme.price_of("china_mobile", "notification") == 0.040
    assert bolt.coefficient == 0.98 and bolt.price_of("china_mobile", "marketing") == 0.040
    assert all(billing.terms(v).price > 0 for v in ("acme", "cheap", "bolt"))

    probes = parse_probes(config.raw_section("probes"), file="collector.toml",
                          vendor_names=set(config.vendors))  # fmt: skip
    assert probes is not None
    budget = {p.name: p.price_per_part for p in billing.budget_plans(probes).plans}
    assert (budget["acme"], budget["cheap"], budget["bolt"]) == (0.045, 0.025, 0.040)


def test_the_daily_budget_prices_each_probe_as_billing_does(tmp_path: Path) -> None:
    """The scheduler's budget counts each probe at its price from the vendor's table (the
    one pricing function), not a flat price: the demo's acme costs more to China Telecom
    than to China Mobile, and the day's spending stops at the budget with those prices."""
    text = collector_toml(
        tmp_path, 7443, 8480, {"acme": 1, "cheap": 2, "bolt": 3, "gate": 4}, 60.0, 1
    )
    config = parse_config(tomllib.loads(text), file="collector.toml", base_dir=tmp_path)
    billing = billing_of(config)
    probes = parse_probes(config.raw_section("probes"), file="collector.toml",
                          vendor_names=set(config.vendors))  # fmt: skip
    assert probes is not None
    (acme,) = [p for p in billing.budget_plans(probes).plans if p.name == "acme"]
    acme = replace(acme, profiles=("notification",), interval_s=30, rate_per_s=100)
    targets = [Target("8613800000001", carrier="china_mobile"),
               Target("8613300000002", carrier="china_telecom")]  # fmt: skip
    start = at_local(24, 12)
    s = Scheduler([acme], targets, start_ns=start, rng=random.Random(7),
                  parts_of={("acme", "notification"): 1}, daily_budget=2.0)  # fmt: skip
    sent = run(s, start, 3600 * 5, step_s=2)
    terms = billing.terms("acme")
    assert {(p.target.carrier, p.cost) for p in sent} == {
        ("china_mobile", terms.price_of("china_mobile", "notification")),
        ("china_telecom", terms.price_of("china_telecom", "notification"))}  # fmt: skip
    assert terms.price_of("china_mobile", "notification") != terms.highest_price()
    spent = sum(p.cost for p in sent)
    assert 2.0 - 0.05 <= spent <= 2.0 + 1e-9 and s.spent(start) == pytest.approx(spent)
