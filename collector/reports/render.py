"""Render a Report as one self-contained HTML file (inline SVG charts), Markdown, CSV or JSON."""

from __future__ import annotations

import csv
import html
import io
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo

from agent.common.units import NS
from collector.reports.billing import billing_lines, html_billing
from collector.reports.build import Report
from collector.reports.config import iso
from collector.reports.figures import Cell
from collector.stats import percentile

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def _pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f} %"


def _num(value: float | None, unit: str = "") -> str:
    return "—" if value is None else f"{value:.2f}{unit}"


def _ci(value: tuple[float, float] | Sequence[float] | None) -> str:
    return "" if not value else f" [{value[0]:.1f}–{value[1]:.1f}]"


def _key(cell: Cell) -> str:
    return " / ".join(cell.key.values())


# ---------------------------------------------------------------------------------- charts


def rate_chart(report: Report, width: int = 900, height: int = 300) -> str:
    """Arrival rate over time per vendor, its 95 % Wilson band, and the SLA line."""
    points = [p for series in report.rate_series.values() for p in series]
    if not points:
        return "<p class=muted>No judged probes in the period.</p>"
    left, right, top, bottom = 60, 20, 20, 40
    t0 = min(p.start_ns for p in points)
    t1 = max(p.start_ns for p in points) + report.bucket_s * NS
    lows = [p.ci_low for p in points] + [report.thresholds.arrival_rate]
    y_min = max(0.0, min(lows) - 0.02)
    y_min = min(y_min, 0.9)

    def x(t: int) -> float:
        return left + (t - t0) / max(t1 - t0, 1) * (width - left - right)

    def y(v: float) -> float:
        return top + (1 - (v - y_min) / (1 - y_min)) * (height - top - bottom)

    parts = [
        f'<svg viewBox="0 0 {width} {height}" class=chart role=img aria-label="arrival rate over time">'
    ]
    for i in range(5):
        v = y_min + (1 - y_min) * i / 4
        parts.append(
            f"<line x1={left} x2={width - right} y1={y(v):.1f} y2={y(v):.1f} class=grid />"
        )
        parts.append(
            f"<text x={left - 6} y={y(v) + 4:.1f} class=axis text-anchor=end>{v * 100:.0f}%</text>"
        )
    sla = report.thresholds.arrival_rate
    parts.append(f"<line x1={left} x2={width - right} y1={y(sla):.1f} y2={y(sla):.1f} class=sla />")
    parts.append(
        f"<text x={width - right} y={y(sla) - 4:.1f} class=axis text-anchor=end>SLA {sla * 100:.0f}%</text>"
    )
    half = report.bucket_s * NS // 2
    for i, (vendor, series) in enumerate(report.rate_series.items()):
        color = PALETTE[i % len(PALETTE)]
        band_top = " ".join(f"{x(p.start_ns + half):.1f},{y(p.ci_high):.1f}" for p in series)
        band_bottom = " ".join(
            f"{x(p.start_ns + half):.1f},{y(p.ci_low):.1f}" for p in reversed(series)
        )
        parts.append(f'<polygon points="{band_top} {band_bottom}" fill="{color}" opacity=0.15 />')
        line = " ".join(
            f"{x(p.start_ns + half):.1f},{y(p.rate):.1f}" for p in series if p.rate is not None
        )
        parts.append(f'<polyline points="{line}" fill=none stroke="{color}" stroke-width=2 />')
        parts.append(
            f'<text x={left + 10 + 140 * i} y={height - 8} fill="{color}" class=legend>'
            f"■ {html.escape(vendor)}</text>"
        )
    # in the zone the period was asked in ([reports] timezone): what the reader lives by
    tz = _zone_of(report.since)
    start = datetime.fromtimestamp(t0 / NS, tz).strftime("%Y-%m-%d %H:%M %Z")
    end = datetime.fromtimestamp(t1 / NS, tz).strftime("%Y-%m-%d %H:%M %Z")
    parts.append(f"<text x={left} y={height - 24} class=axis>{start}</text>")
    parts.append(f"<text x={width - right} y={height - 24} class=axis text-anchor=end>{end}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _zone_of(stamp: str) -> tzinfo:
    try:
        zone = datetime.fromisoformat(stamp).tzinfo
    except ValueError:
        zone = None
    return zone or UTC


def latency_chart(report: Report, width: int = 900, row: int = 36) -> str:
    """Per vendor: a strip of every latency plus p50/p95 markers, on a log-ish axis."""
    vendors = [v for v, ls in report.latencies.items() if ls]
    if not vendors:
        return "<p class=muted>No arrivals in the period.</p>"
    left, right = 120, 20
    height = row * len(vendors) + 40
    top_value = max(max(ls) for ls in report.latencies.values() if ls)
    top_value = max(top_value, 1.0)

    def x(v: float) -> float:

        return left + math.log1p(v) / math.log1p(top_value) * (width - left - right)

    parts = [
        f'<svg viewBox="0 0 {width} {height}" class=chart role=img aria-label="latency distribution">'
    ]
    for tick in (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600):
        if tick <= top_value:
            parts.append(
                f"<line x1={x(tick):.1f} x2={x(tick):.1f} y1=10 y2={height - 25} class=grid />"
            )
            parts.append(
                f"<text x={x(tick):.1f} y={height - 10} class=axis text-anchor=middle>{tick}s</text>"
            )

    for i, vendor in enumerate(vendors):
        values = report.latencies[vendor]
        cy = 20 + i * row
        color = PALETTE[i % len(PALETTE)]
        parts.append(
            f"<text x={left - 8} y={cy + 4} class=axis text-anchor=end>{html.escape(vendor)}</text>"
        )
        step = max(1, len(values) // 400)  # cap the dots; percentiles use every value
        for v in values[::step]:
            parts.append(f'<circle cx={x(v):.1f} cy={cy} r=2 fill="{color}" opacity=0.35 />')
        for q, mark in ((50, "p50"), (95, "p95")):
            pv = percentile(values, q)
            if pv is not None:
                parts.append(
                    f'<line x1={x(pv):.1f} x2={x(pv):.1f} y1={cy - 9} y2={cy + 9} stroke="#000" stroke-width=2 />'
                )
                parts.append(
                    f"<text x={x(pv) + 3:.1f} y={cy - 10} class=small>{mark} {pv:.1f}s</text>"
                )
    parts.append("</svg>")
    return "".join(parts)


def heatmap(report: Report) -> str:
    """Vendor × carrier arrival rate, coloured against the SLA."""
    cells = report.tables.get("vendor_carrier", [])
    if not cells:
        return "<p class=muted>No data.</p>"
    vendors = sorted({c.key["vendor"] for c in cells})
    carriers = sorted({c.key["carrier"] for c in cells})
    by = {(c.key["vendor"], c.key["carrier"]): c for c in cells}
    sla = report.thresholds.arrival_rate
    rows = ["<table class=heat><tr><th>vendor \\ carrier</th>"]
    rows += [f"<th>{html.escape(c)}</th>" for c in carriers]
    rows.append("</tr>")
    for v in vendors:
        rows.append(f"<tr><th>{html.escape(v)}</th>")
        for c in carriers:
            cell = by.get((v, c))
            if cell is None or cell.arrival_rate is None:
                rows.append("<td class=muted>—</td>")
                continue
            rate = cell.arrival_rate
            # green at/above the SLA, through amber to red 10 points below it
            badness = min(max((sla - rate) / 0.10, 0.0), 1.0)
            hue = 120 * (1 - badness)
            rows.append(
                f'<td style="background:hsl({hue:.0f},70%,80%)">{_pct(rate, 1)}'
                f"<br><span class=small>n={cell.judged} · {cell.sla}</span></td>"
            )
        rows.append("</tr>")
    rows.append("</table>")
    return "".join(rows)


# ---------------------------------------------------------------------------------- tables

COLUMNS: tuple[tuple[str, str], ...] = (
    ("sent", "sent"),
    ("accepted", "accepted"),
    ("accept_rate", "accept rate 发送成功率"),
    ("arrival_rate", "arrival rate 到达率"),
    ("ci", "95 % CI"),
    ("partial", "partial (parts missing)"),
    ("inconclusive", "inconcl."),
    ("rejected", "rejected"),
    ("latency", "p50 / p90 / p99 s"),
    ("split", "vendor / carrier s"),
    ("fake", "fake DLR"),
    ("false_failure", "false fail"),
    ("missing", "missing DLR"),
    ("late_dlr", "late DLR"),
    ("content", "modified / trunc. / sig."),
    ("duplicates", "dup."),
    ("sla", "SLA"),
    ("billing", "billed / verified parts (money)"),
)


def _row(cell: Cell) -> dict[str, str]:
    return {
        "sent": str(cell.sent),
        "accepted": str(cell.accepted),
        "accept_rate": _pct(cell.accept_rate),
        "arrival_rate": _pct(cell.arrival_rate),
        "ci": f"{_pct(cell.ci_low)} – {_pct(cell.ci_high)}",
        "partial": f"{cell.partial} ({cell.parts_missing})",
        "inconclusive": str(cell.inconclusive),
        "rejected": str(cell.rejected),
        "latency": " / ".join(
            _num(v) + _ci(ci)
            for v, ci in (
                (cell.latency_p50_s, cell.latency_p50_ci_s),
                (cell.latency_p90_s, cell.latency_p90_ci_s),
                (cell.latency_p99_s, cell.latency_p99_ci_s),
            )
        )
        + (f" ±{cell.latency_uncertainty_s:.2f}" if cell.latency_uncertainty_s is not None else ""),
        "split": f"{_num(cell.vendor_delay_p50_s)} / {_num(cell.carrier_delay_p50_s)}",
        "fake": f"{cell.dlr['fake_success']} ({_pct(cell.dlr_rates['fake_success'])})",
        "false_failure": f"{cell.dlr['false_failure']} ({_pct(cell.dlr_rates['false_failure'])})",
        "missing": f"{cell.dlr['missing']} ({_pct(cell.dlr_rates['missing'])})",
        "late_dlr": f"{cell.dlr['late']} ({_pct(cell.dlr_rates['late'])})",
        "content": f"{cell.content['modified']} / {cell.content['truncated']} / {cell.content['signature_changed']}",
        "duplicates": str(cell.duplicates),
        "sla": cell.sla
        + (f" (p={cell.sla_p_value:.3g})" if cell.sla_p_value is not None else "")
        + (f", ~{cell.probes_to_decide} more probes to decide" if cell.probes_to_decide else ""),
        "billing": f"{cell.billed_parts} / {cell.verified_parts} ({cell.billed_money:.2f} / {cell.verified_money:.2f}, over {cell.overbilled_money:.2f})",
    }


def _html_table(cells: Sequence[Cell], dims: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(d)}</th>" for d in dims)
    head += "".join(f"<th>{html.escape(title)}</th>" for _, title in COLUMNS)
    body = []
    for cell in cells:
        row = _row(cell)
        cls = {"breach": "breach", "met": "met"}.get(cell.sla, "")
        tds = "".join(f"<td>{html.escape(cell.key[d])}</td>" for d in dims)
        tds += "".join(f"<td>{html.escape(row[k])}</td>" for k, _ in COLUMNS)
        body.append(f"<tr class='{cls}'>{tds}</tr>")
    return (
        f"<table class=figures><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC",sans-serif;margin:2em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ccc}
.muted,.small{color:#666} .small{font-size:11px}
table{border-collapse:collapse;margin:.6em 0;font-size:12px} th,td{border:1px solid #ddd;padding:3px 6px;text-align:right}
th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}
tr.breach td{background:#fde2e2} tr.met td{background:#e6f4e6}
.heat td{text-align:center;min-width:7em}
.chart{width:100%;max-width:900px;height:auto;display:block}
.chart .grid{stroke:#e5e5e5} .chart .sla{stroke:#d62728;stroke-dasharray:6 4;stroke-width:1.5}
.chart .axis{font-size:11px;fill:#555} .chart .legend{font-size:12px} .chart .small{font-size:10px}
@media print{body{margin:1cm;font-size:10pt} h2{page-break-before:auto} table,svg{page-break-inside:avoid}
 tr.breach td{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


def render_html(report: Report) -> str:
    title = f"smsprobe SLA report {report.since} – {report.until}"
    vendor_cells = report.tables.get("vendor", [])
    summary = []
    for cell in vendor_cells:
        summary.append(
            f"<li><b>{html.escape(cell.key['vendor'])}</b>: arrival {_pct(cell.arrival_rate)} "
            f"(95 % CI {_pct(cell.ci_low)}–{_pct(cell.ci_high)}, n={cell.judged}) — SLA <b>{cell.sla}</b>; "
            f"p95 latency {_num(cell.latency_p95_s, ' s')}; fake DLRs {cell.dlr['fake_success']}; "
            f"overbilled {cell.overbilled_money:.2f}</li>"
        )
    sections = [
        ("By vendor", "vendor", ("vendor",)),
        ("By vendor × carrier", "vendor_carrier", ("vendor", "carrier")),
        ("By vendor × hour band (peak vs off-peak)", "vendor_band", ("vendor", "band")),
        ("By vendor × profile", "vendor_profile", ("vendor", "profile")),
        ("By vendor × region", "vendor_region", ("vendor", "region")),
        ("By kind of line (home network, MVNO, ported)", "line", ("line",)),
        ("By vendor × kind of line", "vendor_line", ("vendor", "line")),
        ("By vendor × SIM", "vendor_sim", ("vendor", "line", "sim")),
        (
            "Full breakdown (vendor × carrier × region × profile × band)",
            "full",
            ("vendor", "carrier", "region", "profile", "band"),
        ),
    ]
    tables = "".join(
        f"<h2>{html.escape(t)}</h2>{_html_table(report.tables.get(name, []), dims)}"
        for t, name, dims in sections
    )
    filters = ", ".join(f"{k}={v}" for k, v in report.filters.items()) or "none"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class=muted>Generated {html.escape(report.generated_at)} by smsprobe {html.escape(report.software_version)}.
Filters: {html.escape(filters)}. SLA: arrival ≥ {report.thresholds.arrival_rate * 100:.1f} %,
p95 latency ≤ {report.thresholds.p95_latency_s:.0f} s; decided by a one-sided exact binomial test at α = {report.thresholds.alpha}.
Arrival rate counts probes whose receiver was healthy; partial (a long message with parts missing), inconclusive and rejected probes are shown apart.</p>
<h2>Summary</h2><ul>{"".join(summary) or "<li>No probes in the period.</li>"}</ul>
{_html_not_measured(report)}
{_html_periods(report)}
{_html_sims(report)}
{_html_list("Content changes by vendor", content_lines(report))}
{html_billing(report)}
<h2>Arrival rate over time</h2>{rate_chart(report)}
<h2>Latency distribution</h2>{latency_chart(report)}
<h2>Vendor × carrier</h2>{heatmap(report)}
{tables}
<h2>Definitions</h2>
<p class=small>发送成功率 = accepted by the vendor API ÷ sent. 到达率 = arrived (delivered + late) ÷ (arrived + lost).
Latency = arrival at the SIM (agent clock corrected by its measured offset) − submit, ± mean measurement uncertainty;
bracketed ranges are distribution-free 95 % intervals of each percentile. Vendor/carrier split at the SMSC time stamp.
Billing: parts the vendor bills on DELIVRD reports vs parts verified delivered (70/67-character rule, signature included).
Billed parts: the vendor's own figure (fee, or one acknowledged id per part) vs the 70/67 (160/153 GSM) rule on the text sent; above the rule is inflation.
Every figure can be recomputed from an evidence bundle with <code>smsprobe-collector evidence verify</code>.</p>
</body></html>
"""


def not_measured_lines(report: Report) -> list[str]:
    """One line per vendor with gaps, then one per gap: when, how long, why."""
    lines = []
    for vendor, gaps in report.not_measured.items():
        share = report.measured_fraction(vendor)
        measured = "" if share is None else f"; measured {_pct(share)} of the period"
        excluded = report.excluded.get(vendor, 0)
        lines.append(f"{vendor}: {len(gaps)} not-measured span(s){measured}; "
                     f"{excluded} probe(s) inside them left out of the figures")  # fmt: skip
        for g in gaps:
            zone = _zone_of(report.since)
            when = f"{iso(g.start_ns, zone)} – {iso(g.end_ns, zone)}"
            lines.append(
                f"    {when} ({(g.end_ns - g.start_ns) / 1e9:.1f} s): {', '.join(g.causes)}"
            )
    return lines


def _html_not_measured(report: Report) -> str:
    if not report.not_measured:
        return ""
    items = "".join(f"<li>{html.escape(line.strip())}</li>" for line in not_measured_lines(report))
    return (
        "<h2>Not measured</h2><p class=small>Windows in which the collector did not probe or "
        "judge a vendor; rates are computed over measured time only.</p>"
        f"<ul>{items}</ul>"
    )


def period_lines(report: Report) -> list[str]:
    """The bands explained, quiet-hour suppressions, then one line per stress burst."""
    lines = list(report.periods)
    for vendor, by_profile in sorted(report.quiet_hours.items()):
        each = ", ".join(f"{profile} {n}" for profile, n in by_profile.items())
        lines.append(
            f"{vendor}: {sum(by_profile.values())} marketing send(s) held back by quiet hours"
            f" ({each})"
        )
    for b in report.bursts:
        load, base = b["under_load"], b["baseline"]
        arrival = b["tests"].get("arrival", {})
        p95 = b["tests"].get("latency_p95", {})

        def sig(t: dict[str, object]) -> str:
            return (
                ""
                if not t
                else f" (p = {t['p_value']:.3g}{', significant' if t['significant'] else ''})"
            )

        lines.append(
            f"Burst {b['burst']} through {b['vendor']} ({', '.join(b['bands'])}; "
            f"{', '.join(b['calendar'])}): {b['sent']} sent in {b['spread_s']} s, accepted "
            f"{_pct(b['accept_rate'])}, throttled {b['throttled']}; arrival "
            f"{_pct(load['arrival_rate'])} vs baseline {_pct(base['arrival_rate'])}{sig(arrival)}; "
            f"p50 {_num(load['latency_p50_s'], ' s')} vs {_num(base['latency_p50_s'], ' s')}, "
            f"p95 {_num(load['latency_p95_s'], ' s')} vs {_num(base['latency_p95_s'], ' s')}{sig(p95)}"
        )
    return lines


def _html_periods(report: Report) -> str:
    lines = period_lines(report)
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f"<h2>Periods and bursts</h2><ul class=small>{items}</ul>"


def sim_lines(report: Report) -> list[str]:
    """The per-SIM outlier test: a line per flagged SIM, or why nothing was flagged."""
    rows = report.sim_outliers
    if not rows:
        return []
    flagged = [r for r in rows if r.flagged]
    lines = [
        f"Each SIM's arrivals against its vendor's other SIMs: one-sided Fisher exact test, "
        f"Holm-adjusted per vendor, flagged at α = {report.thresholds.alpha}."
    ]
    for r in flagged:
        lines.append(
            f"{r.vendor}: SIM {r.sim} ({r.line}) {r.arrived}/{r.judged} against "
            f"{r.rest_arrived}/{r.rest_judged} on its other SIMs (p = {r.p_value:.3g}, adjusted "
            f"{r.p_adjusted:.3g}): suspected whitelisting of test numbers"
        )
    if not flagged:
        best = min(rows, key=lambda r: r.p_adjusted)
        lines.append(
            f"No SIM flagged; the strongest is {best.vendor} SIM {best.sim} {best.arrived}/"
            f"{best.judged} against {best.rest_arrived}/{best.rest_judged} "
            f"(adjusted p = {best.p_adjusted:.3g})"
        )
    return lines


def content_lines(report: Report) -> list[str]:
    """Per vendor: how many arrived probes changed, and how (a probe can show several)."""
    lines = []
    for vendor, c in report.content_changes.items():
        kinds = ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in c.items()
                          if k not in ("arrived", "changed") and n)  # fmt: skip
        lines.append(
            f"{vendor}: {c.get('changed', 0)} of {c.get('arrived', 0)} arrived probes changed"
            + (f" ({kinds})" if kinds else "")
        )
    return lines


def _html_sims(report: Report) -> str:
    lines = sim_lines(report)
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines[1:])
    return (
        f"<h2>Test numbers favoured?</h2><p class=small>{html.escape(lines[0])}</p><ul>{items}</ul>"
    )


def _html_list(title: str, lines: Sequence[str]) -> str:
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f"<h2>{html.escape(title)}</h2><ul class=small>{items}</ul>"


def render_markdown(report: Report) -> str:
    lines = [f"# smsprobe SLA report {report.since} – {report.until}", ""]
    lines.append(f"Generated {report.generated_at} by smsprobe {report.software_version}.")
    lines.append("")
    if report.not_measured:
        lines += ["## Not measured", ""]
        lines += [f"- {line.strip()}" for line in not_measured_lines(report)]
        lines.append("")
    if period_lines(report):
        lines += ["## Periods and bursts", ""]
        lines += [f"- {line}" for line in period_lines(report)]
        lines.append("")
    if content_lines(report):
        lines += ["## Content changes by vendor", ""]
        lines += [f"- {line}" for line in content_lines(report)]
        lines.append("")
    if sim_lines(report):
        lines += ["## Test numbers favoured?", ""]
        lines += [f"- {line}" for line in sim_lines(report)]
        lines.append("")
    if billing_lines(report):
        lines += ["## Billed parts: the vendor's figures against the 70/67 rule", ""]
        lines += [f"- {line}" for line in billing_lines(report)]
        lines.append("")
    for title, name in (
        ("By vendor", "vendor"),
        ("By vendor × carrier", "vendor_carrier"),
        ("By vendor × hour band", "vendor_band"),
        ("By vendor × calendar day", "vendor_calendar"),
        ("By vendor × kind of line", "vendor_line"),
        ("By vendor × SIM", "vendor_sim"),
    ):
        cells = report.tables.get(name, [])
        if not cells:
            continue
        dims = list(cells[0].key)
        lines += [f"## {title}", ""]
        lines.append("| " + " | ".join(dims + [t for _, t in COLUMNS]) + " |")
        lines.append("|" + "---|" * (len(dims) + len(COLUMNS)))
        for cell in cells:
            row = _row(cell)
            lines.append(
                "| " + " | ".join([cell.key[d] for d in dims] + [row[k] for k, _ in COLUMNS]) + " |"
            )
        lines.append("")
    return "\n".join(lines)


def render_csv(report: Report) -> str:
    out = io.StringIO()
    cells = report.tables.get("full", [])
    writer = csv.writer(out)
    scalar = [
        "sent",
        "accepted",
        "accept_rate",
        "delivered",
        "late",
        "lost",
        "partial",
        "parts_missing",
        "inconclusive",
        "rejected",
        "pending",
        "judged",
        "arrival_rate",
        "ci_low",
        "ci_high",
        "latency_p50_s",
        "latency_p90_s",
        "latency_p99_s",
        "latency_p95_s",
        "latency_uncertainty_s",
        "vendor_delay_p50_s",
        "carrier_delay_p50_s",
        "duplicates",
        "sla",
        "sla_p_value",
        "probes_to_decide",
        "latency_sla",
        "billed_parts",
        "verified_parts",
        "billed_money",
        "verified_money",
        "overbilled_money",
        "vendor_billed_probes",
        "vendor_billed_parts",
        "vendor_rule_parts",
        "vendor_arrived_parts",
        "inflated_probes",
        "inflated_parts",
    ]
    dims = ["vendor", "carrier", "region", "profile", "band"]
    dlr_cols = [
        "dlr_consistent",
        "dlr_fake_success",
        "dlr_false_failure",
        "dlr_missing",
        "dlr_late",
        "dlr_unverifiable",
    ]
    content_cols = [
        "content_intact",
        "content_modified",
        "content_truncated",
        "content_signature_changed",
    ]
    writer.writerow(dims + scalar + dlr_cols + content_cols)
    for cell in cells:
        data = cell.to_dict()
        writer.writerow(
            [cell.key[d] for d in dims]
            + ["" if data[k] is None else data[k] for k in scalar]
            + [cell.dlr[c.removeprefix("dlr_")] for c in dlr_cols]
            + [cell.content[c.removeprefix("content_")] for c in content_cols]
        )
    return out.getvalue()


def render(report: Report, fmt: str) -> str:
    if fmt == "html":
        return render_html(report)
    if fmt == "md":
        return render_markdown(report)
    if fmt == "csv":
        return render_csv(report)
    if fmt == "json":
        return json.dumps(report.to_json(), indent=1, ensure_ascii=False) + "\n"
    raise ValueError(f"unknown report format {fmt!r}: html, json, csv or md")
