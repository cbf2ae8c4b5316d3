"""Two sets of probes side by side — two periods (`report --compare`), or a burst against
its vendor's baseline — with the difference and whether it is significant.

Arrival: `two_proportion_test` (pooled z, Fisher's exact when counts are small). Latency
p50 and p95: `quantile_test` (Mood's test at that quantile). Significant: p < alpha.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from collector.reports.figures import JudgedProbe, Tally, tallies_of
from collector.stats import Ordered, percentile, quantile_test, two_proportion_test

ARRIVED = ("delivered", "late")


def _side(probes: Iterable[JudgedProbe | Tally]) -> dict[str, Any]:
    sent = accepted = judged = arrived = 0
    pairs: list[tuple[float, int]] = []
    for t in tallies_of(probes):
        p = t.probe
        sent += t.n
        accepted += t.n * p.accepted
        if p.outcome in (*ARRIVED, "lost"):
            judged += t.n
            arrived += t.n * (p.outcome in ARRIVED)
        # latencies are those of arrived probes only (tally_of, the rollups), whichever
        # of its group's tallies carries them
        pairs += [
            p for kind, vs, ks in t.values if kind == "latency" for p in zip(vs, ks, strict=True)
        ]
    latencies = Ordered.counted(pairs)
    return {
        "sent": sent,
        "accepted": accepted,
        "judged": judged,
        "arrived": arrived,
        "arrival_rate": round(arrived / judged, 6) if judged else None,
        "latency_p50_s": _r(percentile(latencies, 50)),
        "latency_p95_s": _r(percentile(latencies, 95)),
        "_latencies": latencies,
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def compare_sides(
    first: Iterable[JudgedProbe | Tally], second: Iterable[JudgedProbe | Tally], *, alpha: float
) -> dict[str, Any]:
    """One row: each side's figures (probes one by one or counted), the differences
    (first − second) and their tests."""
    a, b = _side(first), _side(second)
    la, lb = a.pop("_latencies"), b.pop("_latencies")
    row: dict[str, Any] = {"a": a, "b": b}
    if a["judged"] and b["judged"]:
        p, method = two_proportion_test(a["arrived"], a["judged"], b["arrived"], b["judged"])
        row["arrival"] = {
            "difference": round(a["arrival_rate"] - b["arrival_rate"], 6),
            "p_value": round(p, 9),
            "test": method,
            "significant": p < alpha,
        }
    for q in (50, 95):
        test = quantile_test(la, lb, q)
        if test is not None:
            key = f"latency_p{q}_s"
            row[f"latency_p{q}"] = {
                "difference_s": round(a[key] - b[key], 3),
                "p_value": round(test[0], 9),
                "test": test[1],
                "significant": test[0] < alpha,
            }
    return row


def compare_periods(
    first: Iterable[JudgedProbe],
    second: Iterable[JudgedProbe],
    *,
    group_by: Sequence[str] = ("vendor",),
    alpha: float = 0.05,
) -> list[dict[str, Any]]:
    """A row per group present on either side (vendor, or vendor × band, ...)."""
    sides: dict[tuple[str, ...], tuple[list[JudgedProbe], list[JudgedProbe]]] = defaultdict(
        lambda: ([], [])
    )
    for i, probes in enumerate((first, second)):
        for p in probes:
            sides[tuple(getattr(p, d) for d in group_by)][i].append(p)
    return [
        {"key": dict(zip(group_by, key, strict=True))}
        | compare_sides(sides[key][0], sides[key][1], alpha=alpha)
        for key in sorted(sides)
    ]


def render_comparison(doc: dict[str, Any], fmt: str) -> str:
    """json, or a Markdown table (also served for html/csv as plain text tables)."""
    if fmt == "json":
        import json

        return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    lines = [
        f"# Comparison: A {doc['a']['since']} – {doc['a']['until']} ({doc['a']['name']})"
        f" vs B {doc['b']['since']} – {doc['b']['until']} ({doc['b']['name']})",
        "",
        f"Arrival: {doc['tests']['arrival']}. Latency: {doc['tests']['latency']}. "
        f"Significant: p < {doc['alpha']}.",
        "",
    ]
    for title, rows in doc["breakdowns"].items():
        lines += [f"## By {title.replace('_', ' × ')}", ""]
        lines.append(
            "| group | arrival A | arrival B | Δ | p | p50 A | p50 B | p | p95 A | p95 B | p |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for row in rows:
            a, b = row["a"], row["b"]
            arr = row.get("arrival", {})
            p50, p95 = row.get("latency_p50", {}), row.get("latency_p95", {})

            def mark(t: dict[str, Any]) -> str:
                if not t:
                    return "–"
                return f"{t['p_value']:.3g}{' *' if t['significant'] else ''}"

            lines.append(
                f"| {' / '.join(row['key'].values())} | {_pct(a)} | {_pct(b)} "
                f"| {arr.get('difference', '–')} | {mark(arr)} | {a['latency_p50_s']} "
                f"| {b['latency_p50_s']} | {mark(p50)} | {a['latency_p95_s']} "
                f"| {b['latency_p95_s']} | {mark(p95)} |"
            )
        lines.append("")
    return "\n".join(lines)


def _pct(side: dict[str, Any]) -> str:
    rate = side["arrival_rate"]
    return "–" if rate is None else f"{rate:.2%} ({side['arrived']}/{side['judged']})"
