"""Customer types of the real exhibitor and association leads, under this checkout's segment
rules and, with --before REV, under the rules of leadrank/scoring/segments.py at git revision
REV (for example the commit before a rule change): a before/after table per group of leads.

    LEADRANK_REALDATA=../shared/realdata .venv/bin/python bench/segment_mix.py [--before REV]

The leads are those of one night of examples/realdata.yaml (extracted, normalised, resolved and
made golden records in a scratch data directory, no warehouse kept). Prints the tables; exits 0
with a note when the real data is absent.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "realdata.yaml"


def segments_at(revision: str, scratch: Path) -> ModuleType:
    """leadrank.scoring.segments as it was at `revision`, imported from a scratch copy."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:leadrank/scoring/segments.py"],
                            check=True, capture_output=True, text=True).stdout
    path = scratch / "segments_before.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("segments_before", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def real_leads(scratch: Path) -> pd.DataFrame:
    """One night's golden records of examples/realdata.yaml."""
    os.environ["LEADRANK_DATA_DIR"] = str(scratch)
    from leadrank import night, pipeline, run_files

    warehouse = f"sqlite:///{scratch / 'warehouse.db'}"
    run_id = pipeline.new_run_id()
    sources = pipeline.begin(str(CONFIG), run_id, warehouse)["sources"]
    for name in sources:
        pipeline.extract_step(run_id, name)
    night.run_steps(night.Night(run_id, warehouse, tuple(sources)), night.AFTER_EXTRACT[0].name, "dedupe")
    return run_files.RunFiles(run_id).read_stage("leads")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", metavar="REV", help="also classify with the segment rules of this git revision")
    args = parser.parse_args()
    realdata = Path(os.environ.get("LEADRANK_REALDATA", ROOT.parent / "shared" / "realdata"))
    if not (realdata / "exhibitions").is_dir():
        print(f"no real data at {realdata}; nothing to evaluate")
        return 0
    os.environ["LEADRANK_REALDATA"] = str(realdata.resolve())
    from leadrank.config import load_config
    from leadrank.scoring import segments
    from leadrank.scoring.financials import load_financials
    from leadrank.scoring.ratios import lead_ratios

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        leads = real_leads(scratch)
        cfg = load_config(CONFIG)
        ratios = lead_ratios(load_financials(cfg.financials)[0], leads, cfg.scoring)
        after = segments.classify(leads, ratios, cfg.scoring).set_index("lead_id")["customer_type"]
        before = (segments_at(args.before, scratch).classify(leads, ratios, cfg.scoring)
                  .set_index("lead_id")["customer_type"] if args.before else None)
    by_lead = leads.set_index("lead_id")
    groups = {
        "exhibition leads": ~by_lead["source_kinds"].str.contains("association"),
        "DSEI-only leads": by_lead["sources"].map(lambda s: all(x.startswith("caat_dsei") for x in s.split(";"))),
        "association leads": by_lead["source_kinds"].str.contains("association"),
    }
    for name, mask in groups.items():
        print(f"## {name} ({int(mask.sum())})")
        if before is None:
            print(after[mask].value_counts().to_string(), end="\n\n")
            continue
        table = pd.crosstab(before[mask].rename(f"before ({args.before})"), after[mask].rename("after"), margins=True)
        print(table.to_string(), end="\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
