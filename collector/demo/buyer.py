"""The demo's printed view of a buyer's test plan beyond the per-vendor figures: kinds of
line (home, MVNO, ported), every SIM per vendor, SIM rotation over the reserve pool and the
buyer's own templates. Pure: lines from the run's report.json (`smsprobe-collector report`),
its collector.toml and the demo world."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from collector.demo.world import DemoModem, carrier_of
from collector.reports.lines import LINE_TYPES

Cell = Mapping[str, Any]


def _arrived(cell: Cell) -> str:
    return f"{cell['delivered'] + cell['late']}/{cell['judged']}"


def _cells(report: Mapping[str, Any], table: str) -> list[Cell]:
    cells: list[Cell] = report["tables"][table]
    return cells


def line_lines(report: Mapping[str, Any]) -> list[str]:
    """Arrived/judged per vendor × kind of line."""
    cells = {(c["key"]["vendor"], c["key"]["line"]): c for c in _cells(report, "vendor_line")}
    kinds = [k for k in LINE_TYPES if any(line == k for _, line in cells)]
    out = ["kinds of line (arrived/judged; the line from the number's segment vs the SIM's IMSI):"]
    out.append("  " + f"{'vendor':8}" + "".join(f"{k:>10}" for k in kinds))
    for vendor in sorted({v for v, _ in cells}):
        row = "".join(
            f"{_arrived(cells[(vendor, k)]) if (vendor, k) in cells else '—':>10}" for k in kinds
        )
        out.append(f"  {vendor:8}{row}")
    return out


def sim_lines(report: Mapping[str, Any], modems: Sequence[DemoModem]) -> list[str]:
    """Arrived/judged per SIM and vendor, and what the per-SIM whitelisting test found."""
    cells = {(c["key"]["vendor"], c["key"]["sim"]): c for c in _cells(report, "vendor_sim")}
    vendors = sorted({v for v, _ in cells})
    out = ["SIMs (arrived/judged per vendor; the reserve pool gets only rotated probes):"]
    out.append(f"  {'SIM':12} {'modem':18} {'line':7}" + "".join(f"{v:>8}" for v in vendors))
    for m in modems:
        row = "".join(
            f"{_arrived(cells[(v, m.msisdn)]) if (v, m.msisdn) in cells else '—':>8}"
            for v in vendors
        )
        out.append(f"  {m.msisdn:12} {m.name:18} {m.line:7}{row}")
    outliers: list[Cell] = list(report.get("sim_outliers", []))
    flagged = [o for o in outliers if o["flagged"]]
    if flagged:
        for o in flagged:
            out.append(
                f"  whitelisting suspected: {o['vendor']} on {o['sim']} "
                f"({o['arrived']}/{o['judged']} vs {o['rest_arrived']}/{o['rest_judged']} "
                f"on its other SIMs, adjusted p {o['p_adjusted']:.3g})"
            )
    elif outliers:
        o = min(outliers, key=lambda o: o["p_adjusted"])
        out.append(
            f"  whitelisting test: no SIM does significantly better than its vendor's others "
            f"(closest: {o['vendor']} on {o['sim']}, adjusted p {o['p_adjusted']:.3g})"
        )
    return out


def rotation_lines(
    report: Mapping[str, Any], config: Mapping[str, Any], modems: Sequence[DemoModem]
) -> list[str]:
    """Per rotating vendor and carrier with a reserve pool: how its probes spread."""
    rotation = config.get("probes", {}).get("rotation", {})
    pools: Mapping[str, list[str]] = rotation.get("pools", {})
    reserve = {n for numbers in pools.values() for n in numbers}
    sent: dict[tuple[str, str], int] = {}
    for c in _cells(report, "vendor_sim"):
        key = (c["key"]["vendor"], c["key"]["sim"])
        sent[key] = sent.get(key, 0) + int(c["sent"])
    rotating: list[str] = rotation.get("vendors", [])
    out = []
    for vendor in rotating:
        for carrier, numbers in sorted(pools.items()):
            sims = [m.msisdn for m in modems if carrier_of(m) == carrier]
            total = sum(sent.get((vendor, s), 0) for s in sims)
            to_reserve = sum(sent.get((vendor, s), 0) for s in numbers)
            spread = ", ".join(f"{s} {sent.get((vendor, s), 0)}" for s in sims)
            out.append(
                f"SIM rotation: {vendor}'s {carrier} probes round-robin over its SIMs and the "
                f"reserve pool: {to_reserve} of {total} went to reserve SIMs ({spread})"
            )
    others = sorted({v for (v, s), n in sent.items() if s in reserve and n and v not in rotating})
    if reserve:
        out.append(
            "  reserve SIMs probed by other vendors: " + (", ".join(others) if others else "none")
        )
    return out


def template_lines(report: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """Each of the buyer's templates per vendor that sends it: sent, arrived, content."""
    probes = config.get("probes", {})
    templates: Mapping[str, Mapping[str, Any]] = probes.get("templates", {})
    if not templates:
        return []
    cells = {(c["key"]["vendor"], c["key"]["profile"]): c for c in _cells(report, "vendor_profile")}
    changes: Mapping[str, Mapping[str, int]] = report.get("content_changes", {})
    out = ["the buyer's own templates (token in the code or order number's place):"]
    for name, t in templates.items():
        text = t["text"]
        for var, value in t.get("vars", {}).items():
            text = text.replace("{" + var + "}", value)
        if t.get("link_domain"):
            text = text.replace("{link}", f"https://{t['link_domain']}/{t.get('link_path', '')}")
        out.append(f"  {name:10} {text}")
        for vendor, plan in sorted(probes.get("vendors", {}).items()):
            if name not in plan.get("profiles", ()):
                continue
            c = cells.get((vendor, name))
            if c is None:
                out.append(f"    via {vendor:6} nothing sent")
                continue
            content = ", ".join(f"{k} {n}" for k, n in c["content"].items() if n)
            row = f"    via {vendor:6} sent {c['sent']:3}  arrived {_arrived(c):>7}  {content}"
            if t.get("link_domain"):
                rewritten = changes.get(vendor, {}).get("link_rewritten", 0)
                row += f"; link {t['link_domain']} rewritten in {rewritten}"
            out.append(row)
    return out


def plan_lines(
    report: Mapping[str, Any], config: Mapping[str, Any], modems: Sequence[DemoModem]
) -> list[str]:
    """Everything above, one block after another."""
    blocks = (
        line_lines(report),
        sim_lines(report, modems),
        rotation_lines(report, config, modems),
        template_lines(report, config),
    )
    return [line for block in blocks if block for line in ("", *block)]
