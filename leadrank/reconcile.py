"""Where every extracted record went: published, merged or rejected, and nothing else.

A record a source yields tonight ends in exactly one of three places:

- **rejected**: in the rejects table (`stg_rejects`) with the reason, at extraction (a required
  field empty, a search result that names no company or repeats an earlier one, every row of a
  source whose layout changed) or at normalisation (a name with no letter or digit left once
  normalised: only punctuation, emoji or a legal form);
- **published**: the first of tonight's records of a lead in the published run: one per lead
  that tonight's records make up (suppressed leads count too: they are published, and hidden);
- **merged**: the further records of such a lead (the same company listed twice, or by two
  sources), linked to it in `lead_records`.

So `extracted = published + merged + rejected`, where `extracted` is every row the sources
parsed tonight (records kept plus rejected, per source report). `reconcile` checks that from the
run's files before it publishes; a run whose counts do not add up has lost records somewhere and
fails instead of publishing (RecordsLost). No Prefect import here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadrank.run_files import RunFiles, read_json


class RecordsLost(RuntimeError):
    """Tonight's records do not add up: some vanished between extraction and publishing."""


def _rejected(files: RunFiles, sources: list[str]) -> pd.DataFrame:
    columns = ["source", "stage"]
    frames = [files.read_source_rejects(name, columns) for name in sources if files.source_rejects(name).exists()]
    if files.stage("normalise_rejects").exists():
        frames.append(files.read_stage("normalise_rejects", columns))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["source", "stage"])


def reconcile(run_id: str, sources: list[str]) -> dict[str, Any]:
    """Tonight's counts (see the module docstring), in total and per source; raises RecordsLost
    when extracted != published + merged + rejected or a lead of tonight's records is not scored."""
    files = RunFiles(run_id)
    reports = [read_json(files.report(name))
               for name in sources if files.report(name).exists()]
    extracted = {r["source"]: int(r["records"]) + int(r["rejected"]) for r in reports}
    rejected = _rejected(files, sources)
    # As stored (Arrow text), counted by Arrow kernels: Python sets of a million lead IDs took
    # ~1.5 s of every night's load.
    resolved = files.read_stage("resolved", ["source", "seen_tonight", "lead_id"], as_stored=True)
    tonight = resolved[resolved["seen_tonight"].to_numpy(dtype=bool)]
    leads = pc.unique(pa.array(tonight["lead_id"]))
    scored = pa.array(files.read_stage("scores", ["lead_id"], as_stored=True)["lead_id"])
    unscored = sorted(leads.filter(pc.invert(pc.is_in(leads, value_set=scored))).to_pylist())
    counts = {"extracted": sum(extracted.values()), "published": len(leads), "merged": len(tonight) - len(leads),
              "rejected": len(rejected)}
    source = pa.array(tonight["source"])
    by_source = {}
    for name in sources:
        linked = int(pc.sum(pc.equal(source, name)).as_py() or 0)
        dropped = int((rejected["source"] == name).sum())
        by_source[name] = {"extracted": extracted.get(name, 0), "linked": linked, "rejected": dropped,
                           "lost": extracted.get(name, 0) - linked - dropped}
    lost = counts["extracted"] - counts["published"] - counts["merged"] - counts["rejected"]
    if lost or unscored:
        detail = "; ".join(f"{name}: {c['lost']}" for name, c in by_source.items() if c["lost"])
        raise RecordsLost(
            f"run {run_id}: {counts['extracted']} records extracted but {counts['published']} published + "
            f"{counts['merged']} merged + {counts['rejected']} rejected" + (f" (per source: {detail})" if detail else "")
            + (f"; leads without a score: {', '.join(unscored[:5])}" if unscored else ""))
    return {**counts, "by_source": by_source}
