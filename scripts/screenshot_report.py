"""Screenshots of `leadrank report` in English and Chinese, taken with headless Chromium, and the
two checks a person makes on looking at them: the list of leads to call is at the top of the
page, and Chinese text shows as characters, not as boxes ("tofu", what a browser draws for a
character no installed font has).

    python scripts/screenshot_report.py [--warehouse URL] [--out DIR] [--timezone TZ]

The warehouse is --warehouse, else LEADRANK_WAREHOUSE_URL, else data/leadrank.db (after `make
run`, the demo's). Writes
report-en.html/.png and report-zh.html/.png into DIR (default: report-screenshots) and prints
what it checked; exits 1 when a check fails. Needs Chromium (Debian: apt-get install chromium)
and, for Chinese, a CJK font (Debian: fonts-noto-cjk or fonts-wqy-microhei).

The tofu check does not trust font names: it renders each character of a Chinese text alone,
in the report's own font stack, and compares the pictures. Distinct characters drawn by a real
font differ; drawn as tofu they are all the same box (or nothing at all).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from html import escape, unescape
from pathlib import Path

from PIL import Image

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CELL = 48  # pixels of the square each probe character is drawn in


def find_chromium() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def _chromium(page: Path, width: int, height: int, args: list[str],
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on `page` at a window of width x height, with a throw-away profile."""
    browser = find_chromium()
    if browser is None:
        raise RuntimeError("Chromium is not installed (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="leadrank-chromium-") as profile:
        # --no-sandbox: Chromium refuses to start as root otherwise (CI runs as root); the pages
        # are our own files.
        return subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--force-device-scale-factor=1",
             f"--user-data-dir={profile}", f"--window-size={width},{height}", *args, page.resolve().as_uri()],
            capture_output=True, text=True, timeout=180, env=env, check=False)


def screenshot(page: Path, png: Path, *, width: int = 1200, height: int = 2800,
               env: dict[str, str] | None = None) -> Path:
    """Render `page` (an HTML file) in headless Chromium at width x height and save it as `png`."""
    png.unlink(missing_ok=True)
    done = _chromium(page, width, height, ["--hide-scrollbars", f"--screenshot={png}"], env)
    if not png.exists():
        raise RuntimeError(f"Chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-500:]}")
    return png


def glyph_pictures(text: str, font_stack: str, workdir: Path, *, env: dict[str, str] | None = None) -> list[bytes]:
    """Each character of `text` rendered alone in `font_stack`, as raw greyscale pixels."""
    cells = "".join(f"<div>{escape(c)}</div>" for c in text)
    probe = workdir / "glyphs.html"
    probe.write_text(
        "<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'><style>"
        f"body{{margin:0;background:#fff;white-space:nowrap}}div{{display:inline-block;width:{CELL}px;"
        f"height:{CELL}px;line-height:{CELL}px;font-size:{CELL - 12}px;text-align:center;overflow:hidden;"
        f"vertical-align:top;color:#000;font-family:{font_stack}}}"
        f"</style></head><body>{cells}</body></html>", encoding="utf-8")
    image = Image.open(screenshot(probe, workdir / "glyphs.png", width=CELL * len(text), height=CELL, env=env))
    grey = image.convert("L")
    return [grey.crop((i * CELL, 0, (i + 1) * CELL, CELL)).tobytes() for i in range(len(text))]


def tofu(text: str, font_stack: str, workdir: Path, *, env: dict[str, str] | None = None) -> list[str]:
    """The characters of `text` that render as tofu in `font_stack`: blank, or the same picture
    as another character. Empty when every character is drawn as itself."""
    chars = list(dict.fromkeys(text))
    pictures = glyph_pictures("".join(chars), font_stack, workdir, env=env)
    blank = bytes([255]) * (CELL * CELL)
    seen: dict[bytes, int] = {}
    for picture in pictures:
        seen[picture] = seen.get(picture, 0) + 1
    return [c for c, p in zip(chars, pictures, strict=True) if p == blank or seen[p] > 1]


def colour_pixels(png: Path, colour: str, box: tuple[int, int, int, int]) -> int:
    """How many pixels inside `box` (left, top, right, bottom) of `png` have exactly `colour`."""
    rgb = tuple(int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    part = Image.open(png).convert("RGB").crop(box)
    return sum(n for n, pixel in part.getcolors(maxcolors=1 << 24) if pixel == rgb)


def table_box(page: Path, css_class: str, workdir: Path, *, width: int = 1200, height: int = 2800) -> dict | None:
    """Where Chromium lays out the page's first <table class=css_class> at this window size:
    {x, y, width, height, rows}, or None when the page has no such table. A copy of the page
    with a script that writes the box into the document is dumped (the report itself has no
    script)."""
    script = ("<script>const t = document.querySelector('table." + css_class + "');"
              "const r = t && t.getBoundingClientRect(); const p = document.createElement('pre'); p.id = 'box';"
              "p.textContent = JSON.stringify(t && {x: r.x, y: r.y, width: r.width, height: r.height, "
              "rows: t.rows.length}); document.body.appendChild(p);</script>")
    probe = workdir / f"box-{page.name}"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", script + "</body>"), encoding="utf-8")
    dom = _chromium(probe, width, height, ["--dump-dom"]).stdout
    found = re.search(r"<pre id=\"box\">(.*?)</pre>", dom, flags=re.S)
    if not found:
        raise RuntimeError(f"Chromium did not lay the page out: {dom[-300:]}")
    return json.loads(unescape(found.group(1)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", help="SQLAlchemy URL of the warehouse (default as for leadrank commands)")
    parser.add_argument("--out", type=Path, default=Path("report-screenshots"))
    parser.add_argument("--timezone", default=None)
    args = parser.parse_args()

    from leadrank.warehouse.charts import FONT_STACK, TIER_COLOURS
    from leadrank.warehouse.engine import make_engine
    from leadrank.warehouse.read import ranked_leads
    from leadrank.warehouse.report import write_report

    if find_chromium() is None:
        print("Chromium is not installed (Debian: apt-get install chromium)", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="leadrank-shots-") as scratch:
        engine = make_engine(args.warehouse)
        first_tier = str(ranked_leads(engine, limit=1)["tier"].iloc[0])  # its badge colour must show
        failed = False
        for lang in ("en", "zh"):
            page = args.out / f"report-{lang}.html"
            write_report(engine, page, lang, args.timezone)
            png = screenshot(page, args.out / f"report-{lang}.png")
            box = table_box(page, "top-leads", Path(scratch))
            badges = colour_pixels(png, TIER_COLOURS[first_tier], _first_screen(box)) if box else 0
            print(f"{png}: " + (f"the lead table ({box['rows'] - 1} leads) starts {box['y']:.0f} px down, "
                                f"{badges} pixels of tier {first_tier}'s badge colour in it" if box else "NO lead table"))
            failed |= not badges
        boxes = tofu("线索排名报告优先联系客户类型", FONT_STACK, Path(scratch))
        print(f"Chinese text: {'tofu for ' + ''.join(boxes) if boxes else 'every character renders'}")
        return 1 if failed or boxes else 0


def _first_screen(box: dict) -> tuple[int, int, int, int]:
    """The part of a table's box on the first 900 pixels of the page (a laptop's window)."""
    return int(box["x"]), int(box["y"]), int(box["x"] + box["width"]), min(int(box["y"] + box["height"]), 900)


if __name__ == "__main__":
    sys.exit(main())
