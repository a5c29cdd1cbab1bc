"""Extraction against the real files: per source, the rows present in the file vs the rows
extracted, names equal after whitespace trimming, every website/phone/address the source has,
and field fill rates.

The truth is counted independently of the extractor: the JSON with the json module, the HTML
tables with lxml and XPath (the extractor uses BeautifulSoup and its own table grid), so a bug in
the extractor cannot hide itself.

    .venv/bin/python bench/eval_sources.py                      # runs the extraction in-process
    .venv/bin/python bench/eval_sources.py --csv x.csv          # evaluates `leadrank extract` output
    LEADRANK_REALDATA=/path/to/realdata .venv/bin/python bench/eval_sources.py

Exits 0 when every source matches, 1 when something is missing, 0 with a note when the real
data is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

import lxml.html
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "realdata.yaml"
CHECKED = ("website", "phone", "address", "member_level", "company_name_alt", "country")
FILL = ("company_name", "company_name_alt", "website", "phone", "address", "country", "member_level", "products")
_WS = re.compile(r"\s+")


def squash(value: object) -> str:
    """A value with all whitespace removed: how values are compared (HTML puts spaces anywhere)."""
    return "" if value is None or (isinstance(value, float) and value != value) else _WS.sub("", str(value))


def trim(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else " ".join(str(value).split())


# -- truth, read without the extractor ------------------------------------------------------------
def truth_json(path: Path) -> list[dict[str, str]]:
    rows = []
    for entry in json.loads(path.read_text(encoding="utf-8"))["exhibitor"]:
        def text(value: object) -> str:
            if isinstance(value, dict):
                value = value.get("text")
            return value if isinstance(value, str) else ""

        rows.append({"company_name": entry.get("name", ""), "website": entry.get("website") or "",
                     "address": text(entry.get("address")), "phone": entry.get("phone") or "",
                     "company_name_alt": entry.get("alias") or "", "country": text(entry.get("country"))})
    return rows


def truth_table(path: Path) -> list[dict[str, str]]:
    tree = lxml.html.fromstring(path.read_text(encoding="utf-8"))
    table = tree.xpath("//table[not(ancestor::table)]")[0]
    rows = table.xpath("./tr | ./tbody/tr | ./thead/tr")

    def cells(tr: lxml.html.HtmlElement) -> list[str]:
        return [trim("".join(td.itertext())) for td in tr.xpath("./td | ./th")]

    header = cells(rows[0])

    def column(*names: str) -> int | None:
        for i, h in enumerate(header):
            if any(n in h for n in names):
                return i
        return None

    name_at = column("名称")
    at = {"website": column("网址", "官方网站"), "phone": column("电话"), "address": column("联系地址", "注册地"),
          "member_level": column("协会会员")}
    out = []
    for tr in rows[1:]:
        values = cells(tr)
        if name_at is None or name_at >= len(values) or not values[name_at]:
            continue  # a continuation line of a merged row, or an empty row
        row = {"company_name": values[name_at]}
        for field, index in at.items():
            row[field] = values[index] if index is not None and index < len(values) else ""
        out.append(row)
    return out


def truth_for(url: str) -> list[dict[str, str]]:
    path = Path(url.removeprefix("file://"))
    return truth_json(path) if path.suffix == ".json" else truth_table(path)


# -- comparison -------------------------------------------------------------------------------------
def _country_line_taken(address: str, record: dict[str, object]) -> bool:
    """The extractor took the address' last line off as its country: what is left is the rest of
    the lines, and the record has a country (bench/eval_country_lines.py checks which)."""
    lines = [line for line in address.splitlines() if line.strip()]
    return len(lines) > 1 and bool(squash(record.get("country"))) and \
        squash(record.get("address")) == squash("".join(lines[:-1]))


def compare(truth: list[dict[str, str]], got: pd.DataFrame) -> dict[str, object]:
    """Pair truth rows and extracted rows by trimmed name (in document order within a name)."""
    by_name: dict[str, list[dict[str, object]]] = defaultdict(list)
    for record in got.to_dict("records"):
        by_name[trim(record.get("company_name"))].append(record)
    stats: dict[str, object] = {"present": len(truth), "extracted": len(got), "names_equal": 0}
    missing_names: list[str] = []
    for field in CHECKED:
        stats[f"{field}_src"] = stats[f"{field}_ok"] = 0
    for row in truth:
        name = row["company_name"].strip()
        pool = by_name.get(trim(name)) or []
        record = pool.pop(0) if pool else None
        if record is None:
            missing_names.append(name)
            continue
        stats["names_equal"] += str(record.get("company_name") or "") == name or trim(record.get("company_name")) == trim(name)
        for field in CHECKED:
            if squash(row.get(field)):
                stats[f"{field}_src"] += 1
                stats[f"{field}_ok"] += squash(record.get(field)) == squash(row.get(field)) or (
                    field == "address" and _country_line_taken(row[field], record))
    stats["missing"] = missing_names[:3]
    stats["extra"] = sum(len(v) for v in by_name.values())
    for field in FILL:
        column = got[field] if field in got else pd.Series(dtype=object)
        stats[f"fill_{field}"] = float(column.map(lambda v: bool(squash(v))).mean()) if len(got) else 0.0
    return stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--realdata", default=os.environ.get("LEADRANK_REALDATA", str(ROOT.parent / "shared" / "realdata")))
    parser.add_argument("--config", default=str(CONFIG))
    parser.add_argument("--csv", help="evaluate this `leadrank extract` output instead of extracting in-process")
    args = parser.parse_args()
    realdata = Path(args.realdata)
    if not (realdata / "exhibitions").is_dir():
        print(f"real data not found at {realdata}: nothing to evaluate (set LEADRANK_REALDATA)")
        return 0
    os.environ["LEADRANK_REALDATA"] = str(realdata.resolve())
    from leadrank.config import load_config
    from leadrank.extractors.pages import start_url
    from leadrank.extractors.runner import extract_source

    cfg = load_config(args.config)
    extracted = pd.read_csv(args.csv, dtype=str, encoding="utf-8-sig", keep_default_na=False) if args.csv else None
    header = ("source", "present", "extracted", "names=", "website", "phone", "address", "level", "alt", "country",
              "fill: name", "alt", "web", "phone", "addr", "country", "level", "products", "s")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    totals = defaultdict(int)
    all_ok = True
    for source in cfg.sources:
        url = start_url(source.options()["url"], True)
        truth = truth_for(url)
        started = time.perf_counter()
        if extracted is None:
            got, _, report = extract_source(source, cfg.fetch, run_id="eval")
            if report.status != "ok":
                print(f"{source.name}: {report.status}: {report.reason}", file=sys.stderr)
        else:
            got = extracted[extracted["source"] == source.name]
        seconds = time.perf_counter() - started
        s = compare(truth, got)
        ok = s["present"] == s["extracted"] == s["names_equal"] and all(s[f"{f}_src"] == s[f"{f}_ok"] for f in CHECKED)
        all_ok &= ok
        for key in ("present", "extracted", "names_equal", *(f"{f}_{k}" for f in CHECKED for k in ("src", "ok"))):
            totals[key] += s[key]
        cells = [source.name, s["present"], s["extracted"], s["names_equal"],
                 *(f"{s[f'{f}_ok']}/{s[f'{f}_src']}" for f in CHECKED),
                 *(f"{s[f'fill_{f}']:.0%}" for f in FILL), f"{seconds:.2f}" if extracted is None else "-"]
        print("| " + " | ".join(str(c) for c in cells) + " |")
        if not ok:
            short = [f"{f} {s[f'{f}_ok']}/{s[f'{f}_src']}" for f in CHECKED if s[f"{f}_ok"] != s[f"{f}_src"]]
            print(f"   MISMATCH {source.name}: names missing e.g. {s['missing']}, {s['extra']} extra rows; "
                  f"fields not found: {', '.join(short) or 'none'}", file=sys.stderr)
    print("| **all** | " + " | ".join(str(totals[k]) for k in ("present", "extracted", "names_equal")) + " | "
          + " | ".join(f"{totals[f'{f}_ok']}/{totals[f'{f}_src']}" for f in CHECKED) + " |" + " |" * (len(FILL) + 1))
    print("\nevery row, name, website, phone and address matches" if all_ok else "\nSOME SOURCES DO NOT MATCH (see stderr)")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
