"""Numbers as CRM exports write them (leadrank.scoring.numbers) and the outcome table's column kinds."""

import numpy as np
import pandas as pd
import pytest

from leadrank.scoring.model import outcome_table
from leadrank.scoring.numbers import number_cells


@pytest.mark.parametrize(("cell", "number"), [
    ("1,200", 1200.0), ("¥1,200", 1200.0), ("￥1,200", 1200.0), ("$3.5k", 3500.0), ("US$5", 5.0), ("3.5万", 35000.0),
    ("1.2亿", 1.2e8), ("１２３", 123.0), ("（1,000）", -1000.0), ("(1,200)", -1200.0), ("45%", 45.0), ("-7", -7.0),
    ("+8.5", 8.5), ("2e3", 2000.0), ("RMB 100", 100.0), ("100元", 100.0), (" 12 ", 12.0), (".5", 0.5),
])
def test_a_number_as_an_export_writes_it_reads_as_that_number(cell, number):
    value, filled, text = number_cells(pd.Series([cell]))
    assert value[0] == pytest.approx(number) and filled[0] and not text[0]


@pytest.mark.parametrize("cell", ["N/A", "n/a", "--", "-", "请选择", "Select", "null", "", "  "])
def test_a_placeholder_is_a_missing_value_not_text(cell):
    value, filled, text = number_cells(pd.Series([cell]))
    assert np.isnan(value[0]) and not filled[0] and not text[0]


@pytest.mark.parametrize("cell", ["abc", "1-5", "(5", "5 apples", "2024-03-01", "1e999", "2e400万"])
def test_text_is_text(cell):
    value, filled, text = number_cells(pd.Series([cell]))
    assert np.isnan(value[0]) and filled[0] and text[0]


def test_a_revenue_column_written_for_people_is_a_number_column():
    """A fifth of the cells "N/A", units and currency marks mixed: before, those cells were text
    and the column a category of ~thousand levels (ignored as an identifier); the won deals
    follow revenue, so the number's order is what the model needs."""
    rng = np.random.default_rng(3)
    n = 1000
    revenue = rng.lognormal(12, 1, size=n)  # yuan
    written = np.where(rng.random(n) < 0.5, [f"{r / 1e4:.1f}万" for r in revenue], [f"¥{r:,.0f}" for r in revenue])
    written = np.where(rng.random(n) < 0.2, "N/A", written)
    won = rng.random(n) < 1 / (1 + np.exp(-(np.log(revenue) - 12)))
    table = outcome_table(pd.DataFrame({"Revenue": written, "Won": np.where(won, "yes", "no")}), "Won")
    assert table.numeric == ["Revenue"] and table.categorical == []
    assert "Revenue" not in table.notes["text_in_number_columns"] and not table.notes["ignored"]
    filled = written != "N/A"
    assert np.isnan(table.frame["Revenue"][~filled]).all()
    np.testing.assert_allclose(table.frame["Revenue"][filled], revenue[filled], rtol=1e-4, atol=501)  # (万 to 0.1)


@pytest.mark.parametrize(("cells", "numbers"), [
    (["1,5", "12,25", "3", "0,125"], [1.5, 12.25, 3.0, 0.125]),  # a European export's decimal commas
    (["1.234,5", "2,5"], [1234.5, 2.5]),  # a dot grouping thousands before the decimal comma
    (["€ 1.200,50", "€ 99,90", "(1,5)"], [1200.5, 99.9, -1.5]),
    (["1,200", "3,500", "12"], [1200.0, 3500.0, 12.0]),  # commas grouping thousands
    (["1,23,456", "12,345", "7"], [123456.0, 12345.0, 7.0]),  # India's grouping by two
    (["1,234.5", "2,5"], [1234.5, 25.0]),  # a decimal dot: the commas group thousands
    (["1.234", "5.678"], [1.234, 5.678]),  # dots alone are decimal points
])
def test_a_column_reads_its_decimal_commas_or_points_as_its_cells_show_them(cells, numbers):
    assert number_cells(pd.Series(cells))[0].tolist() == numbers


def test_a_european_number_column_keeps_its_order():
    """Read as thousands separators, "1,25" (125) came after "1,5" (15): the model's number
    column ran in another order than the values."""
    rates = [f"{x:.2f}".rstrip("0").rstrip(".").replace(".", ",") for x in np.arange(1, 3, 0.05)] * 5
    rates.sort(key=lambda cell: float(cell.replace(",", ".")))  # 1, 1,05, 1,1, 1,15 ... 2,95
    table = outcome_table(pd.DataFrame({"Rate": rates, "Won": ["yes", "no"] * 100}), "Won")
    assert table.numeric == ["Rate"] and table.frame["Rate"].is_monotonic_increasing


def test_text_among_numbers_is_still_counted_and_too_much_of_it_makes_a_category():
    numbers = [str(i) for i in range(97)]
    table = outcome_table(pd.DataFrame({"Visits": [*numbers, "lots", "few", "N/A"],
                                        "Won": ["yes", "no"] * 50}), "Won")
    assert table.numeric == ["Visits"] and table.notes["text_in_number_columns"] == {"Visits": 2}
    bands = [str(i % 9) for i in range(90)]
    table = outcome_table(pd.DataFrame({"Band": [*bands, *["lots"] * 10], "Won": ["yes", "no"] * 50}), "Won")
    assert table.numeric == [] and table.categorical == ["Band"]


def test_a_date_column_is_a_number_of_days_and_is_named_so_that_the_user_can_validate_on_later_outcomes():
    """A creation date in the export is a number of days (its order kept: a category of each day
    knew no later date, and one distinct date a row was ignored as an identifier), and the notes
    name it: `model evaluate` says --time-column would measure the AUC on later outcomes; given as
    the time column, it is not a feature and not named again. Years alone are numbers, month
    names and versions are not dates."""
    n = 200
    frame = pd.DataFrame({"Created": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y/%m/%d"),
                          "Closed": [f"2025年{1 + i % 12}月{1 + i % 28}日" for i in range(n)],
                          "Year": ["2024", "2025"] * (n // 2), "Month": ["March", "April"] * (n // 2),
                          "Plan": ["v2024", "v2025"] * (n // 2), "Won": ["yes", "no"] * (n // 2)})
    frame.loc[3, "Closed"] = ""
    # A date a month, two of them placeholders (nothing entered): still dates, those two missing.
    frame["Signed"] = [*pd.date_range("2024-01-01", periods=24, freq="MS").strftime("%Y-%m-%d"), "N/A", "-"] * 7 + \
        ["2024-01-01"] * (n - 26 * 7)
    table = outcome_table(frame, "Won")
    assert table.notes["date_columns"] == table.notes["dates_as_days"] == ["Created", "Closed", "Signed"]
    assert table.numeric == ["Created", "Closed", "Year", "Signed"] and table.categorical == ["Month", "Plan"]
    assert table.frame["Signed"].isna().sum() == 14
    assert table.notes["ignored"] == {}
    assert table.frame["Created"].tolist() == [19723.0 + i for i in range(n)]  # 2024-01-01 is day 19,723
    assert table.frame["Closed"].iloc[0] == 20089.0 and np.isnan(table.frame["Closed"].iloc[3])  # 2025-01-01; blank
    timed = outcome_table(frame, "Won", time_column="Created")
    assert "date_columns" not in timed.notes and timed.notes["dates_as_days"] == ["Closed", "Signed"]
    assert timed.numeric == ["Closed", "Year", "Signed"] and timed.categorical == table.categorical


def test_columns_are_found_by_the_names_a_user_types():
    """--target converted for a header "Converted", --drop "lead id" for "Lead  ID ": the one
    column equal but for case and spaces; two such columns, or none, are an error naming it."""
    frame = pd.DataFrame({"Converted": ["1", "0"] * 50, "Lead  ID ": [str(i) for i in range(100)],
                          "Visits": [str(i % 7) for i in range(100)], "visits": ["x", "y"] * 50})
    table = outcome_table(frame, "converted", drop=["lead id"])
    assert table.y.sum() == 50 and table.notes["dropped"] == ["Lead  ID "] and "Lead  ID " not in table.frame
    for name in ("VISITS", "revenue"):  # two columns answer to the first, none to the second
        with pytest.raises(ValueError, match=f"no column\\(s\\) \\['{name}'\\]"):
            outcome_table(frame, "converted", drop=[name])
