"""The report's charts as inline SVG: arrival rate over time, latency strips, and the
vendor × carrier heat map. Self-contained (no script, no external file), so the HTML
prints the same as it shows."""

from __future__ import annotations

import html
import math

from agent.common.units import NS
from collector.reports.build import RatePoint, Report
from collector.reports.display import pct, when
from collector.stats import percentile

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
# Below this many buckets in a series every bucket gets a marker and an error bar: a line
# through two or three points hides that each is one bucket (a single one draws no line).
MARKERS_BELOW = 40


def bucket_text(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def rate_chart(report: Report, width: int = 900, height: int = 300) -> str:
    """Arrival rate per bucket and vendor, its 95 % Wilson band, and the SLA line."""
    points = [p for series in report.rate_series.values() for p in series]
    if not points:
        return "<p class=muted>No judged probes in the period.</p>"
    left, right, top, bottom = 60, 20, 20, 40
    step = report.bucket_s * NS
    t0 = min(p.start_ns for p in points)
    t1 = max(p.start_ns for p in points) + step
    lows = [p.ci_low for p in points] + [report.thresholds.arrival_rate]
    # the axis starts at a round 10 % (or 90 %) below the lowest interval: ticks at whole numbers
    y_min = min(math.floor(max(0.0, min(lows) - 0.02) * 10) / 10, 0.9)

    def x(t: int) -> float:
        return left + (t - t0) / max(t1 - t0, 1) * (width - left - right)

    def y(v: float) -> float:
        return top + (1 - (v - y_min) / (1 - y_min)) * (height - top - bottom)

    parts = [
        f'<svg viewBox="0 0 {width} {height}" class=chart role=img '
        f'aria-label="arrival rate over time, {bucket_text(report.bucket_s)} buckets">'
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
    half = step // 2
    for i, (vendor, series) in enumerate(report.rate_series.items()):
        color = PALETTE[i % len(PALETTE)]
        few = len(series) < MARKERS_BELOW
        if not few:
            band_top = " ".join(f"{x(p.start_ns + half):.1f},{y(p.ci_high):.1f}" for p in series)
            band_bottom = " ".join(
                f"{x(p.start_ns + half):.1f},{y(p.ci_low):.1f}" for p in reversed(series)
            )
            parts.append(
                f'<polygon points="{band_top} {band_bottom}" fill="{color}" opacity=0.15 />'
            )
        # one line per run of consecutive buckets: a gap with no judged probe is no data,
        # not a straight line between its neighbours; a lone bucket gets a marker
        runs: list[list[RatePoint]] = []
        for p in series:
            if p.rate is None:
                continue
            if runs and p.start_ns - runs[-1][-1].start_ns == step:
                runs[-1].append(p)
            else:
                runs.append([p])
        for run in runs:
            line = " ".join(f"{x(p.start_ns + half):.1f},{y(p.rate or 0):.1f}" for p in run)
            parts.append(f'<polyline points="{line}" fill=none stroke="{color}" stroke-width=2 />')
            if len(run) == 1 and not few:
                p = run[0]
                parts.append(
                    f"<circle cx={x(p.start_ns + half):.1f} cy={y(p.rate or 0):.1f} r=3 "
                    f'fill="{color}" class=marker />'
                )
        if few:  # each bucket as a point with its 95 % interval
            for p in series:
                if p.rate is None:
                    continue
                cx = x(p.start_ns + half)
                parts.append(
                    f"<line x1={cx:.1f} x2={cx:.1f} y1={y(p.ci_low):.1f} y2={y(p.ci_high):.1f} "
                    f'stroke="{color}" stroke-width=1.5 opacity=0.5 />'
                    f'<circle cx={cx:.1f} cy={y(p.rate):.1f} r=4 fill="{color}" class=marker>'
                    f"<title>{html.escape(vendor)} {when(report, p.start_ns)}: "
                    f"{p.arrived}/{p.judged} = {pct(p.rate, 1)}</title></circle>"
                )
        parts.append(
            f'<text x={left + 10 + 140 * i} y={height - 8} fill="{color}" class=legend>'
            f"■ {html.escape(vendor)}</text>"
        )
    # In the report's zone ([reports] timezone): what the reader lives by.
    parts.append(f"<text x={left} y={height - 24} class=axis>{when(report, t0)}</text>")
    parts.append(
        f"<text x={width - right} y={height - 24} class=axis text-anchor=end>{when(report, t1)}</text>"
    )
    parts.append(
        f"<text x={(left + width - right) / 2:.0f} y={height - 24} class=axis text-anchor=middle>"
        f"{bucket_text(report.bucket_s)} buckets</text></svg>"
    )
    return "".join(parts)


def latency_chart(report: Report, width: int = 900, row: int = 36) -> str:
    """Per vendor: a strip of every latency plus p50/p95 markers, on a log-ish axis."""
    vendors = [v for v, ls in report.latencies.items() if ls]
    if not vendors:
        return "<p class=muted>No arrivals in the period.</p>"
    left, right = 120, 60  # room for the p95 label at the right end
    height = row * len(vendors) + 40
    top_value = max(max(ls[-1] for ls in report.latencies.values() if ls), 1.0)  # ascending

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
    rows = ["<table class=heat><thead><tr><th>vendor \\ carrier</th>"]
    rows += [f"<th>{html.escape(c)}</th>" for c in carriers]
    rows.append("</tr></thead><tbody>")
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
                f'<td style="background:hsl({hue:.0f},70%,80%)">{pct(rate, 1)}'
                f"<br><span class=small>n={cell.judged} · {cell.sla}</span></td>"
            )
        rows.append("</tr>")
    rows.append("</tbody></table>")
    return "".join(rows)
