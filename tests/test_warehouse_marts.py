"""The marts sales read, movement (with dropped-out leads), suppression, and a run killed
mid-load, on SQLite and PostgreSQL."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from openpyxl import load_workbook
from sqlalchemy import text
from typer.testing import CliRunner

from leadrank import run_files
from leadrank.cli import app
from leadrank.paths import DEMO_CONFIG, DEMO_DIR
from leadrank.warehouse import load, suppress
from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.read import ranked_leads
from tests.helpers import run_pipeline, sigkill_when_marked

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def said(result) -> str:
    """What a command printed, with rich's line wrapping undone."""
    return " ".join(result.output.split())


def table(engine, name: str, order: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql_query(text(f"SELECT * FROM {name} ORDER BY {order}"), conn)


def run_frames(run_id: str) -> dict[str, pd.DataFrame]:
    files = run_files.RunFiles(run_id)
    return {name: files.read_stage(stage) for name, stage in
            [("records", "resolved"), ("leads", "leads"), ("events", "events"), ("scores", "scores")]}


def test_marts_per_segment_and_region(warehouse_url, demo_config, demo_night):
    demo_night(str(demo_config), warehouse_url)
    engine = make_engine(warehouse_url)
    ranked = ranked_leads(engine)
    assert {"rank", "lead_id", "company_name", "segment", "province", "city", "website", "phone", "email", "priority",
            "tier", "top_reasons", "movement", "sources", "first_seen_at", "other_phones", "other_emails",
            "prev_tier"} <= set(ranked.columns)
    assert ranked["first_seen_at"].notna().all() and ranked["sources"].notna().all()

    by_segment = table(engine, "mart_segment_leads", "segment, segment_rank")
    assert len(by_segment) == len(ranked)
    for _, part in by_segment.groupby("segment"):
        assert list(part["segment_rank"]) == list(range(1, len(part) + 1))
        assert list(part["rank"]) == sorted(part["rank"])  # the team's order is the overall order
    by_region = table(engine, "mart_region_leads", "province, city, city_rank")
    for _, part in by_region.groupby(["province", "city"]):
        assert list(part["city_rank"]) == list(range(1, len(part) + 1))

    tiers = table(engine, "mart_segment_tiers", "segment, tier")
    expected = ranked.groupby(["segment", "tier"]).size()
    assert dict(zip(zip(tiers["segment"], tiers["tier"], strict=True), tiers["leads"], strict=True)) == expected.to_dict()
    assert tiers["new_leads"].sum() == len(ranked)  # the first night: everything is new
    regions = table(engine, "mart_region_tiers", "province, city, tier")
    assert regions["leads"].sum() == len(ranked)

    yield_ = table(engine, "mart_source_yield", "source")
    assert set(yield_["source"]) == {"demo-expo", "demo-assoc", "demo-search"}
    with engine.connect() as conn:
        per_source = dict(conn.execute(text("SELECT source, COUNT(DISTINCT lead_id) FROM lead_records GROUP BY source")).all())
    assert dict(zip(yield_["source"], yield_["leads"], strict=True)) == per_source
    assert (yield_[["tier_a", "tier_b", "tier_c", "tier_d"]].sum(axis=1) == yield_["leads"]).all()


def test_a_publish_takes_a_large_page_cache_for_its_transaction_only(warehouse_url, demo_config, monkeypatch):
    """On SQLite a connection caches at most PAGE_CACHE_KIB of pages (reads scan tables once, and a
    pooled connection keeps what it cached); a publish's transaction takes WRITE_CACHE_KIB for its
    upserts and gives it back when it commits."""
    from leadrank.warehouse.engine import PAGE_CACHE_KIB, WRITE_CACHE_KIB

    seen, real_scores, real_publish = [], load._write_scores, load.publish_run

    def cache(conn) -> tuple[int | None, int]:
        size = conn.exec_driver_sql("PRAGMA cache_size").scalar() if conn.dialect.name == "sqlite" else None
        return size, id(conn.connection.driver_connection)

    def write_scores(conn, *args, **kwargs):
        seen.append(("publishing", *cache(conn)))
        return real_scores(conn, *args, **kwargs)

    def publish_run(engine, *args, **kwargs):
        counts = real_publish(engine, *args, **kwargs)
        with engine.connect() as conn:  # the pool's one connection, back
            seen.append(("after", *cache(conn)))
        return counts

    monkeypatch.setattr(load, "_write_scores", write_scores)
    monkeypatch.setattr(load, "publish_run", publish_run)
    run_pipeline(str(demo_config), warehouse_url)
    with make_engine(warehouse_url).connect() as conn:
        fresh = conn.exec_driver_sql("PRAGMA cache_size").scalar() if conn.dialect.name == "sqlite" else None
    if not warehouse_url.startswith("sqlite"):
        assert [s[0] for s in seen] == ["publishing", "after"]  # (no page cache to set)
        return
    assert fresh == -PAGE_CACHE_KIB
    (_, during, used), (_, after, back) = seen
    assert (during, after) == (-WRITE_CACHE_KIB, -PAGE_CACHE_KIB)
    assert used == back


def test_movement_and_dropped_out_leads(warehouse_url, demo_config, tmp_path, demo_night):
    """Night 2 (published from night 1's frames, changed): one lead absorbed into another, two
    leads swapping ranks, one new lead. Movement is against night 1; the absorbed lead is listed
    as dropped out, merged into its survivor, and its records follow it."""
    first = demo_night(str(demo_config), warehouse_url)
    engine = make_engine(warehouse_url)
    frames = run_frames(first["run_id"])
    scores, leads, records = frames["scores"], frames["leads"], frames["records"]
    survivor, absorbed, third = scores.sort_values("rank")["lead_id"].iloc[[0, 5, 1]]
    records.loc[records["lead_id"] == absorbed, ["lead_id", "seen_tonight"]] = [survivor, False]
    leads = leads[leads["lead_id"] != absorbed].reset_index(drop=True)
    scores = scores[scores["lead_id"] != absorbed].reset_index(drop=True)
    scores["rank"] = range(1, len(scores) + 1)
    swap = scores["lead_id"].isin([survivor, third])
    scores.loc[swap, "rank"] = scores.loc[swap, "rank"].to_numpy()[::-1]
    newcomer = leads.iloc[[0]].assign(lead_id="LNEWLEAD00001", company_name="新来的办公家具有限公司")
    leads = pd.concat([leads, newcomer], ignore_index=True)
    scores = pd.concat([scores, scores.iloc[[-1]].assign(lead_id="LNEWLEAD00001", rank=len(scores) + 1)],
                       ignore_index=True)
    records = pd.concat([records, records.iloc[[0]].assign(record_key="new:1", lead_id="LNEWLEAD00001",
                                                          seen_tonight=True)], ignore_index=True)
    # Two more source records for the survivor, with a second phone (twice) and a third one.
    extra = records[records["lead_id"] == survivor].iloc[[0, 0, 0]].assign(
        record_key=["extra:1", "extra:2", "extra:3"], seen_tonight=True,
        phone_e164=["+8675500000002", "+8675500000002", "+8675500000003"], email_norm=[None, "buy@x-demo.cn", None])
    records = pd.concat([records, extra], ignore_index=True)
    events = pd.DataFrame([{"kind": "merge", "lead_id": survivor, "other_lead_id": absorbed, "records": 1,
                            "evidence": "uscc_same"}])
    second = "20990101T000000Z-night2"
    load.start_run(engine, second)
    counts = load.publish_run(engine, second, records=records, leads=leads, events=events, scores=scores,
                              outcomes=pd.DataFrame(columns=["lead_id"]), rejects=pd.DataFrame(),
                              model={"status": "cold_start", "metrics": {}}, summary={})
    assert counts["new"] == 1 and counts["merged"] == 1 and counts["dropped"] == 1

    ranked = ranked_leads(engine).set_index("lead_id")
    assert ranked.loc[survivor, "movement"] == "down" and ranked.loc[third, "movement"] == "up"
    assert ranked.loc[survivor, "prev_rank"] == 1 and ranked.loc[survivor, "prev_tier"] == "A"
    assert ranked.loc["LNEWLEAD00001", "movement"] == "new" and ranked.loc["LNEWLEAD00001", "prev_rank"] is None
    assert absorbed not in ranked.index
    best = ranked.loc[survivor, "phone"]
    others = records.loc[(records["lead_id"] == survivor) & (records["phone_e164"] != best), "phone_e164"]
    counted = others.value_counts().reset_index().sort_values(["count", "phone_e164"], ascending=[False, True])
    assert counted["phone_e164"].iloc[0] == "+8675500000002" and len(counted) >= 2  # the absorbed lead's phone too
    assert ranked.loc[survivor, "other_phones"] == ";".join(counted["phone_e164"])  # most frequent first
    assert ranked.loc[survivor, "other_emails"].split(";")[0] == "buy@x-demo.cn"
    assert ranked.loc[survivor, "email"] not in ranked.loc[survivor, "other_emails"].split(";")
    assert ranked.loc[third, "other_phones"] is None
    assert (ranked.drop(index=[survivor, third, "LNEWLEAD00001"])["movement"].isin(["up", "unchanged"])).all()
    dropped = table(engine, "mart_dropped_leads", "lead_id")
    assert dropped[["lead_id", "reason", "merged_into", "prev_rank"]].to_dict("records") == [
        {"lead_id": absorbed, "reason": "merged", "merged_into": survivor, "prev_rank": 6}]
    with engine.connect() as conn:
        status = conn.execute(text("SELECT status, merged_into FROM leads WHERE lead_id = :l"), {"l": absorbed}).one()
        moved = conn.execute(text("SELECT lead_id, last_seen_run FROM lead_records WHERE lead_id = :s AND "
                                  "last_seen_run = :r"), {"s": survivor, "r": first["run_id"]}).all()
        history = conn.execute(text("SELECT COUNT(DISTINCT run_id) FROM lead_scores")).scalar()
    book = tmp_path / "leads.xlsx"
    assert runner.invoke(app, ["export", "-o", str(book), "--warehouse", warehouse_url]).exit_code == 0
    sheet = load_workbook(book)["Dropped out"]
    assert [c.value for c in sheet[2]][:5] == [absorbed, dropped.iloc[0]["company_name"], 6,
                                              dropped.iloc[0]["prev_tier"], "merged"]
    assert tuple(status) == ("merged", survivor)
    assert moved  # the absorbed lead's records follow the survivor and keep their last-seen run
    assert history == 2  # each run's scores are kept


def pick_leads(engine, columns: list[str]) -> list[tuple[str, str]]:
    """For each column, a different ranked lead with a value in it: (lead_id, value)."""
    picked: list[tuple[str, str]] = []
    with engine.connect() as conn:
        for column in columns:
            rows = conn.execute(text(f"SELECT k.lead_id, l.{column} FROM ranked_leads k JOIN leads l ON "
                                     f"l.lead_id = k.lead_id WHERE l.{column} IS NOT NULL ORDER BY k.rank")).all()
            picked.append(next(tuple(r) for r in rows if r[0] not in {p[0] for p in picked}))
    return picked


def test_suppression_hides_leads_everywhere(warehouse_url, demo_config, tmp_path, demo_night):
    demo_night(str(demo_config), warehouse_url)
    engine = make_engine(warehouse_url)
    total = len(ranked_leads(engine))
    (code_lead, code), (domain_lead, website), (phone_lead, phone), (email_lead, email), (name_lead, name) = \
        pick_leads(engine, ["uscc", "website", "phone", "email", "company_name"])
    entries = [("code", code.lower(), code_lead), ("domain", website.upper() + "/contact", domain_lead),
               ("phone", phone, phone_lead), ("email", email.upper(), email_lead), ("name", name, name_lead)]
    hidden = set()
    for kind, value, lead in entries:
        result = runner.invoke(app, ["suppress", "add", kind, value, "--reason", f"do not call ({kind})",
                                     "--warehouse", warehouse_url])
        assert result.exit_code == 0, result.output
        assert lead in said(result) and "suppressed" in said(result)
        hidden.add(lead)
        ranked = ranked_leads(engine)
        assert not set(ranked["lead_id"]) & hidden and len(ranked) <= total - len(hidden)

    listing = runner.invoke(app, ["suppress", "list", "--warehouse", warehouse_url])
    assert listing.exit_code == 0 and "Suppression entries (5)" in said(listing)
    kept = suppress.entries(engine)
    assert sorted(kept["reason"]) == sorted(f"do not call ({k})" for k, _, _ in entries) and (kept["leads"] >= 1).all()
    # Not in any mart, export or report.
    for mart in ("mart_segment_leads", "mart_region_leads"):
        assert not set(table(engine, mart, "rank")["lead_id"]) & hidden
    out = tmp_path / "leads.csv"
    assert runner.invoke(app, ["export", "-o", str(out), "--warehouse", warehouse_url]).exit_code == 0
    exported = pd.read_csv(out, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert not set(exported["lead_id"]) & hidden
    # Whole numbers print as such ("245394", not "245394.0"): a CSV has no number formats.
    for column in ("rank", "est_monthly_volume", "prev_rank"):
        assert exported[column].str.fullmatch(r"\d*").all(), exported[column].head().tolist()
    assert exported["est_monthly_volume"].ne("").any() and exported["priority"].str.contains(".", regex=False).all()
    page = tmp_path / "report.html"
    assert runner.invoke(app, ["report", "-o", str(page), "--warehouse", warehouse_url]).exit_code == 0
    with engine.connect() as conn:
        names = [r[0] for r in conn.execute(text("SELECT company_name FROM leads WHERE lead_id IN ("
                                                 + ", ".join(f"'{h}'" for h in hidden) + ")")).all()]
    assert not any(n in page.read_text(encoding="utf-8") for n in names)

    # A new run keeps them hidden (matches are recomputed at publish).
    run_pipeline(str(demo_config), warehouse_url)
    assert not set(ranked_leads(engine)["lead_id"]) & hidden
    # Removing an entry brings its lead back.
    entry_id = suppress.entry_id("phone", suppress.normalise("phone", phone))
    removed = runner.invoke(app, ["suppress", "remove", entry_id, "--warehouse", warehouse_url])
    assert removed.exit_code == 0, removed.output
    assert phone_lead in set(ranked_leads(engine)["lead_id"])


def test_suppression_bad_input_and_future_matches(warehouse_url, demo_config):
    nothing = runner.invoke(app, ["suppress", "add", "email", "nobody@nowhere-at-all.cn", "--reason", "legal",
                                  "--warehouse", warehouse_url])
    assert nothing.exit_code == 0 and "no lead matches" in said(nothing) and "kept" in said(nothing)
    bad = {
        ("code", "91440300123"): "not a valid 统一社会信用代码",
        ("email", "not-an-email"): "not an email address",
        ("phone", "12"): "not a valid phone number",
        ("domain", "localhost"): "not a website domain",
        ("fax", "123"): "unknown kind",
    }
    for (kind, value), message in bad.items():
        result = runner.invoke(app, ["suppress", "add", kind, value, "--reason", "x", "--warehouse", warehouse_url])
        assert result.exit_code == 1 and message in said(result), result.output
    no_reason = runner.invoke(app, ["suppress", "add", "name", "某某公司", "--reason", " ", "--warehouse", warehouse_url])
    assert no_reason.exit_code == 1 and "reason" in said(no_reason)
    unknown = runner.invoke(app, ["suppress", "remove", "S0000000000", "--warehouse", warehouse_url])
    assert unknown.exit_code == 1 and "no suppression entry" in said(unknown)

    # An entry added before its company is ever seen hides it from the first run on.
    early = runner.invoke(app, ["suppress", "add", "name", "深圳市华强电子有限公司", "--reason", "existing customer",
                                "--warehouse", warehouse_url])
    assert early.exit_code == 0 and "no lead matches" in said(early)
    run_pipeline(str(demo_config), warehouse_url)
    names = set(ranked_leads(make_engine(warehouse_url))["company_name"])
    assert "深圳市华强电子有限公司" not in names and len(names) > 10
    again = runner.invoke(app, ["suppress", "add", "name", "华强电子", "--reason", "dup", "--warehouse", warehouse_url])
    assert again.exit_code == 0 and "already suppressed" in said(again)


KILL_SCRIPT = """
import sys, time
from leadrank.warehouse import load
from tests.helpers import run_pipeline

config, url, marker = sys.argv[1:4]
write_records = load._write_records


def records_then_hang(*args, **kwargs):
    write_records(*args, **kwargs)  # leads and their records are written, not committed
    open(marker, "w").close()
    time.sleep(600)


load._write_records = records_then_hang
run_pipeline(config, url, run_id="20990101T000000Z-killed")
"""


def test_run_killed_mid_load_leaves_marts_unchanged_then_rerun_publishes(warehouse_url, demo_config, tmp_path,
                                                                         demo_night):
    first = demo_night(str(demo_config), warehouse_url)
    engine = make_engine(warehouse_url)
    orders = {"ranked_leads": "rank", "leads": "lead_id", "lead_records": "record_key",
              "lead_scores": "run_id, lead_id", "outcomes": "outcome_id", "model_versions": "model_id"}
    snapshot = {name: table(engine, name, order) for name, order in orders.items()}

    marker = tmp_path / "mid-load"
    child = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(demo_config), warehouse_url, str(marker)],
                             cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sigkill_when_marked(child, marker, "the load")
    assert child.returncode == -signal.SIGKILL

    for name, order in orders.items():
        pd.testing.assert_frame_equal(table(engine, name, order), snapshot[name], obj=name)
    assert set(ranked_leads(engine)["run_id"]) == {first["run_id"]}
    with engine.connect() as conn:
        killed = conn.execute(text("SELECT status FROM pipeline_runs WHERE run_id = '20990101T000000Z-killed'")).scalar()
    assert killed == "running"  # it never published

    rerun = run_pipeline(str(demo_config), warehouse_url)
    ranked = ranked_leads(engine)
    assert set(ranked["run_id"]) == {rerun["run_id"]}
    assert sorted(ranked["lead_id"]) == sorted(snapshot["ranked_leads"]["lead_id"])
    assert set(ranked["movement"]) == {"unchanged"}  # compared with the first night, not the killed one
    assert rerun["leads"]["unchanged"] == len(ranked)


def demo_config_without(tmp_path: Path, removed: str) -> str:
    """The demo sources file with one source removed (paths made absolute: it lives elsewhere)."""
    cfg = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    cfg["sources"] = [s for s in cfg["sources"] if s["name"] != removed]
    for block in (*cfg["financials"], *cfg["outcomes"]):
        block["path"] = str(DEMO_DIR / block["path"])
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True).replace("${CONFIG_URL}", DEMO_DIR.as_uri()), "utf-8")
    return str(path)


def test_leads_of_a_removed_source_expire_once(warehouse_url, demo_config, tmp_path, demo_night):
    """A source removed from the config: its leads stay for the grace nights (lead_expiry_nights,
    default 3), then those it alone listed leave ranked_leads and appear once in
    mart_dropped_leads as expired, and the others stop naming it; listed again, a lead is back
    under its old ID, with movement `returned`."""
    demo_night(str(demo_config), warehouse_url)
    engine = make_engine(warehouse_url)
    before = ranked_leads(engine).set_index("lead_id")
    only_search = set(before.index[before["sources"] == "demo-search"])
    shared = set(before.index[before["sources"].str.contains("demo-search") & (before["sources"] != "demo-search")])
    assert only_search and shared
    without = demo_config_without(tmp_path, "demo-search")
    history = []
    for _ in range(4):  # N + 1 nights without the source
        counts = run_pipeline(without, warehouse_url)["leads"]
        ranked = ranked_leads(engine).set_index("lead_id")
        history.append((counts["dropped"], only_search & set(ranked.index), table(engine, "mart_dropped_leads",
                                                                                   "lead_id")))
    assert [h[0] for h in history] == [0, 0, len(only_search), 0]
    assert [h[1] for h in history] == [only_search, only_search, set(), set()]
    dropped = history[2][2]
    assert set(dropped["lead_id"]) == only_search and set(dropped["reason"]) == {"expired"}
    assert dropped["last_seen_at"].notna().all() and history[3][2].empty
    assert not ranked.loc[list(shared), "sources"].str.contains("demo-search").any()
    assert "demo-search" not in set(table(engine, "mart_source_yield", "source")["source"])
    with engine.connect() as conn:
        once = conn.execute(text("SELECT lead_id, COUNT(*) FROM lead_dropouts GROUP BY lead_id")).all()
        status = dict(conn.execute(text("SELECT lead_id, status FROM leads")).all())
    assert dict(once) == dict.fromkeys(only_search, 1)
    assert {status[lead] for lead in only_search} == {"expired"}

    back = run_pipeline(str(demo_config), warehouse_url)["leads"]
    ranked = ranked_leads(engine).set_index("lead_id")
    assert only_search <= set(ranked.index) and back["new"] == 0
    assert (ranked.loc[list(only_search), "movement"] == "returned").all()  # back, not new: seen before


def _other_contacts_by_pandas(records: pd.DataFrame, leads: pd.DataFrame, column: str, best: str) -> pd.Series:
    """What load.other_contacts computed before it counted on codes (value_counts, sort, join)."""
    pairs = records[["lead_id", column]].dropna()
    counted = pairs.value_counts().rename("n").reset_index()
    best_value = counted["lead_id"].map(pd.Series(leads[best].to_numpy(), index=leads["lead_id"].to_numpy()))
    counted = counted[counted[column].to_numpy() != best_value.to_numpy()]
    counted = counted.sort_values(["lead_id", "n", column], ascending=[True, False, True])
    joined = counted.groupby("lead_id", sort=False)[column].agg(";".join)
    out = leads["lead_id"].map(joined).astype(object)
    return out.where(out.notna(), None)


@pytest.mark.parametrize("arrow", [False, True])
def test_other_contacts_on_codes_give_the_pandas_count_and_order(arrow):
    """Other phones per lead: every value but the lead's best, most frequent first, ties in text
    order; records without a lead or a value, leads without a best value or without records."""
    from leadrank.warehouse.load import lead_codes, other_contacts

    rng = np.random.default_rng(4)
    phones = [None, "+86 10 1", "+86 10 2", "+86 10 10", "+1 416 5", "+86 20 3", "+49 30 7"]
    for _ in range(50):
        n = int(rng.integers(0, 40))
        records = pd.DataFrame({"lead_id": [[None, "L1", "L2", "L3", "L4"][i] for i in rng.integers(0, 5, n)],
                                "phone_e164": [phones[i] for i in rng.integers(0, len(phones), n)]}, dtype=object)
        leads = pd.DataFrame({"lead_id": ["L1", "L2", "L3", "L5"],
                              "phone": [phones[i] for i in rng.integers(0, len(phones), 4)]}, dtype=object)
        if arrow:
            records["phone_e164"] = records["phone_e164"].astype("str")
            leads["phone"] = leads["phone"].astype("str")
        want = _other_contacts_by_pandas(records, leads, "phone_e164", "phone")
        pd.testing.assert_series_equal(other_contacts(records, leads, "phone_e164", "phone"), want, check_names=False)
        # the lead codes a caller made once for several columns give the same
        coded = lead_codes(records, leads)
        pd.testing.assert_series_equal(other_contacts(records, leads, "phone_e164", "phone", coded), want,
                                       check_names=False)
