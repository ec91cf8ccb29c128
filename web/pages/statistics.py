"""The public statistics page (RULES S5; docs/statistics.md) and the public bad-behaviour
list (S1), no login.

The charts are drawn on the server as SVG (no script, nothing vendored, nothing the CSP has
to allow): trades and amounts per month, premium rate per lot (histogram), savings per
tender, deposits refunded on time vs late. Each has its numbers as a table beside it (what a
screen reader reads) and a CSV link (``/api/v1/public/statistics/{chart}.csv``). The figures
come from ``GET /api/v1/public/statistics`` through ``PageCtx.api``: the page decides nothing.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from trading.errors import ValidationFailed
from web.pages.render import N_, PageCtx, page
from web.statistics import chart_rows

FILTERS = ("from_month", "to_month", "category", "region")
CATEGORY_NAMES: dict[str, str] = {
    "construction": N_("Construction"), "procurement": N_("Procurement"), "land": N_("Land"),
    "plates": N_("Licence plates"), "other": N_("Other"),
}
WIDTH, HEIGHT, PAD = 640, 220, 36
COLOURS = ("#2b6cb0", "#dd6b20")
"""Series colours (presentation attributes: the CSP allows no style attribute)."""


def bar_svg(title: str, labels: list[str], series: list[tuple[str, list[float]]], *, unit: str = "") -> Markup:
    """A bar chart (one or more series side by side) as inline SVG, with a title and
    ``role="img"``; the numbers are in the table beside it."""
    n = max(len(labels), 1)
    top = max([v for _, values in series for v in values] + [0.0])
    bottom = min([v for _, values in series for v in values] + [0.0])
    span = (top - bottom) or 1.0
    plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    slot = plot_w / n
    bar_w = max(slot / (len(series) + 1), 1.0)
    zero_y = PAD + plot_h * top / span
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<line class="axis" x1="{PAD}" y1="{zero_y:.1f}" x2="{WIDTH - PAD}" y2="{zero_y:.1f}" stroke="#888"/>']  # fmt: skip
    for s, (_name, values) in enumerate(series):
        for i, v in enumerate(values):
            h = plot_h * abs(v) / span
            y = zero_y - h if v >= 0 else zero_y
            x = PAD + i * slot + bar_w * (s + 0.5)
            parts.append(f'<rect class="bar s{s}" fill="{COLOURS[s % 2]}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}">'
                         f"<title>{escape(labels[i])}: {v:g}{escape(unit)}</title></rect>")  # fmt: skip
    step = max(n // 12, 1)
    for i in range(0, len(labels), step):
        x = PAD + i * slot + slot / 2
        parts.append(f'<text class="tick" x="{x:.1f}" y="{HEIGHT - PAD / 3:.1f}" text-anchor="middle" font-size="11">'
                     f"{escape(labels[i])}</text>")  # fmt: skip
    parts.append(f'<text class="tick" x="2" y="{PAD - 8}" font-size="11">{top:g}{escape(unit)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def charts(p: PageCtx, doc: dict[str, Any], query: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    specs = [
        ("months", p._("Trades per month"), p._("Amount per month (yuan)")),
        ("premium", p._("Premium rate per lot (histogram, lots per 10-point band)"), None),
        ("savings", p._("Savings rate per tender (%)"), None),
        ("deposits", p._("Deposits refunded on time and late, per month"), None),
    ]
    for chart, title, second in specs:
        header, rows = chart_rows(doc, chart)
        svgs = []
        if chart == "months":
            labels = [r[0] for r in rows]
            svgs.append(bar_svg(title, labels, [("trades", [_num(r[1]) for r in rows])]))
            svgs.append(bar_svg(second or "", labels, [("amount", [_num(r[2]) for r in rows])]))
        elif chart == "premium":
            svgs.append(bar_svg(title, [f"{r[0]}%" for r in rows], [("lots", [_num(r[2]) for r in rows])]))
        elif chart == "savings":
            svgs.append(bar_svg(title, [r[0] for r in rows], [("rate", [_num(r[4]) for r in rows])], unit="%"))
        else:
            svgs.append(bar_svg(title, [r[0] for r in rows],
                                [("on_time", [_num(r[1]) for r in rows]), ("late", [_num(r[2]) for r in rows])]))  # fmt: skip
        out.append({"id": chart, "title": title, "svgs": svgs, "header": header, "rows": rows,
                    "csv": f"/api/v1/public/statistics/{chart}.csv" + (f"?{_qs(query)}" if query else "")})  # fmt: skip
    return out


def _qs(query: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode(query)


@page("/statistics", "statistics.html")
@page("/public/statistics", "statistics.html")
async def statistics_page(p: PageCtx) -> dict[str, Any]:
    query = {k: p.request.query[k].strip() for k in FILTERS if p.request.query.get(k, "").strip()}
    error = None
    try:
        doc = await p.api("/public/statistics", **query)
    except ValidationFailed as err:
        error = err.message_zh if p.lang == "zh" else err.message_en
        doc = await p.api("/public/statistics")
        query = {}
    return {"doc": doc, "query": query, "error": error, "charts": charts(p, doc, query),
            "category_names": CATEGORY_NAMES, "categories": list(CATEGORY_NAMES)}  # fmt: skip


@page("/public/bad-behaviour", "bad_behaviour.html")
async def bad_behaviour_page(p: PageCtx) -> dict[str, Any]:
    query = {k: p.request.query[k].strip() for k in ("q", "credit_code") if p.request.query.get(k, "").strip()}
    error = None
    try:
        found = await p.api("/public/bad-behaviour", **query)
    except ValidationFailed as err:
        error = err.message_zh if p.lang == "zh" else err.message_en
        found = await p.api("/public/bad-behaviour")
    return {"findings": found["findings"], "query": query, "error": error}
