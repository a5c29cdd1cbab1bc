"""Small inline-SVG charts for the HTML report: stacked horizontal bars and a stacked histogram.

Hand-written SVG keeps the report one self-contained file that needs no network and no script
to view (charting libraries either load from a CDN or embed hundreds of kilobytes of JS). Every
bar carries its series, category and value as data attributes and a <title> tooltip, which is
also what the tests check. All text is escaped: company and source names come from the web.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

TIER_COLOURS = {"A": "#1b7f3b", "B": "#6cbf4f", "C": "#f2b134", "D": "#c9c9c9"}
# Latin faces first, then the CJK faces of macOS, Windows and Linux (Debian: fonts-noto-cjk or
# fonts-wqy-microhei): the browser takes each character from the first face that has it, so
# Chinese renders wherever one of them is installed. A font is not embedded: a CJK face is
# megabytes, and the page is meant to be mailed.
FONT_STACK = ('system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "PingFang SC", '
              '"Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", '
              '"WenQuanYi Micro Hei", "WenQuanYi Zen Hei", sans-serif')
FAMILY = f"font-family='{FONT_STACK}'"
FONT = f"{FAMILY} font-size='12'"
HEADING = f"{FAMILY} font-size='15' font-weight='600'"


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    values: list[float]


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def text_width(text: str) -> float:
    """Rough rendered width at 12px: CJK characters are about twice as wide as Latin ones."""
    return sum(12 if ord(c) > 0x2E80 else 7 for c in text)


def clip(text: str, pixels: float) -> str:
    """The text, cut with an ellipsis to fit `pixels` (long company or source names)."""
    if text_width(text) <= pixels:
        return text
    while text and text_width(text) > pixels - 8:
        text = text[:-1]
    return text + "…"


def _legend(series: list[Series], x: float, y: float) -> list[str]:
    out = []
    for s in series:
        out.append(f"<rect x='{x:.1f}' y='{y - 9:.1f}' width='10' height='10' fill='{s.colour}'/>"
                   f"<text x='{x + 14:.1f}' y='{y:.1f}' {FONT}>{escape(s.name)}</text>")
        x += 24 + text_width(s.name)
    return out


def stacked_bars(title: str, categories: list[str], series: list[Series], *, width: int = 760,
                 legend: bool = True) -> str:
    """Horizontal bars, one per category, stacked by series, with the total at the end."""
    bar, gap, top = 20, 8, 44
    label_width = min(max([text_width(c) for c in categories] + [40]) + 16, 280)
    height = top + len(categories) * (bar + gap) + 16
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    scale = (width - label_width - 70) / max(max(totals, default=0), 1)
    parts = [f"<svg class='chart' role='img' aria-label='{escape(title, quote=True)}' viewBox='0 0 {width} {height}' "
             f"width='{width}' height='{height}'>",
             f"<text x='2' y='16' {HEADING}>{escape(title)}</text>",
             *(_legend(series, label_width, 34) if legend else [])]
    for i, category in enumerate(categories):
        y = top + i * (bar + gap)
        parts.append(f"<text x='{label_width - 8}' y='{y + bar * 0.7:.1f}' text-anchor='end' {FONT}>"
                     f"{escape(clip(category, label_width - 12))}<title>{escape(category)}</title></text>")
        x = float(label_width)
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            w = value * scale
            parts.append(f"<rect class='bar' x='{x:.1f}' y='{y}' width='{w:.1f}' height='{bar}' fill='{s.colour}' "
                         f"data-series='{escape(s.name, quote=True)}' data-category='{escape(category, quote=True)}' "
                         f"data-value='{value:g}'><title>{escape(category)} · {escape(s.name)}: {_fmt(value)}</title></rect>")
            x += w
        parts.append(f"<text x='{x + 6:.1f}' y='{y + bar * 0.7:.1f}' {FONT}>{_fmt(totals[i])}</text>")
    parts.append("</svg>")
    return "".join(parts)


def histogram(title: str, edges: list[float], series: list[Series], *, width: int = 760, height: int = 260,
              x_label: str = "") -> str:
    """Vertical columns over the bins between consecutive `edges`, stacked by series."""
    left, right, top, bottom = 44, 12, 44, 40
    bins = len(edges) - 1
    totals = [sum(s.values[i] for s in series) for i in range(bins)]
    peak = max(max(totals, default=0), 1)
    plot_w, plot_h = width - left - right, height - top - bottom
    col = plot_w / max(bins, 1)
    parts = [f"<svg class='chart' role='img' aria-label='{escape(title, quote=True)}' viewBox='0 0 {width} {height}' "
             f"width='{width}' height='{height}'>",
             f"<text x='2' y='16' {HEADING}>{escape(title)}</text>",
             *_legend(series, left, 34),
             f"<line x1='{left}' y1='{top + plot_h}' x2='{width - right}' y2='{top + plot_h}' stroke='#888'/>",
             f"<text x='{left - 6}' y='{top + 10}' text-anchor='end' {FONT}>{_fmt(peak)}</text>",
             f"<text x='{left - 6}' y='{top + plot_h}' text-anchor='end' {FONT}>0</text>"]
    for i in range(bins):
        x = left + i * col
        y = float(top + plot_h)
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            h = value / peak * plot_h
            y -= h
            bucket = f"{edges[i]:.2f}–{edges[i + 1]:.2f}"
            parts.append(f"<rect class='bar' x='{x + 1:.1f}' y='{y:.1f}' width='{max(col - 2, 1):.1f}' height='{h:.1f}' "
                         f"fill='{s.colour}' data-series='{escape(s.name, quote=True)}' data-category='{bucket}' "
                         f"data-value='{value:g}'><title>{bucket} · {escape(s.name)}: {_fmt(value)}</title></rect>")
        if i % max(bins // 5, 1) == 0:
            parts.append(f"<text x='{x:.1f}' y='{top + plot_h + 16}' {FONT}>{edges[i]:.1f}</text>")
    parts.append(f"<text x='{width - right}' y='{top + plot_h + 16}' text-anchor='end' {FONT}>{edges[-1]:.1f}</text>")
    if x_label:
        parts.append(f"<text x='{left + plot_w / 2:.1f}' y='{height - 6}' text-anchor='middle' {FONT}>"
                     f"{escape(x_label)}</text>")
    parts.append("</svg>")
    return "".join(parts)
