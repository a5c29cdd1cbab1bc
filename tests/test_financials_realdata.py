"""Ratios on the real portal and tushare exports against hand computations. Reads the real data
in place (../shared/realdata or LEADRANK_REALDATA) and skips when it is absent.

The hand values below were worked out from the raw cells of the files (all in 万元), e.g. for
鞍钢股份 (000898) 2018: 流动资产合计 2,690,800 / 资产总计 9,002,400 = 0.2989.
"""

import os
from pathlib import Path

import pytest

from bench.eval_financials import netease_configs, ratios_of, tushare

REALDATA = Path(os.environ.get("LEADRANK_REALDATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata"))
pytestmark = pytest.mark.skipif(not (REALDATA / "financials").is_dir(), reason="no real data beside the project")

RATIO_NAMES = ["current_asset_ratio", "net_margin", "roa", "collection_days", "inventory_days", "revenue_growth"]
# (stock code, year): (cells as fractions, the same rounded to 4 decimals) for the six ratios.
HAND = {
    # 鞍钢股份, UTF-8 file
    ("000898", 2018): ([2690800 / 9002400, 795200 / 10515700, 795200 / 9002400, 246000 / 10515700 * 365,
                        1312500 / 8812600 * 365, 10515700 / 8431000 - 1],
                       [0.2989, 0.0756, 0.0883, 8.5387, 54.3611, 0.2473]),
    # 鼎泰新材 before the reverse merger, GBK file
    ("002352", 2015): ([59428 / 88541, 2513 / 66847, 2513 / 88541, 20966 / 66847 * 365, 15077 / 57253 * 365,
                        66847 / 81265 - 1],
                       [0.6712, 0.0376, 0.0284, 114.4792, 96.1191, -0.1774]),
    # 顺丰控股 after it (revenue ×86: a structural break), GBK file
    ("002352", 2016): ([2133317 / 4413489, 416078 / 5748270, 416078 / 4413489, 455991 / 5748270 * 365,
                        39601 / 4616517 * 365, 5748270 / 66847 - 1],
                       [0.4834, 0.0724, 0.0943, 28.9542, 3.1310, 84.9914]),
    # 华夏幸福, a property developer: inventory is land and housing under construction
    ("600340", 2018): ([36796037 / 40971183, 1180275 / 8379859, 1180275 / 40971183, 3443766 / 8379859 * 365,
                        25452268 / 4891884 * 365, 8379859 / 5963542 - 1],
                       [0.8981, 0.1408, 0.0288, 149.9995, 1899.0797, 0.4052]),
}


def test_netease163_ratios_match_hand_computation():
    frame, rejects = ratios_of(netease_configs(REALDATA))
    frame = frame.set_index(["stock_code", "year"])
    assert frame.index.get_level_values(0).nunique() == 13 and rejects.empty
    for key, (exact, rounded) in HAND.items():
        for name, value, shown in zip(RATIO_NAMES, exact, rounded, strict=True):
            assert frame.loc[key, name] == pytest.approx(value, rel=1e-9), (key, name)
            assert round(float(frame.loc[key, name]), 4) == pytest.approx(shown, abs=1e-4), (key, name)
    assert frame.loc[("002352", 2016), "structural_break"] and not frame.loc[("002352", 2015), "structural_break"]


def test_tushare_net_margin_units_and_ready_made_days():
    figures = tushare(REALDATA)
    assert figures["net_margin_compared"] > 2800
    assert figures["net_margin_share_within_1pct"] >= 0.96
    assert figures["outside_1pct_max_abs_published_margin_pct"] < 1.0  # only tiny margins, where rounding dominates
    assert figures["net_margin_max_abs_diff_pp"] <= 0.011  # tushare rounds to 0.01 percentage points
    assert figures["collection_days_from_arturndays"] > 2800 and figures["inventory_days_from_source"] > 2800
    assert set(figures["inventory_na_industries"]) <= {"银行", "证券", "保险", "多元金融"}
    assert figures["duplicate_rows_reported"] == 35  # 10 in profit, 25 in operations
