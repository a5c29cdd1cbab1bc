"""What a run did, as small plain data for the people watching it: the data-quality table and
the top of the ranked list. The Prefect artifacts (leadrank.flows.artifacts) render these; the
data comes from the run directory and the warehouse only, so this never imports Prefect and
can be tested on its own.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from leadrank.run_files import RunFiles
from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.read import ranked_leads

# Fill rates of the fields sales call and match on: field label -> NORMALISED column.
FILL_FIELDS = {
    "company_name": "company_name",
    "website": "website",
    "phone": "phone",
    "email": "email",
    "address": "address",
    "uscc": "uscc",
    "city": "city_norm",  # resolved from the city, the address or the name
}
# Normalisation flags that mean a value was present but unusable: flag -> (field, why).
INVALID_FLAGS = {
    "uscc_invalid": ("uscc", "统一社会信用代码 fails the GB 32100-2015 check"),
    "phone_invalid": ("phone", "not a valid phone number"),
    "email_invalid": ("email", "not a valid email address"),
}
QUALITY_COLUMNS = ["source", "check", "field", "count", "of", "rate", "detail"]
TOP_COLUMNS = ["rank", "tier", "company", "segment", "city", "priority", "phone", "website", "movement", "why"]


def _present(values: pd.Series) -> pd.Series:
    return values.map(lambda v: v is not None and str(v).strip() != "")


def _row(source: str, check: str, field: str, count: int, of: int | None, detail: str = "") -> dict[str, Any]:
    rate = f"{100 * count / of:.1f}%" if of else ""
    return {"source": source, "check": check, "field": field, "count": int(count), "of": of, "rate": rate,
            "detail": detail}


def data_quality(run_id: str, sources: list[str]) -> list[dict[str, Any]]:
    """One table (QUALITY_COLUMNS): per source, the fill rate of each key field and the count of
    invalid codes among present values, then every group of rejected rows with its reason and
    an example of where it came from. Stages that did not run contribute nothing."""
    files = RunFiles(run_id)
    rows: list[dict[str, Any]] = []
    if files.stage("normalised").exists():
        normalised = files.read_stage("normalised")
        for source, group in normalised.groupby("source", sort=True):
            total = len(group)
            for label, column in FILL_FIELDS.items():
                rows.append(_row(str(source), "fill rate", label, _present(group[column]).sum(), total))
            flags = group["flags"].fillna("").map(lambda f: set(f.split(";")))
            for flag, (field, why) in INVALID_FLAGS.items():
                present = int(_present(group[field]).sum())
                rows.append(_row(str(source), "invalid", field, flags.map(lambda f, flag=flag: flag in f).sum(),
                                 present, why))
    rejects = [files.read_source_rejects(s) for s in sources if files.source_rejects(s).exists()]
    rejects += [files.read_stage(name) for name in ("normalise_rejects", "score_rejects") if files.stage(name).exists()]
    rejects = [r for r in rejects if len(r)]
    if rejects:
        frame = pd.concat(rejects, ignore_index=True)
        frame["source"] = frame["source"].fillna("")
        for (source, stage, reason), group in frame.groupby(["source", "stage", "reason"], sort=True, dropna=False):
            example = next((str(r) for r in group["row_ref"] if r), "")
            detail = f"{reason} (e.g. {example})" if example else str(reason)
            rows.append(_row(str(source), "rejected", str(stage), len(group), None, detail))
    return rows


def top_leads(warehouse: str | None, limit: int = 50) -> list[dict[str, Any]]:
    """The published ranked list's first `limit` rows (TOP_COLUMNS), as sales will see it."""
    frame = ranked_leads(make_engine(warehouse), limit=limit)
    return [
        {"rank": int(r.rank), "tier": r.tier, "company": r.company_name or "", "segment": r.segment or "",
         "city": r.city or "", "priority": round(float(r.priority), 3), "phone": r.phone or "",
         "website": r.website or "", "movement": r.movement or "", "why": r.top_reasons or ""}
        for r in frame.itertuples()
    ]
