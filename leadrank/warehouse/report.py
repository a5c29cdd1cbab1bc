"""`leadrank report`: one self-contained HTML page about the published list. It opens with what
a salesperson acts on, the first 50 leads to call (rank, tier, company, segment, city, phone,
reasons), under a header saying when the list was published on the team's clock and which run
it is; then, for people who would rather look than read, tier counts by segment, the score
distribution, tonight's movement and new leads, each source's yield and the strongest cities.

Everything comes from the marts (so suppressed leads are never shown); the charts are inline SVG
(`charts`), the styles inline, and there is no script, link or remote resource, so the page
opens offline and can be mailed around as it is. Text uses `charts.FONT_STACK`, which names the
common CJK faces of every desktop: Chinese renders wherever one is installed.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from leadrank.warehouse import formats, labels
from leadrank.warehouse.charts import FONT_STACK, TIER_COLOURS, Series, histogram, stacked_bars
from leadrank.warehouse.export import ExportError, display_settings, write_atomically
from leadrank.warehouse.read import latest_run, mart

TIERS = ["A", "B", "C", "D"]
BINS = 20
TOP_LEADS = 50
MOVEMENT_COLOURS = {"new": "#2b6cb0", "up": "#1b7f3b", "down": "#c05621", "unchanged": "#a0aec0", "returned": "#6b46c1",
                    "dropped": "#742a2a"}
TEXT = {
    "title": ("Ranked leads report", "线索排名报告"),
    "run": ("Run {n}", "第 {n} 次运行"),
    "published": ("published {when}", "发布于 {when}"),
    "top": ("The first {n} leads to call", "优先联系的前 {n} 条线索"),
    "no_leads": ("The latest run ranked no leads.", "本次运行没有排名线索。"),
    "run_id": ("run id", "运行编号"),
    "leads": ("Ranked leads", "排名线索"),
    "tier_a": ("Tier A", "A 级"),
    "new": ("New tonight", "今晚新增"),
    "dropped": ("Dropped out", "退出"),
    "tiers_by_segment": ("Tier counts by segment", "各客户类型的等级分布"),
    "distribution": ("Score distribution (priority, by tier)", "优先级分布(按等级)"),
    "priority": ("priority", "优先级"),
    "movement": ("Movement against the previous run", "与上次相比的变动"),
    "new_by_segment": ("This run's new leads by segment", "本次新增线索(按客户类型)"),
    "new_table": ("This run's best new leads", "本次新增的优先线索"),
    "no_new": ("No new leads in this run.", "本次没有新增线索。"),
    "source_yield": ("Each source's yield: its leads by tier", "各来源的产出(按等级)"),
    "cities": ("Cities with the most tier A and B leads", "A、B 级线索最多的城市"),
    "tier": ("tier", "等级"),
    "footer": ("Suppressed (do-not-contact) leads are not included.", "已屏蔽(勿联系)的线索不在本报告中。"),
}
CSS = """
body{font-family:FONT_STACK;margin:24px auto;max-width:1100px;padding:0 16px;color:#1a202c;background:#fff}
h1{font-size:22px;margin:0 0 4px}.meta{color:#4a5568;margin-bottom:16px}
.cards{display:flex;gap:12px;margin:16px 0 24px}.card{flex:1;border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px}
.card b{display:block;font-size:24px}.card span{color:#4a5568;font-size:13px}
section{margin:28px 0}svg.chart{max-width:100%;height:auto}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid #e2e8f0;padding:4px 6px;text-align:left}
th{background:#f7fafc}.tier{display:inline-block;width:18px;text-align:center;border-radius:3px;font-weight:600}
footer{color:#718096;font-size:12px;margin-top:32px}
table.top-leads td{vertical-align:top}table.top-leads td.reasons{color:#2d3748;font-size:12px}
h2{font-size:17px;margin:24px 0 8px}td.num{text-align:right;white-space:nowrap}td.phone,td.nowrap{white-space:nowrap}
td.company{min-width:14em}
""".replace("FONT_STACK", FONT_STACK)


def _t(key: str, lang: str) -> str:
    return TEXT[key][labels.LANGS.index(lang)]


def _tier_series(frame: pd.DataFrame, key: str, categories: list[object], lang: str) -> list[Series]:
    table = frame.pivot_table(index=key, columns="tier", values="leads", aggfunc="sum", fill_value=0, dropna=False)
    return [Series(f"{_t('tier', lang)} {tier}", TIER_COLOURS[tier],
                   [float(table.at[c, tier]) if tier in table.columns and c in table.index else 0.0 for c in categories])
            for tier in TIERS]


def _segments_chart(engine: Engine, lang: str) -> tuple[str, pd.DataFrame]:
    tiers = mart(engine, "SELECT segment, tier, leads, new_leads FROM mart_segment_tiers")
    tiers["segment"] = tiers["segment"].fillna("(none)")
    order = tiers.groupby("segment")["leads"].sum().sort_values(ascending=False, kind="stable").index.tolist()
    names = [labels.segment(None if s == "(none)" else s, lang) for s in order]
    return stacked_bars(_t("tiers_by_segment", lang), names, _tier_series(tiers, "segment", order, lang)), tiers


def _distribution_chart(engine: Engine, lang: str) -> str:
    scores = mart(engine, "SELECT priority, tier FROM ranked_leads")
    edges = np.linspace(0.0, 1.0, BINS + 1)
    series = []
    for tier in TIERS:
        values = scores.loc[scores["tier"] == tier, "priority"].astype(float).clip(0, 1).to_numpy()
        series.append(Series(f"{_t('tier', lang)} {tier}", TIER_COLOURS[tier],
                             np.histogram(values, bins=edges)[0].astype(float).tolist()))
    return histogram(_t("distribution", lang), edges.tolist(), series, x_label=_t("priority", lang))


def _movement_chart(engine: Engine, lang: str) -> tuple[str, dict[str, int]]:
    counts = {m: 0 for m in MOVEMENT_COLOURS}
    for movement, n in mart(engine, "SELECT movement, COUNT(*) AS n FROM ranked_leads GROUP BY movement").itertuples(
            index=False):
        counts[str(movement)] = int(n)
    counts["dropped"] = int(mart(engine, "SELECT COUNT(*) AS n FROM mart_dropped_leads")["n"].iloc[0])
    names = [str(labels.movement(m, lang)) for m in MOVEMENT_COLOURS]
    series = [Series(name, MOVEMENT_COLOURS[m], [float(counts[m]) if m == other else 0.0 for other in MOVEMENT_COLOURS])
              for name, m in zip(names, MOVEMENT_COLOURS, strict=True)]
    return stacked_bars(_t("movement", lang), names, series, legend=False), counts


def _new_leads(engine: Engine, tiers: pd.DataFrame, lang: str) -> str:
    by_segment = tiers.groupby("segment")["new_leads"].sum()
    by_segment = by_segment[by_segment > 0].sort_values(ascending=False, kind="stable")
    chart = ""
    if len(by_segment):
        chart = stacked_bars(_t("new_by_segment", lang),
                             [labels.segment(None if s == "(none)" else s, lang) for s in by_segment.index],
                             [Series(str(labels.movement("new", lang)), MOVEMENT_COLOURS["new"],
                                     by_segment.astype(float).tolist())])
    rows = mart(engine, f"SELECT {LEAD_FIELDS} FROM ranked_leads WHERE movement = 'new' ORDER BY rank LIMIT 20")
    if rows.empty:
        return chart + f"<p>{escape(_t('no_new', lang))}</p>"
    table = _lead_table(rows, ["rank", "tier", "company_name", "segment", "city", "priority", "top_reasons"], lang)
    return chart + f"<h3>{escape(_t('new_table', lang))}</h3>" + table.replace("<table>", "<table class='new-leads'>", 1)


LEAD_FIELDS = "rank, tier, company_name, segment, city, phone, priority, reasons_for, reasons_against"


# How a lead table shows a column: its cell's class and its text (escaped by _lead_cell).
_CELLS: dict[str, tuple[str, Callable[[Any, str], str]]] = {
    "rank": ("num", lambda row, lang: str(row.rank)),
    "priority": ("num", lambda row, lang: f"{float(row.priority):.2f}"),
    "segment": ("", lambda row, lang: labels.segment(row.segment, lang)),
    "city": ("nowrap", lambda row, lang: str(row.city or "")),
    "company_name": ("company", lambda row, lang: str(row.company_name or "")),
    "phone": ("phone", lambda row, lang: str(formats.phone(row.phone) or "")),
    "top_reasons": ("reasons", lambda row, lang: labels.reasons(row.reasons_for, row.reasons_against, lang)),
}
_BADGE_TEXT = {"A": "#fff"}  # dark text on the lighter tiers' badges


def _lead_cell(column: str, row: Any, lang: str) -> str:
    """One cell of a lead table: the tier as a coloured badge, the phone as dialled at home,
    the reasons in the report's language; every value from the web escaped."""
    if column == "tier":
        tier = str(row.tier)
        return (f"<td><span class='tier' style='background:{TIER_COLOURS.get(tier, '#999')};"
                f"color:{_BADGE_TEXT.get(tier, '#1a202c')}'>{escape(tier)}</span></td>")
    css, text_of = _CELLS[column]
    attribute = f" class='{css}'" if css else ""
    return f"<td{attribute}>{escape(text_of(row, lang))}</td>"


def _lead_table(rows: pd.DataFrame, columns: list[str], lang: str) -> str:
    head = "".join(f"<th>{escape(labels.column(c, lang))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_lead_cell(c, r, lang) for c in columns) + "</tr>"
                   for r in rows.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _top_leads(engine: Engine, lang: str) -> str:
    """The first leads to call, the report's opening section."""
    rows = mart(engine, f"SELECT {LEAD_FIELDS} FROM ranked_leads ORDER BY rank LIMIT {TOP_LEADS}")
    if rows.empty:
        return f"<p>{escape(_t('no_leads', lang))}</p>"
    table = _lead_table(rows, ["rank", "tier", "company_name", "segment", "city", "phone", "top_reasons"], lang)
    return (f"<h2>{escape(_t('top', lang).format(n=len(rows)))}</h2>"
            + table.replace("<table>", "<table class='top-leads'>", 1))


def _sources_chart(engine: Engine, lang: str) -> str:
    sources = mart(engine, "SELECT source, tier_a, tier_b, tier_c, tier_d FROM mart_source_yield")
    sources["total"] = sources[["tier_a", "tier_b", "tier_c", "tier_d"]].astype(float).sum(axis=1)
    sources = sources.sort_values(["total", "source"], ascending=[False, True])
    series = [Series(f"{_t('tier', lang)} {t}", TIER_COLOURS[t], sources[f"tier_{t.lower()}"].astype(float).tolist())
              for t in TIERS]
    return stacked_bars(_t("source_yield", lang), [str(s) for s in sources["source"]], series)


def _cities_chart(engine: Engine, lang: str) -> str:
    regions = mart(engine, "SELECT province, city, tier, leads FROM mart_region_tiers WHERE tier IN ('A', 'B')")
    if regions.empty:
        return ""
    regions["place"] = [c or p or "?" for p, c in zip(regions["province"], regions["city"], strict=True)]
    top = regions.groupby("place")["leads"].sum().sort_values(ascending=False, kind="stable").head(12).index.tolist()
    series = _tier_series(regions, "place", top, lang)[:2]  # tiers A and B
    return stacked_bars(_t("cities", lang), top, series)


def _header(run: dict[str, object], lang: str, tz: ZoneInfo) -> str:
    """Which run this is and when it was published, on the team's clock: "Run 12 · published
    2026-03-03 10:30 (Asia/Shanghai)"; the run id, for support, is in the footer."""
    published = formats.local_time(run["published_at"], tz)
    when = f"{published:%Y-%m-%d %H:%M}" if published else "?"
    return (f"<div class='meta'>{escape(_t('run', lang).format(n=run['run_number']))} · "
            f"{escape(_t('published', lang).format(when=when))} ({escape(str(tz.key))})</div>")


def build_report(engine: Engine, lang: str = "en", timezone: str | None = None) -> str:
    """The report as one HTML document (raises ExportError when nothing is published). Times are
    shown in `timezone` (else $LEADRANK_TIMEZONE, else Asia/Shanghai)."""
    tz = display_settings(lang, timezone)
    try:
        run = latest_run(engine)
    except Exception as exc:  # noqa: BLE001 - e.g. no tables yet
        raise ExportError(f"cannot read the warehouse ({type(exc).__name__}): run `leadrank run` first") from None
    if run is None:
        raise ExportError("no published run yet: run `leadrank run` first")
    segments_svg, tiers = _segments_chart(engine, lang)
    movement_svg, movement = _movement_chart(engine, lang)
    total = int(tiers["leads"].sum())
    tier_a = int(tiers.loc[tiers["tier"] == "A", "leads"].sum())
    cards = [("leads", total), ("tier_a", tier_a), ("new", movement["new"]), ("dropped", movement["dropped"])]
    sections = [
        segments_svg, _distribution_chart(engine, lang), movement_svg, _new_leads(engine, tiers, lang),
        _sources_chart(engine, lang), _cities_chart(engine, lang),
    ]
    html = [
        "<!DOCTYPE html>", f"<html lang='{'zh-CN' if lang == 'zh' else 'en'}'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>leadrank · {escape(_t('title', lang))} · {escape(_t('run', lang).format(n=run['run_number']))}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{escape(_t('title', lang))}</h1>",
        _header(run, lang, tz),
        "<div class='cards'>" + "".join(f"<div class='card' data-card='{key}'><b>{value:,}</b><span>"
                                        f"{escape(_t(key, lang))}</span></div>" for key, value in cards) + "</div>",
        f"<section>{_top_leads(engine, lang)}</section>",
        *[f"<section>{s}</section>" for s in sections if s],
        f"<footer>{escape(_t('footer', lang))} leadrank · {escape(_t('run_id', lang))} "
        f"{escape(str(run['run_id']))}</footer></body></html>",
    ]
    return "\n".join(html)


def write_report(engine: Engine, output: Path, lang: str = "en", timezone: str | None = None) -> None:
    if output.suffix.lower() not in {".html", ".htm"}:
        raise ExportError(f"the report is HTML: give a file ending in .html, not {output.name!r}")
    page = build_report(engine, lang, timezone)
    write_atomically(output, lambda tmp: tmp.write_text(page, encoding="utf-8"))
