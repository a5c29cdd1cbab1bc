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
from leadrank.tables import header_key, read_table

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


# The usual headers of each field in CRM exports, English and Chinese (case and spaces aside).
ALIASES = {
    "lead_id": ["lead_id", "lead id", "leadid", "线索id", "线索编号"],
    "company_name": ["company_name", "company", "company name", "account", "account name", "customer", "customer name",
                     "公司名称", "客户名称", "企业名称", "单位名称", "公司", "客户"],
    "uscc": ["uscc", "credit code", "credit_code", "unified social credit code", "统一社会信用代码", "社会信用代码",
             "信用代码"],
    "outcome": ["outcome", "result", "status", "stage", "结果", "状态", "商机状态", "销售阶段", "阶段"],
    "outcome_date": ["outcome_date", "outcome date", "date", "close date", "close_date", "closed", "closed date",
                     "closing date", "date closed", "close_time", "won date", "signed date", "contract date",
                     "decision date", "日期", "成交日期", "签约日期", "签单日期", "赢单日期", "丢单日期", "结单日期",
                     "关单日期", "关闭日期", "结束日期", "完成日期", "成交时间", "签约时间", "时间"],
    "owner": ["owner", "sales", "salesperson", "sales rep", "rep", "负责人", "销售", "销售人员", "跟进人", "所有者"],
}


def detect_columns(headers: list[str], given: dict[str, str] | None = None) -> dict[str, str]:
    """Our field -> the file's header: the headers `given` (a file's `columns:`, `--map`; case
    and spaces aside), then each other field's usual names (ALIASES). ValueError when a given
    header is not in the file, or no column holds the outcome or names the lead."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(OUTCOME_FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}: fields are {', '.join(OUTCOME_FIELDS)}")
    folded: dict[str, str] = {}
    for header in headers:
        folded.setdefault(header_key(header), header)
    found = {name: header if header in headers else folded.get(header_key(header), header) for name, header in given.items()}
    missing = sorted(h for h in found.values() if h not in headers)
    if missing:
        raise ValueError(f"column(s) {', '.join(map(repr, missing))} not in the file (it has {', '.join(headers)})")
    for name in OUTCOME_FIELDS:
        if name not in found:
            hit = next((folded[a] for a in ALIASES[name] if a in folded and folded[a] not in found.values()), None)
            if hit is not None:
                found[name] = hit
    if "outcome" not in found:
        raise ValueError(f"no outcome column (looked for {', '.join(ALIASES['outcome'][:6])}, ...; the file has "
                         f"{', '.join(headers)}); name it (`columns:` of the outcomes file, or --map HEADER=outcome)")
    if not {"lead_id", "company_name", "uscc"} & set(found):
        raise ValueError("no column names the lead: give lead_id, company name or 统一社会信用代码 "
                         f"(the file has {', '.join(headers)}); name it (`columns:` of the outcomes file, or "
                         "--map HEADER=company_name)")
    return found


def load_outcomes(cfg: OutcomesConfig) -> pd.DataFrame:
    """The outcomes file in our columns (strings), with its row numbers: the columns its
    `columns:` names, the others found by their usual headers (`detect_columns`), as
    `leadrank outcomes import` finds them."""
    table = read_table(cfg.path, cfg.encoding, cfg.sep)
    table.columns = [str(c).strip() for c in table.columns]
    try:
        cols = detect_columns(list(table.columns), cfg.columns)
    except ValueError as exc:
        raise ValueError(f"outcomes {cfg.name} ({cfg.path.name}): {exc}") from None
    return outcome_rows(table, cols, cfg.path.name)


def outcome_rows(table: pd.DataFrame, cols: dict[str, str], file_name: str) -> pd.DataFrame:
    """A read outcomes table in our columns (strings; `cols`: `detect_columns`' mapping), with
    its row numbers and file name."""
    out = pd.DataFrame({field: table[cols[field]] if field in cols else None for field in OUTCOME_FIELDS},
                       index=table.index, dtype=object)
    out = out.where(out.notna() & (out != ""), None)
    out["source_file"] = file_name
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
