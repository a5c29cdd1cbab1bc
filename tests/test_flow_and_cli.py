"""The Prefect flow and the command line, end to end on the demo."""

import pandas as pd
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from leadrank.cli import app
from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.read import ranked_leads
from tests.helpers import demo_records, pairwise_f1

runner = CliRunner()


@pytest.mark.prefect
def test_nightly_flow_publishes_and_second_night_keeps_ids(prefect_harness, warehouse_url, demo_config):
    from leadrank.flows.nightly import nightly_refresh

    first = nightly_refresh(config=str(demo_config), warehouse=warehouse_url)
    truth = demo_records()["truth"].nunique()
    assert first["leads"]["new"] == truth
    assert {r["status"] for r in first["sources"]} == {"ok"}
    assert set(first["seconds"]) >= {"extract", "stage", "normalise", "dedupe", "score", "publish"}
    ranked_1 = ranked_leads(make_engine(warehouse_url))
    second = nightly_refresh(config=str(demo_config), warehouse=warehouse_url)
    ranked_2 = ranked_leads(make_engine(warehouse_url))
    assert second["leads"]["unchanged"] == truth and second["leads"]["new"] == 0
    assert list(ranked_1["lead_id"]) == list(ranked_2["lead_id"])


@pytest.mark.prefect
def test_cli_run_then_top(prefect_harness, tmp_path, demo_config):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = runner.invoke(app, ["run", "--warehouse", url])
    assert result.exit_code == 0, result.output
    assert "Leads" in result.output and "new" in result.output and "Run " in result.output
    assert "dedupe full (no published run to build on)" in " ".join(result.output.split()), result.output
    again = runner.invoke(app, ["run", "--warehouse", url])  # the same sources: nothing to recompute
    said = " ".join(again.output.split())
    assert again.exit_code == 0 and "dedupe incremental, 0 of " in said and "scoring incremental, 0 of " in said, said
    top = runner.invoke(app, ["top", "-n", "5", "--warehouse", url])
    assert top.exit_code == 0, top.output
    assert "Top 5 leads" in top.output


def test_top_before_any_run_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["top", "--warehouse", f"sqlite:///{tmp_path / 'empty.db'}"])
    assert result.exit_code == 1 and "leadrank run" in result.output


def test_export_csv_and_xlsx(tmp_path, demo_config, demo_night):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    demo_night(str(demo_config), url)
    csv_path, xlsx_path = tmp_path / "leads.csv", tmp_path / "leads.xlsx"
    assert runner.invoke(app, ["export", "-o", str(csv_path), "--warehouse", url]).exit_code == 0
    assert runner.invoke(app, ["export", "-o", str(xlsx_path), "--warehouse", url]).exit_code == 0
    frame = pd.read_csv(csv_path, encoding="utf-8-sig")
    assert len(frame) == demo_records()["truth"].nunique() and list(frame["rank"]) == sorted(frame["rank"])
    sheet = load_workbook(xlsx_path).active
    assert sheet.freeze_panes == "A2" and sheet.max_row == len(frame) + 1
    bad = runner.invoke(app, ["export", "-o", str(tmp_path / "leads.pdf"), "--warehouse", url])
    assert bad.exit_code == 1 and ".csv or .xlsx" in bad.output
    missing_dir = runner.invoke(app, ["export", "-o", str(tmp_path / "nope" / "x.csv"), "--warehouse", url])
    assert missing_dir.exit_code == 1 and "does not exist" in " ".join(missing_dir.output.split())  # wrapped at 80


def test_dedupe_cli_keeps_rows_and_order(tmp_path):
    records = demo_records()
    table = pd.DataFrame({"Site name": records["company_name"], "Web": records["website"], "Tel": records["phone"],
                          "Addr": records["address"], "uscc": records["uscc"], "truth": records["truth"]})
    table = table.sample(frac=1, random_state=1).reset_index(drop=True)
    source = tmp_path / "in.csv"
    table.to_csv(source, index=False)
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["dedupe", str(source), "-o", str(out), "--map", "Site name=company_name",
                                 "--map", "Web=website", "--map", "Tel=phone", "--map", "Addr=address"])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out, dtype=str)
    assert list(written.columns) == [*table.columns, "lead_id"]
    assert list(written["Site name"]) == list(table["Site name"].astype(str))
    precision, recall, _ = pairwise_f1(written["truth"], written["lead_id"])
    assert precision == 1.0 and recall >= 0.9


def test_dedupe_cli_holds_text_as_arrow_and_normalises_in_parts_alike(tmp_path, monkeypatch):
    """At 1.4M rows a Python string per cell of the input was 1.35 GB of `leadrank dedupe`'s
    peak: the rows stay Arrow text (blanks missing, values stripped), and normalising them a few
    rows at a time gives the same leads as all at once."""
    from leadrank.transform import normalise
    from leadrank.transform.table_input import records_from_table

    table = pd.DataFrame({"Company": [" Acme GmbH ", "", "ACME GMBH", None], "Tel": ["+49 30 1234567", " ", None, "1"]})
    records = records_from_table(table, {"Company": "company_name", "Tel": "phone"})
    assert isinstance(records["company_name"].dtype, pd.StringDtype) and records["company_name"].dtype.storage == "pyarrow"
    assert records["company_name"][0] == "Acme GmbH" and records["company_name"].isna().tolist() == [False, True, False, True]
    assert records["phone"].isna().tolist() == [False, True, True, False]
    assert records["source"].tolist() == ["input"] * 4 and records["record_key"].is_unique

    frame = demo_records()[["company_name", "website", "phone", "address", "uscc"]]
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    runs = {}
    for part_rows in (250_000, 7):
        monkeypatch.setattr(normalise, "PART_ROWS", part_rows)
        out = tmp_path / f"out-{part_rows}.csv"
        result = runner.invoke(app, ["dedupe", str(source), "-o", str(out), "--explain"])
        assert result.exit_code == 0, result.output
        runs[part_rows] = pd.read_csv(out, dtype=str)
    assert len(frame) > 7 and runs[7].equals(runs[250_000])
    assert runs[7]["lead_id"].nunique() < len(frame)


def test_dedupe_cli_says_so_when_the_input_changes_while_it_runs(tmp_path, monkeypatch):
    """The CSV is read again for the output (not held through matching): a file cut short or
    grown meanwhile is an error, never rows written against another row's lead."""
    from leadrank.transform import table_input

    source = tmp_path / "in.csv"
    source.write_text("company_name,city\nAcme GmbH,Berlin\nACME GMBH,Berlin\nBeta AG,Bonn\n", encoding="utf-8")
    reads = []
    real = table_input.read_csv_strings

    def read_then_cut(path, sep=","):
        reads.append(path)
        if len(reads) == 2:
            source.write_text("company_name,city\nAcme GmbH,Berlin\n", encoding="utf-8")
        return real(path, sep)

    monkeypatch.setattr(table_input, "read_csv_strings", read_then_cut)
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["dedupe", str(source), "-o", str(out)])
    assert result.exit_code == 1 and "changed while it was being deduplicated" in " ".join(result.output.split())
    assert len(reads) == 2 and not out.exists()


@pytest.mark.parametrize("kind", ["semicolon", "tab", "xlsx", "gb18030"])
def test_dedupe_cli_reads_what_a_spreadsheet_saves(tmp_path, kind):
    """A European Excel saves ';', some exports tabs, many teams keep an XLSX: each read as it is
    (a semicolon file was one column named 'company_name;city;phone'; an XLSX 'not UTF-8')."""
    table = pd.DataFrame({"Company": ["Acme GmbH", "ACME GMBH", "Beta AG"], "City": ["Berlin", "Berlin", "Bonn"],
                          "Phone": ["+49 30 1234567", "030 1234567", "0228 998877"]})
    source = tmp_path / ("in.xlsx" if kind == "xlsx" else "in.csv")
    if kind == "xlsx":
        table.to_excel(source, index=False)
    else:
        text = table.to_csv(index=False, sep={"semicolon": ";", "tab": "\t", "gb18030": ";"}[kind])
        source.write_bytes(text.replace("Beta AG", "北京乙公司").encode("gb18030" if kind == "gb18030" else "utf-8"))
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["dedupe", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out, dtype=str)
    assert list(written.columns) == ["Company", "City", "Phone", "lead_id"] and len(written) == 3
    assert written["lead_id"][0] == written["lead_id"][1] != written["lead_id"][2]


def test_dedupe_cli_on_a_header_only_file_writes_the_header(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("company_name,city\n", encoding="utf-8")
    result = runner.invoke(app, ["dedupe", str(source), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 0, result.output
    assert "0 rows → 0 leads" in result.output
    assert (tmp_path / "o.csv").read_text(encoding="utf-8").strip() == '"company_name","city","lead_id"'


def test_dedupe_cli_errors(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("foo,bar\n1,2\n", encoding="utf-8")
    result = runner.invoke(app, ["dedupe", str(source), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 1 and "no company name column" in result.output
    result = runner.invoke(app, ["dedupe", str(source), "-o", str(tmp_path / "o.csv"), "--map", "foo=colour"])
    assert result.exit_code == 1 and "unknown field" in result.output
    source.write_text("company_name\nFoo, Bar Ltd\nBaz AG\n", encoding="utf-8")  # an unquoted comma in row 1
    result = runner.invoke(app, ["dedupe", str(source), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 1 and "line 2 has 2 fields but the header has 1" in result.output
    assert not (tmp_path / "o.csv").exists()


def test_extract_cli_writes_records_with_provenance(tmp_path, demo_config):
    out = tmp_path / "x.csv"
    result = runner.invoke(app, ["extract", "--config", str(demo_config), "--source", "demo-assoc", "-o", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, encoding="utf-8-sig")
    assert {"source", "source_kind", "url", "fetched_at", "company_name", "website", "phone"} <= set(frame.columns)
    assert (frame["source"] == "demo-assoc").all() and len(frame) == 22


@pytest.mark.parametrize("command", ["run", "top", "export", "dedupe", "extract", "db", "serve"])
def test_every_command_has_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_help_paragraphs_wrap_to_the_terminal_not_to_the_source():
    """Docstring lines wrapped in the source join into one paragraph in --help (Markdown help),
    and a path with <placeholders> survives the rendering."""
    wide = {"COLUMNS": "200"}
    export = runner.invoke(app, ["export", "--help"], env=wide).output
    assert "one sheet per segment (key-account team) in the team's rank order" in export
    extract = runner.invoke(app, ["extract", "--help"], env=wide).output
    assert "data/runs/<run id>/raw/<source>/" in extract


def test_dedupe_gives_the_same_leads_in_any_row_order(tmp_path):
    """Records are keyed by their values, not their row numbers: resolution works in record-key
    order (ties, sorted neighbourhoods, each cluster's first record), and keyed by row numbers
    0.1 % of a 100k-row list moved to other leads when the rows came in another order. The leads,
    each as the rows' contents, are the same in file order, reversed and shuffled (rows that are
    exact copies of each other may trade places: nothing tells them apart), and the evidence
    names the other record by its row in this file."""
    from bench.generate_independent import generate
    from leadrank.transform.table_input import records_from_table

    table = generate(600, seed=5).drop(columns=["true_id"])  # 2,045 rows: keyed by row numbers, reversing moved some
    orders = {"file": table, "reversed": table.iloc[::-1], "shuffled": table.sample(frac=1.0, random_state=2)}
    leads = {}
    for name, rows in orders.items():
        source, out = tmp_path / f"{name}.csv", tmp_path / f"{name}-out.csv"
        rows.to_csv(source, index=False)
        result = runner.invoke(app, ["dedupe", str(source), "-o", str(out), "--explain"])
        assert result.exit_code == 0, result.output
        done = pd.read_csv(out, dtype=str, keep_default_na=False)
        content = done.drop(columns=["lead_id", "match_evidence"]).agg("|".join, axis=1)
        leads[name] = sorted(tuple(sorted(group)) for _, group in content.groupby(done["lead_id"]))
        named = done["match_evidence"].str.extract(r"^row(\d{9}): ", expand=False).dropna().astype(int)
        assert len(named) > len(done) / 2 and named.lt(len(done)).all()
        # the row named shares the lead of the row that names it
        assert (done["lead_id"].to_numpy()[named.to_numpy()] == done.loc[named.index, "lead_id"].to_numpy()).all()
    assert len(leads["file"]) < len(table) and leads["reversed"] == leads["file"] and leads["shuffled"] == leads["file"]
    rows = pd.DataFrame({"company_name": ["A", "A", "B"], "phone": ["1", "1", None]})
    keys = records_from_table(rows)["record_key"]
    again = records_from_table(rows.iloc[[2, 0, 1]])["record_key"]
    assert keys.is_unique and again.tolist() == [keys[2], keys[0], keys[1]]
    ordered = records_from_table(rows.iloc[[2, 0, 1]], in_content_order=True)
    assert ordered["record_key"].is_monotonic_increasing and sorted(ordered.index) == [0, 1, 2]
    assert ordered.loc[0, "company_name"] == "B"  # the index: each record's row in the table it came from
