"""The dashboard's usage chart, drawn on the server as inline SVG: no JavaScript, no
chart library, no CDN. Bars are billed tokens per UTC day, the line is their cost in
USD (its own scale, on the right); every bar has a ``<title>`` tooltip."""

from __future__ import annotations

from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 720, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 64, 12, 28  # margins, px


def _nice(value: float) -> float:
    """The smallest 1, 2 or 5 × 10^n at or above ``value`` (an axis maximum)."""
    if value <= 0:
        return 1
    step = 10 ** (len(str(int(value))) - 1) if value >= 1 else 10**-6
    while step < value:
        for m in (1, 2, 5):
            if step * m >= value:
                return step * m
        step *= 10
    return step


def usage_chart_svg(daily: list[dict], *, label: str) -> SafeString:
    """An SVG of ``daily`` (``[{date, tokens, cost}]``, oldest first, as
    usage.asset_usage gives it); ``label`` names it for screen readers."""
    n = max(len(daily), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    max_tokens = _nice(max((d["tokens"] for d in daily), default=0))
    max_cost = _nice(float(max((d["cost"] for d in daily), default=Decimal(0))))
    slot = plot_w / n
    bars, points = [], []
    for i, d in enumerate(daily):
        h = plot_h * d["tokens"] / max_tokens
        x = LEFT + i * slot
        tip = f"{d['date']:%Y-%m-%d} (UTC): {d['tokens']:,} tokens, ${d['cost']:.6f}"
        bars.append((f"{x + slot * 0.15:.1f}", f"{TOP + plot_h - h:.1f}",
                     f"{slot * 0.7:.1f}", f"{h:.1f}", tip))  # fmt: skip
        y = TOP + plot_h - plot_h * float(d["cost"]) / max_cost
        points.append(f"{x + slot / 2:.1f},{y:.1f}")
    ticks = format_html_join(
        "", '<text x="{}" y="{}" class="tick">{}</text>',
        ((f"{LEFT + i * slot + slot / 2:.1f}", HEIGHT - 8, f"{d['date']:%m-%d}")
         for i, d in enumerate(daily) if i % 7 == (n - 1) % 7),
    )  # fmt: skip
    return format_html(
        '<svg class="usage-chart" viewBox="0 0 {w} {h}" role="img" aria-label="{label}"'
        ' xmlns="http://www.w3.org/2000/svg">'
        '<line x1="{l}" y1="{base}" x2="{r}" y2="{base}" class="axis"/>'
        '<text x="{lx}" y="{top}" class="tick" text-anchor="end">{mt}</text>'
        '<text x="{lx}" y="{base}" class="tick" text-anchor="end">0</text>'
        '<text x="{rx}" y="{top}" class="tick cost">${mc}</text>'
        "{bars}"
        '<polyline class="cost-line" fill="none" points="{points}"/>'
        "{ticks}</svg>",
        w=WIDTH, h=HEIGHT, label=label, l=LEFT, r=WIDTH - RIGHT, lx=LEFT - 6,
        rx=WIDTH - RIGHT + 6, top=TOP + 8, base=TOP + plot_h,
        mt=f"{max_tokens:,.0f}", mc=f"{max_cost:.6g}",
        bars=format_html_join(
            "", '<rect x="{}" y="{}" width="{}" height="{}" class="bar">'
            "<title>{}</title></rect>", bars,
        ),
        points=" ".join(points), ticks=ticks,
    )  # fmt: skip
