"""The demo's collector config prices its vendors in [billing] (so its report shows money,
not 0.00), and the probe budget counts parts at the highest price of each vendor's table."""

from __future__ import annotations

import tomllib
from pathlib import Path

from collector.billing.config import billing_of
from collector.billing.terms import Model
from collector.config import parse_config
from collector.demo.configs import collector_toml
from collector.probes.config import parse_probes


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
