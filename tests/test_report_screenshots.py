"""The report as a person sees it: headless-Chromium screenshots in English and Chinese, with the
list of leads on the first screen and Chinese text drawn as characters, not boxes ("tofu").

Skipped where Chromium is not installed (Debian: apt-get install chromium); the tofu check also
needs a CJK font (Debian: fonts-noto-cjk or fonts-wqy-microhei) and is skipped without one, after
showing that the same check does see tofu when no CJK font is reachable.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from leadrank.warehouse.charts import FONT_STACK, TIER_COLOURS
from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.read import ranked_leads
from leadrank.warehouse.report import write_report
from scripts.screenshot_report import colour_pixels, find_chromium, screenshot, table_box, tofu
from tests.helpers import run_pipeline

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (apt-get install chromium)")
FIRST_SCREEN = 900  # pixels: a laptop's window


def fonts(pattern: str, field: str) -> list[str]:
    """fc-list's answer for `pattern` (e.g. ':lang=zh'), one value of `field` a font."""
    if shutil.which("fc-list") is None:
        return []
    listed = subprocess.run(["fc-list", "--format", f"%{{{field}}}\\n", pattern], capture_output=True, text=True,
                            check=False).stdout
    return sorted({v for line in listed.splitlines() for v in line.split(",") if v})


def without_cjk_fonts(tmp_path: Path) -> dict[str, str]:
    """An environment whose fontconfig sees one Latin font and no CJK one."""
    latin = sorted(set(fonts(":lang=en", "file")) - set(fonts(":lang=zh", "file")))
    if not latin:
        pytest.skip("no Latin-only font to build a CJK-less fontconfig from")
    folder = tmp_path / "latin-fonts"
    folder.mkdir()
    (folder / Path(latin[0]).name).symlink_to(latin[0])
    conf = tmp_path / "fonts.conf"
    conf.write_text(f"<?xml version='1.0'?><fontconfig><dir>{folder}</dir><cachedir>{tmp_path / 'fc-cache'}</cachedir>"
                    "</fontconfig>", encoding="utf-8")
    return {**os.environ, "FONTCONFIG_FILE": str(conf)}


def test_report_screenshots_show_the_lead_table_and_chinese_text(tmp_path, demo_config):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    run_pipeline(str(demo_config), url)
    engine = make_engine(url)
    ranked = ranked_leads(engine)
    for lang in ("en", "zh"):
        page = tmp_path / f"report-{lang}.html"
        write_report(engine, page, lang)
        png = screenshot(page, tmp_path / f"report-{lang}.png", height=FIRST_SCREEN)
        assert Image.open(png).size == (1200, FIRST_SCREEN)
        box = table_box(page, "top-leads", tmp_path, height=FIRST_SCREEN)
        assert box is not None, f"no lead table in the {lang} report"
        assert box["rows"] == len(ranked) + 1 and box["y"] < 300  # all leads, below the header and cards
        # Its first rows are on the first screen: each tier's badges show in the table's part of
        # the screenshot, some 180 pixels of the tier's colour a badge.
        visible = (int(box["x"]), int(box["y"]), int(box["x"] + box["width"]), FIRST_SCREEN)
        for tier, n in ranked.head(10)["tier"].value_counts().items():
            assert colour_pixels(png, TIER_COLOURS[tier], visible) >= 120 * n, (lang, tier)

    chinese = "线索排名报告" + "".join(ranked["company_name"].head(3))
    # The check itself sees tofu when no CJK font is reachable: every character is the same box.
    assert tofu(chinese, FONT_STACK, tmp_path, env=without_cjk_fonts(tmp_path)) == list(dict.fromkeys(chinese))
    installed = fonts(":lang=zh", "family")
    if not installed:
        pytest.skip("no CJK font installed (Debian: fonts-noto-cjk or fonts-wqy-microhei)")
    assert any(f'"{family}"' in FONT_STACK for family in installed), installed  # the page asks for one by name
    assert tofu(chinese, FONT_STACK, tmp_path) == []
