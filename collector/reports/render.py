"""Render a Report as one self-contained HTML file (inline SVG charts, print CSS for A4
landscape), Markdown, CSV or JSON. The HTML reads summary first (per vendor, in words),
then billing, charts, channels, and the figures by breakdown: a main table of the key
figures each, its details in collapsible sections (docs/reports.md)."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence

from collector.reports.billing import html_billing, markdown_billing
from collector.reports.build import Report
from collector.reports.channels_section import channel_markdown, html_channels
from collector.reports.charts import heatmap, latency_chart, rate_chart
from collector.reports.display import (
    num,
    pct,
    sla_words,
    stamp,
    threshold_text,
    when,
    zone_label,
)
from collector.reports.figures import Cell, Thresholds
from collector.reports.json_text import indented


def _ci(value: tuple[float, float] | Sequence[float] | None) -> str:
    return "" if not value else f" [{value[0]:.1f}–{value[1]:.1f}]"


# ---------------------------------------------------------------------------------- tables
# Each breakdown shows a main table of the key figures; the rest goes into detail tables
# (collapsible on screen, printed in full), so no table needs more than a page's width.

MAIN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("sent", "sent"),
    ("judged", "judged"),
    ("arrival_rate", "arrival rate 到达率"),
    ("ci", "95 % CI"),
    ("p50_p95", "latency p50 / p95 s"),
    ("fake", "fake DLR 伪成功"),
    ("sla_short", "SLA verdict"),
)
COUNT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("accepted", "accepted"),
    ("accept_rate", "accept rate 发送成功率"),
    ("delivered", "delivered"),
    ("late", "late"),
    ("lost", "lost"),
    ("partial", "partial (parts missing)"),
    ("inconclusive", "inconcl."),
    ("rejected", "rejected"),
    ("duplicates", "dup."),
)
LATENCY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("p50", "p50 s [95 % CI]"),
    ("p90", "p90 s [95 % CI]"),
    ("p99", "p99 s [95 % CI]"),
    ("uncertainty", "± measurement s"),
    ("split", "vendor / carrier s"),
)
TRUTH_COLUMNS: tuple[tuple[str, str], ...] = (
    ("false_failure", "false fail"),
    ("missing", "missing DLR"),
    ("late_dlr", "late DLR"),
    ("content", "modified / trunc. / sig."),
    ("billing", "billed / verified parts (money)"),
    ("sla", "SLA test"),
)
DETAILS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Counts", COUNT_COLUMNS),
    ("Latency", LATENCY_COLUMNS),
    ("DLR truth, content, billing and the SLA test", TRUTH_COLUMNS),
)
COLUMNS = MAIN_COLUMNS + COUNT_COLUMNS + LATENCY_COLUMNS + TRUTH_COLUMNS
WORD_COLUMNS = frozenset({"sla_short", "sla"})  # sentences: left-aligned, width-capped
# A breakdown with more rows prints only its main table (its details stay on screen and
# in CSV/JSON): the per-SIM and full breakdowns would otherwise fill most of the pages.
PRINT_DETAILS_UP_TO = 24


def _row(cell: Cell, thresholds: Thresholds) -> dict[str, str]:
    def lat(v: float | None, ci: tuple[float, float] | None) -> str:
        return num(v) + _ci(ci)

    return {
        "sent": str(cell.sent),
        "judged": str(cell.judged),
        "accepted": str(cell.accepted),
        "accept_rate": pct(cell.accept_rate),
        "arrival_rate": pct(cell.arrival_rate),
        "ci": f"{pct(cell.ci_low)} – {pct(cell.ci_high)}",
        "delivered": str(cell.delivered),
        "late": str(cell.late),
        "lost": str(cell.lost),
        "partial": f"{cell.partial} ({cell.parts_missing})",
        "inconclusive": str(cell.inconclusive),
        "rejected": str(cell.rejected),
        "p50_p95": f"{num(cell.latency_p50_s)} / {num(cell.latency_p95_s)}",
        "p50": lat(cell.latency_p50_s, cell.latency_p50_ci_s),
        "p90": lat(cell.latency_p90_s, cell.latency_p90_ci_s),
        "p99": lat(cell.latency_p99_s, cell.latency_p99_ci_s),
        "uncertainty": num(cell.latency_uncertainty_s),
        "split": f"{num(cell.vendor_delay_p50_s)} / {num(cell.carrier_delay_p50_s)}",
        "fake": f"{cell.dlr['fake_success']} ({pct(cell.dlr_rates['fake_success'])})",
        "false_failure": f"{cell.dlr['false_failure']} ({pct(cell.dlr_rates['false_failure'])})",
        "missing": f"{cell.dlr['missing']} ({pct(cell.dlr_rates['missing'])})",
        "late_dlr": f"{cell.dlr['late']} ({pct(cell.dlr_rates['late'])})",
        "content": f"{cell.content['modified']} / {cell.content['truncated']} / {cell.content['signature_changed']}",
        "duplicates": str(cell.duplicates),
        "sla_short": sla_words(cell, thresholds, with_p=False),
        "sla": sla_words(cell, thresholds),
        "billing": f"{cell.billed_parts} / {cell.verified_parts} ({cell.billed_money:.2f} / {cell.verified_money:.2f}, over {cell.overbilled_money:.2f})",
    }


def _html_table(
    cells: Sequence[Cell],
    dims: Sequence[str],
    columns: Sequence[tuple[str, str]],
    thresholds: Thresholds,
) -> str:
    head = "".join(f"<th class=key>{html.escape(d)}</th>" for d in dims)
    head += "".join(f"<th>{html.escape(title)}</th>" for _, title in columns)
    body = []
    for cell in cells:
        row = _row(cell, thresholds)
        cls = {"breach": "breach", "met": "met"}.get(cell.sla, "")
        tds = "".join(f"<td class=key>{html.escape(cell.key[d])}</td>" for d in dims)
        tds += "".join(
            f"<td class=words>{html.escape(row[k])}</td>"
            if k in WORD_COLUMNS
            else f"<td>{html.escape(row[k])}</td>"
            for k, _ in columns
        )
        body.append(f"<tr class='{cls}'>{tds}</tr>")
    return (
        f"<table class=figures><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _html_breakdown(report: Report, title: str, name: str, dims: Sequence[str]) -> str:
    """The main table, then each detail table in a <details> (printed open)."""
    cells = report.tables.get(name, [])
    if not cells:
        return ""
    t = report.thresholds
    parts = [f"<section class=breakdown><h3>{html.escape(title)}</h3>",
             _html_table(cells, dims, MAIN_COLUMNS, t)]  # fmt: skip
    printed = len(cells) <= PRINT_DETAILS_UP_TO
    for label, columns in DETAILS:
        parts.append(
            f"<details{'' if printed else ' class=screen-only'}><summary>{html.escape(label)}: "
            f"{html.escape(title)}</summary>{_html_table(cells, dims, columns, t)}</details>"
        )
    if not printed:
        parts.append(
            f"<p class='small print-only'>The details of these {len(cells)} rows (counts, "
            "latency, DLR truth) are left out of print: open them on screen, or see "
            "report.csv / report.json.</p>"
        )
    parts.append("</section>")
    return "".join(parts)


BREAKDOWN_SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("By vendor", "vendor", ("vendor",)),
    ("By vendor × carrier", "vendor_carrier", ("vendor", "carrier")),
    ("By vendor × hour band (peak vs off-peak)", "vendor_band", ("vendor", "band")),
    ("By vendor × calendar day", "vendor_calendar", ("vendor", "calendar")),
    ("By vendor × profile", "vendor_profile", ("vendor", "profile")),
    ("By vendor × region", "vendor_region", ("vendor", "region")),
    ("By kind of line (home network, MVNO, ported)", "line", ("line",)),
    ("By vendor × kind of line", "vendor_line", ("vendor", "line")),
    ("By vendor × SIM", "vendor_sim", ("vendor", "line", "sim")),
    ("Full breakdown (vendor × carrier × region × profile × band)", "full",
     ("vendor", "carrier", "region", "profile", "band")),
)  # fmt: skip


# ---------------------------------------------------------------------------------- summary


def summary_sentence(report: Report, cell: Cell) -> str:
    """One vendor in plain words: arrival against the SLA, fake DLRs, latency, cost."""
    t = report.thresholds
    vendor = cell.key.get("vendor", "")
    text = (
        f"{vendor}: {pct(cell.arrival_rate)} arrived ({cell.judged - cell.lost} of "
        f"{cell.judged} judged probes; 95 % CI {pct(cell.ci_low)} – {pct(cell.ci_high)}). "
        f"SLA {threshold_text(t)}: {sla_words(cell, t)}. "
        f"Latency p50 {num(cell.latency_p50_s, ' s')}, p95 {num(cell.latency_p95_s, ' s')} "
        f"(p95 limit {t.p95_latency_s:g} s: {cell.latency_sla.replace('_', ' ')}). "
        f"Fake DLRs (DELIVRD for a message that never arrived): {cell.dlr['fake_success']}."
    )
    cost = cost_text(report, cell)
    return text + (f" Cost: {cost}." if cost else "")


def cost_text(report: Report, cell: Cell) -> str:
    """Money at the vendor's [billing] prices (each probe at its price-table price); "" when
    the vendor has no price."""
    if cell.key.get("vendor", "") not in report.prices:
        return ""
    return (
        f"billed {cell.billed_money:.2f} for {cell.billed_parts} parts, "
        f"{cell.verified_money:.2f} verified delivered, {cell.overbilled_money:.2f} over"
    )


def _html_summary(report: Report) -> str:
    cells = report.tables.get("vendor", [])
    if not cells:
        return "<section id=summary><h2>Summary</h2><p>No probes in the period.</p></section>"
    t = report.thresholds
    rows = []
    for cell in cells:
        cls = {"breach": "breach", "met": "met"}.get(cell.sla, "")
        cells_html = [
            cell.key.get("vendor", ""),
            sla_words(cell, t),
            f"{pct(cell.arrival_rate)} ({cell.judged - cell.lost}/{cell.judged})",
            str(cell.dlr["fake_success"]),
            f"{num(cell.latency_p50_s)} / {num(cell.latency_p95_s)}",
            cost_text(report, cell) or "—",
        ]
        rows.append(
            f"<tr class='{cls}'>"
            + "".join(f"<td>{html.escape(c)}</td>" for c in cells_html)
            + "</tr>"
        )
    heads = ("vendor", f"SLA {threshold_text(t)} verdict", "arrival rate 到达率 (arrived/judged)",
             "fake DLRs 伪成功", "latency p50 / p95 s", "cost (configured price)")  # fmt: skip
    head = "".join(f"<th>{html.escape(h)}</th>" for h in heads)
    sentences = "".join(f"<li>{html.escape(summary_sentence(report, c))}</li>" for c in cells)
    return (
        "<section id=summary><h2>Summary</h2>"
        f"<table class='figures summary'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table><ul class=plain>{sentences}</ul></section>"
    )


# ---------------------------------------------------------------------------------- page

# CJK fallbacks by name: Noto Sans CJK SC is what `make servers` installs (Debian
# fonts-noto-cjk); the others are the same design (Source Han Sans) or the system fonts
# of macOS and Windows, so Chinese headers never render as empty boxes.
FONTS = ('system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",'
         '"Source Han Sans SC","PingFang SC","Microsoft YaHei","WenQuanYi Micro Hei",sans-serif')  # fmt: skip

CSS = """
body{font:14px/1.45 FONTS;margin:2em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ccc}
h3{margin:1.2em 0 .3em;font-size:1.1em}
.muted,.small{color:#666} .small{font-size:11px}
table{border-collapse:collapse;margin:.6em 0;font-size:12px;max-width:100%}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right;vertical-align:top;overflow-wrap:break-word}
th{background:#f4f4f4;word-break:keep-all} td:first-child,th:first-child,td.key,th.key{text-align:left}
table.summary td,table.summary th{text-align:left} table.summary td:nth-child(2){max-width:32em}
td.words{text-align:left;max-width:26em}
tr.breach td{background:#fde2e2} tr.met td{background:#e6f4e6}
.heat td{text-align:center;min-width:7em}
details{margin:.2em 0 .6em} summary{cursor:pointer;color:#345;font-size:12px}
ul.plain li{margin:.3em 0} .print-only{display:none}
.chart{width:100%;max-width:900px;height:auto;display:block}
.chart .grid{stroke:#e5e5e5} .chart .sla{stroke:#d62728;stroke-dasharray:6 4;stroke-width:1.5}
.chart .axis{font-size:11px;fill:#555} .chart .legend{font-size:12px} .chart .small{font-size:10px}
@page{size:A4 landscape;margin:10mm 10mm 12mm}
@media print{
 body{margin:0;font-size:9pt}
 h2{break-after:avoid;page-break-after:avoid;margin-top:1em}
 h3{break-after:avoid;page-break-after:avoid}
 table{font-size:7.5pt;width:auto;max-width:100%}
 th,td{padding:2px 4px} td{overflow-wrap:anywhere}
 th{overflow-wrap:normal;word-break:keep-all} td.key,table.summary td:first-child{overflow-wrap:normal}
 thead{display:table-header-group}
 tr,svg,.chart,figure,li{break-inside:avoid;page-break-inside:avoid}
 table.heat,table.summary{break-inside:avoid;page-break-inside:avoid}
 details::details-content{content-visibility:visible;display:contents}
 details.screen-only{display:none} .print-only{display:block}
 details>summary{list-style:none;font-weight:bold;color:#222}
 details>summary::-webkit-details-marker{display:none}
 .chart{max-width:100%}
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
""".replace("FONTS", FONTS)


def render_html(report: Report) -> str:
    zone = zone_label(report)
    since, until = stamp(report, report.since), stamp(report, report.until)
    title = f"smsprobe SLA report {since} – {until}, {zone}"
    tables = "".join(_html_breakdown(report, t, name, dims) for t, name, dims in BREAKDOWN_SECTIONS)
    filters = ", ".join(f"{k}={v}" for k, v in report.filters.items()) or "none"
    t = report.thresholds
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class=muted>Generated {html.escape(stamp(report, report.generated_at))} by smsprobe
{html.escape(report.software_version)}; every time is in {html.escape(zone)}.
Filters: {html.escape(filters)}. SLA: arrival ≥ {threshold_text(t)},
p95 latency ≤ {t.p95_latency_s:g} s; decided by a one-sided exact binomial test at α = {t.alpha}.
Arrival rate counts probes whose receiver was healthy; partial (a long message with parts missing), inconclusive and rejected probes are shown apart.</p>
{_html_summary(report)}
<section id=billing>{html_billing(report)}</section>
<h2>Arrival rate over time</h2>{rate_chart(report)}
<h2>Latency distribution</h2>{latency_chart(report)}
<h2>Vendor × carrier</h2>{heatmap(report)}
{html_channels(report)}
{_html_not_measured(report)}
{_html_periods(report)}
{_html_sims(report)}
{_html_list("Content changes by vendor", content_lines(report))}
<h2>Figures by breakdown</h2>
<p class=small>Each breakdown: the key figures, then its counts, latency and DLR/content/billing details (open a detail to see it; printed in full).</p>
{tables}
<h2>Definitions</h2>
<p class=small>发送成功率 = accepted by the vendor API ÷ sent. 到达率 = arrived (delivered + late) ÷ (arrived + lost).
Latency = arrival at the SIM (agent clock corrected by its measured offset) − submit, ± mean measurement uncertainty;
bracketed ranges are distribution-free 95 % intervals of each percentile. Vendor/carrier split at the SMSC time stamp.
SLA verdict: "not yet decided" gives the exact number of further probes, every one arriving, after which the test
would confirm the threshold, and the number of further probes, every one lost, that would confirm a breach.
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
        measured = "" if share is None else f"; measured {pct(share)} of the period"
        excluded = report.excluded.get(vendor, 0)
        lines.append(f"{vendor}: {len(gaps)} not-measured span(s){measured}; "
                     f"{excluded} probe(s) inside them left out of the figures")  # fmt: skip
        for g in gaps:
            span = f"{when(report, g.start_ns)} – {when(report, g.end_ns)}"
            lines.append(
                f"    {span} ({(g.end_ns - g.start_ns) / 1e9:.1f} s): {', '.join(g.causes)}"
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
            f"{pct(b['accept_rate'])}, throttled {b['throttled']}; arrival "
            f"{pct(load['arrival_rate'])} vs baseline {pct(base['arrival_rate'])}{sig(arrival)}; "
            f"p50 {num(load['latency_p50_s'], ' s')} vs {num(base['latency_p50_s'], ' s')}, "
            f"p95 {num(load['latency_p95_s'], ' s')} vs {num(base['latency_p95_s'], ' s')}{sig(p95)}"
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
    zone = zone_label(report)
    lines = [
        f"# smsprobe SLA report {stamp(report, report.since)} – {stamp(report, report.until)}"
        f", {zone}",
        "",
    ]
    lines.append(
        f"Generated {stamp(report, report.generated_at)} by smsprobe {report.software_version};"
        f" every time is in {zone}."
    )
    lines.append("")
    cells = report.tables.get("vendor", [])
    lines += ["## Summary", ""]
    lines += [f"- {summary_sentence(report, c)}" for c in cells] or ["- No probes in the period."]
    lines.append("")
    lines += markdown_billing(report)
    lines += channel_markdown(report)
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
        for label, columns in (("", MAIN_COLUMNS), *DETAILS):
            if label:
                lines += [f"{label}:", ""]
            lines.append("| " + " | ".join(dims + [t for _, t in columns]) + " |")
            lines.append("|" + "---|" * (len(dims) + len(columns)))
            for cell in cells:
                row = _row(cell, report.thresholds)
                lines.append(
                    "| " + " | ".join([cell.key[d] for d in dims] + [row[k] for k, _ in columns])
                    + " |"
                )  # fmt: skip
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
        "losses_to_breach",
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
        return indented(report.to_json()) + "\n"  # json.dumps(indent=1, ensure_ascii=False)
    raise ValueError(f"unknown report format {fmt!r}: html, json, csv or md")
