"""The report's channels section (通道): per vendor, the channels its messages arrived over
(sender code and extension, SMSC address, PID), each channel's share of the vendor's
arrivals on that carrier and its latency, the changes of channel with their times, and
every degradation episode with its switch-over time.

The figures are those of `smsprobe-collector channels` (collector/channels/figures.py,
`channel_figures`), carried in Report.channels; this module only lays them out."""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence

from collector.reports.build import Report
from collector.reports.display import num, pct, when

HOW = {"switched": "vendor switched channel", "same_channel": "same channel came back",
       "not_recovered": "not recovered"}  # fmt: skip


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], keys: int = 2) -> str:
    """A table with a repeated header (thead), escaped cells, the first `keys` columns
    (vendor, carrier) aligned as names."""

    def cell(tag: str, i: int, text: str) -> str:
        return f"<{tag}{' class=key' if i < keys else ''}>{html.escape(text)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table class=figures><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def channel_rows(report: Report) -> list[list[str]]:
    """One row per vendor × carrier × channel, with its share of that pair's arrivals."""
    channels = report.channels.get("channels", [])
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for c in channels:
        totals[(c["vendor"], c["carrier"])] += c["arrivals"]
    rows = []
    for c in channels:
        total = totals[(c["vendor"], c["carrier"])]
        rows.append([
            c["vendor"], c["carrier"], c["sender"], c["smsc"] or "—", str(c["pid"]),
            str(c["arrivals"]), pct(c["arrivals"] / total if total else None, 1),
            num(c["p50_latency_s"]), c["regime"] or "—",
            when(report, c["first_ns"]), when(report, c["last_ns"]),
        ])  # fmt: skip
    return rows


def change_rows(report: Report) -> list[list[str]]:
    rows = []
    for e in report.channels.get("changes", []):
        if e["kind"] == "first_seen":
            continue
        kind = "changed" if e["kind"] == "changed" else "unconfirmed: not enough probes yet"
        rows.append([when(report, e["at_ns"]), e["vendor"], e["carrier"], e["from"] or "—",
                     e["to"], kind])  # fmt: skip
    return rows


def episode_rows(report: Report) -> list[list[str]]:
    rows = []
    for e in report.channels.get("episodes", []):
        bounds = e["bounds_s"]
        if bounds is None:
            bound_text = e["bounds_note"]
        elif bounds[1] is None:  # no on-time probe before the failures: no upper bound
            bound_text = f"≥ {bounds[0]:.1f}"
        else:
            bound_text = f"{bounds[0]:.1f} – {bounds[1]:.1f}"
        failover = (
            f"{e['failover_vendor']}: {_seconds(e['failover_s'])} s ({e['failover_sends']} sent)"
            if e["failover_vendor"]
            else "—"
        )
        rows.append([
            e["vendor"], e["carrier"], when(report, e["started_ns"]), str(e["failed_probes"]),
            HOW.get(e["how"], e["how"]),
            f"{e['channel_before'] or '—'} → {e['channel_after'] or '—'}",
            "—" if e["recovered_ns"] is None else when(report, e["recovered_ns"]),
            _seconds(e["switch_over_s"]), bound_text, failover,
        ])  # fmt: skip
    return rows


def summary_rows(report: Report) -> list[list[str]]:
    return [
        [s["vendor"], s["carrier"], str(s["episodes"]),
         f"{s['switched']} / {s['same_channel']} / {s['not_recovered']}",
         _seconds(s["median_switch_over_s"]), _seconds(s["max_switch_over_s"]),
         _seconds(s["median_failover_s"])]
        for s in report.channels.get("switch_over", [])
    ]  # fmt: skip


CHANNEL_HEADERS = ("vendor", "carrier", "sender code", "SMSC address", "PID", "arrivals",
                   "share of arrivals", "p50 latency s", "regime", "first seen",
                   "last seen")  # fmt: skip
CHANGE_HEADERS = ("at", "vendor", "carrier", "from channel", "to channel", "kind")
EPISODE_HEADERS = ("vendor", "carrier", "degraded from", "failed probes", "how it ended",
                   "channel before → after", "recovered at", "switch-over s",
                   "true delay bounds s", "failover")  # fmt: skip
SUMMARY_HEADERS = ("vendor", "carrier", "episodes", "switched / same / not recovered",
                   "median switch-over s", "max switch-over s", "median failover s")  # fmt: skip


def html_channels(report: Report) -> str:
    """The section; says so when no channel was observed in the period."""
    intro = (
        "<p class=small>A channel (通道) is what the handset sees of a vendor's route: the "
        "sender code with the channel's extension, the SMSC address and the PID. The share is "
        "of the vendor's arrivals on that carrier. A change is confirmed by consecutive "
        "arrivals over the new channel; a degradation starts with consecutive failed probes "
        "and ends with the first on-time arrival (switch-over time from the first failure). "
        "Also: <code>smsprobe-collector channels</code>.</p>"
    )
    rows = channel_rows(report)
    if not rows:
        return (
            f"<section id=channels><h2>Channels</h2>{intro}"
            "<p class=muted>No channel observations in the period.</p></section>"
        )
    parts = [f"<section id=channels><h2>Channels</h2>{intro}", table(CHANNEL_HEADERS, rows)]
    changes = change_rows(report)
    parts.append(f"<h3>Channel changes ({len(changes)})</h3>")
    parts.append(table(CHANGE_HEADERS, changes, keys=3) if changes else "<p class=muted>None.</p>")
    episodes = episode_rows(report)
    parts.append(f"<h3>Degradation episodes and switch-over ({len(episodes)})</h3>")
    if episodes:
        parts.append(table(SUMMARY_HEADERS, summary_rows(report)))
        parts.append(
            "<details><summary>Every episode</summary>"
            + table(EPISODE_HEADERS, episodes)
            + "</details>"
        )
    else:
        parts.append("<p class=muted>None.</p>")
    parts.append("</section>")
    return "".join(parts)


def channel_markdown(report: Report) -> list[str]:
    """The same figures as Markdown tables."""
    out: list[str] = []
    for title, headers, rows in (
        ("Channels", CHANNEL_HEADERS, channel_rows(report)),
        ("Channel changes", CHANGE_HEADERS, change_rows(report)),
        ("Switch-over", SUMMARY_HEADERS, summary_rows(report)),
        ("Degradation episodes", EPISODE_HEADERS, episode_rows(report)),
    ):
        if not rows:
            continue
        out += [f"## {title}", "", "| " + " | ".join(headers) + " |",
                "|" + "---|" * len(headers)]  # fmt: skip
        out += ["| " + " | ".join(row) + " |" for row in rows]
        out.append("")
    return out
