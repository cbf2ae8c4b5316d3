"""The demo's printed view of the buyer's test plan (collector/demo/buyer.py) on a small
hand-made report, and the demo world's kinds of line as the collector derives them."""

from __future__ import annotations

from typing import Any

from collector.demo.buyer import line_lines, rotation_lines, template_lines
from collector.demo.world import carrier_of, demo_modems, reserve_pool
from collector.reports.lines import line_type


def _cell(key: dict[str, str], sent: int, delivered: int, lost: int) -> dict[str, Any]:
    content = {"intact": delivered, "modified": 0, "truncated": 0, "signature_changed": 0}
    return {"key": key, "sent": sent, "delivered": delivered, "late": 0, "lost": lost,
            "judged": delivered + lost, "content": content}  # fmt: skip


def test_the_worlds_lines_are_what_the_collector_derives() -> None:
    """Home, MVNO and ported SIMs are in the world, and segment vs IMSI gives each its kind."""
    modems = demo_modems()
    assert {m.line for m in modems} == {"home", "mvno", "ported"}
    for m in modems:
        assert line_type(m.msisdn, carrier_of(m)) == m.line, m
    assert reserve_pool() == {"china_mobile": [m.msisdn for m in modems if m.reserve]}


def test_lines_rotation_and_templates_are_counted_from_the_report() -> None:
    reserve = reserve_pool()["china_mobile"][0]
    cm = [m.msisdn for m in demo_modems() if carrier_of(m) == "china_mobile"]
    sims = [_cell({"vendor": "cheap", "line": "home", "sim": s}, 4, 3, 1) for s in cm]
    sims.append(_cell({"vendor": "bolt", "line": "home", "sim": reserve}, 1, 1, 0))
    report: dict[str, Any] = {
        "tables": {
            "vendor_line": [
                _cell({"vendor": "cheap", "line": "home"}, 12, 9, 3),
                _cell({"vendor": "cheap", "line": "ported"}, 2, 1, 1),
            ],
            "vendor_sim": sims,
            "vendor_profile": [_cell({"vendor": "cheap", "profile": "shop_ship"}, 5, 4, 1)],
        },
        "content_changes": {"cheap": {"link_rewritten": 2}},
    }
    config = {
        "probes": {
            "rotation": {"vendors": ["cheap"], "pools": {"china_mobile": [reserve]}},
            "templates": {
                "shop_ship": {
                    "text": "{shop} {order} {link}",
                    "vars": {"shop": "S"},
                    "link_domain": "t.shop.cn",
                    "link_path": "o/1",
                },
                "unsent": {"text": "{code}"},
            },
            "vendors": {"cheap": {"profiles": ["shop_ship", "unsent"]}},
        }
    }
    lines = line_lines(report)
    assert lines[1].split() == ["vendor", "home", "ported"]
    assert lines[2].split() == ["cheap", "9/12", "1/2"]
    rotation = rotation_lines(report, config, demo_modems())
    assert f"4 of {4 * len(cm)} went to reserve SIMs" in rotation[0]
    assert rotation[1].endswith("reserve SIMs probed by other vendors: bolt")
    templates = template_lines(report, config)
    assert templates[1].split() == ["shop_ship", "S", "{order}", "https://t.shop.cn/o/1"]
    assert "sent   5  arrived     4/5  intact 4; link t.shop.cn rewritten in 2" in templates[2]
    assert templates[4].split() == ["via", "cheap", "nothing", "sent"]
