"""Won/lost outcomes from CRM exports, matched to leads.

An outcome names its lead by lead_id, else by 统一社会信用代码 and/or company name through the
lead index (`lead_index`), the rule that matches statements too. Outcome words
come in both languages (won/成交/赢单/签约, lost/丢单/输单, contacted/已联系). A row that matches
no lead, or whose outcome or date cannot be read, is reported with its row number and reason.
"""

from __future__ import annotations

import re

import pandas as pd

from leadrank.config import OutcomesConfig
from leadrank.contracts import OUTCOME_COLUMNS, REJECT_COLUMNS
from leadrank.scoring.lead_index import LeadIndex
from leadrank.tables import read_table

# What an outcomes file gives (mapped to its headers by `columns`); OUTCOME_COLUMNS adds where it came from.
OUTCOME_FIELDS = [c for c in OUTCOME_COLUMNS if c not in ("source_file", "row_no")]
OUTCOME_WORDS = {
    "won": "won", "win": "won", "success": "won", "converted": "won", "成交": "won", "赢单": "won", "签约": "won",
    "中标": "won", "lost": "lost", "lose": "lost", "loss": "lost", "failed": "lost", "丢单": "lost", "输单": "lost",
    "失败": "lost", "未成交": "lost", "contacted": "contacted", "已联系": "contacted", "跟进中": "contacted",
    # CRM stage names: Salesforce's "Closed Won" / "Closed Lost", HubSpot's "closedwon" / "closedlost".
    "closedwon": "won", "dealwon": "won", "已成交": "won", "closedlost": "lost", "deallost": "lost", "已丢单": "lost",
    "failure": "lost",
    # A yes/no 'converted' column (X Education's `Converted` is 1/0): as `model evaluate` reads one.
    "1": "won", "1.0": "won", "yes": "won", "y": "won", "true": "won", "是": "won",
    "0": "lost", "0.0": "lost", "no": "lost", "n": "lost", "false": "lost", "否": "lost",
}
# The values that mean won, for importing outcomes and for `model evaluate`'s default target.
WON_WORDS = frozenset(word for word, meaning in OUTCOME_WORDS.items() if meaning == "won")


def outcome_label(value: object) -> str:
    """An outcome value as outcome words are looked up: case, spaces, '-' and '_' ignored
    ('Closed Won', 'closed_won' and 'closedwon' alike)."""
    return re.sub(r"[\s_\-]+", "", str(value or "").casefold())


def outcome_word(value: object) -> str | None:
    """won / lost / contacted for a value of an outcome column (`outcome_label`), else None."""
    return OUTCOME_WORDS.get(outcome_label(value))


# A date with its year last (01/03/2026, 1.3.2026, 01-03-2026): its day and month in either order,
# then whatever follows (a time of day).
_YEAR_LAST = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})(?!\d)(.*)$", re.S)


def _year_last_in_order(text: pd.Series) -> pd.Series:
    """A column's dates with the year last rewritten year first, their day and month in the order
    the column shows: one writes its dates one way, so a first number above 12 in any cell makes
    the first the day in every cell (13/03/2026 and 01/03/2026 are March; read one by one, the
    second was 3 January), a second above 12 the month first; neither: day first with dots
    (1.3.2026, as Europe writes), month first otherwise. A column showing both is read cell by cell."""
    parts = text.str.extract(_YEAR_LAST)
    found = parts[0].notna().to_numpy()
    if not found.any():
        return text
    first, second = parts.loc[found, 0].astype(int), parts.loc[found, 1].astype(int)
    day_over_first, day_over_second = bool((first > 12).any()), bool((second > 12).any())
    if day_over_first and day_over_second:
        return text
    day_first = day_over_first or (not day_over_second and bool(text[found].str.match(r"^\d{1,2}\.").all()))
    day, month = (first, second) if day_first else (second, first)
    iso = parts.loc[found, 2] + "-" + month.astype(str).str.zfill(2) + "-" + day.astype(str).str.zfill(2)
    out = text.copy()
    out[found] = iso + parts.loc[found, 3]  # (a time of day stays)
    return out


def parse_dates(values: pd.Series) -> pd.Series:
    """Dates in ISO, slash, dot or Chinese forms (2026-03-01, 2026/3/1, 01/03/2026, 1.3.2026,
    2026年3月1日); a column's dates with the year last in the order it shows (`_year_last_in_order`)."""
    text = values.astype(str).str.strip().str.replace(r"(\d{4})年(\d{1,2})月(\d{1,2})日?", r"\1-\2-\3", regex=True)
    parsed = pd.to_datetime(_year_last_in_order(text), errors="coerce", format="mixed", yearfirst=True)
    return parsed.dt.strftime("%Y-%m-%d").astype(object).where(parsed.notna(), None)


def load_outcomes(cfg: OutcomesConfig) -> pd.DataFrame:
    """The outcomes file in our columns (strings), with its row numbers."""
    table = read_table(cfg.path, cfg.encoding, cfg.sep)
    table.columns = [str(c).strip() for c in table.columns]
    cols = {field: cfg.columns.get(field, field) for field in OUTCOME_FIELDS}
    if cols["outcome"] not in table.columns:
        raise ValueError(f"outcomes {cfg.name}: no outcome column {cols['outcome']!r} in {cfg.path.name}")
    out = pd.DataFrame({field: table[col] if col in table.columns else None for field, col in cols.items()},
                       index=table.index, dtype=object)
    out = out.where(out.notna() & (out != ""), None)
    out["source_file"] = cfg.path.name
    out["row_no"] = range(2, len(out) + 2)
    return out[OUTCOME_COLUMNS]


def match_outcomes(outcomes: pd.DataFrame, leads: pd.DataFrame,
                   index: LeadIndex | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(matched outcomes with lead_id and a normalised outcome, rejects with reasons). A file with
    a header and no rows matches nothing (and is no error: a night with an empty configured
    outcomes file scores as without it)."""
    if outcomes.empty:
        return pd.DataFrame(columns=OUTCOME_COLUMNS), pd.DataFrame(columns=REJECT_COLUMNS)
    index = index or LeadIndex(leads)  # given: the night's one index of its leads
    known_ids = set(leads["lead_id"])
    matched: list[dict[str, object]] = []
    rejects: list[dict[str, object]] = []
    dates = parse_dates(outcomes["outcome_date"].fillna(""))
    by_index, _ = index.match(outcomes["uscc"], outcomes["company_name"])
    for row, date, indexed in zip(outcomes.to_dict("records"), dates, by_index, strict=True):
        ref = f"{row['source_file']}:{row['row_no']}"
        word = outcome_word(row["outcome"])
        if word is None:
            rejects.append({"source": row["source_file"], "stage": "outcomes", "row_ref": ref,
                            "reason": f"unknown outcome {row['outcome']!r} (won/lost/contacted, 成交/丢单/已联系, yes/no, 1/0)", "raw": str(row)})
            continue
        lead = row["lead_id"] if row["lead_id"] in known_ids else indexed
        if lead is None:
            who = row["lead_id"] or row["uscc"] or row["company_name"]
            rejects.append({"source": row["source_file"], "stage": "outcomes", "row_ref": ref,
                            "reason": f"no lead matches {who!r}", "raw": str(row)})
            continue
        matched.append({**row, "lead_id": lead, "outcome": word, "outcome_date": date})
    return pd.DataFrame(matched, columns=OUTCOME_COLUMNS), pd.DataFrame(rejects, columns=REJECT_COLUMNS)
