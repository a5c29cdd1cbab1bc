"""Entity resolution: correct clusters on the demo, and lead IDs that stay stable across nights."""

import pandas as pd
import pytest

from leadrank.config import ResolutionConfig
from leadrank.contracts import EXTRACTED
from leadrank.transform.golden import golden_records
from leadrank.transform.normalise import normalise_records
from leadrank.transform.resolve import resolve
from tests.helpers import demo_records, pairwise_f1


@pytest.fixture(scope="module")
def demo():
    return demo_records()


def night(records: pd.DataFrame, previous: pd.DataFrame | None = None, taken=None):
    normalised = normalise_records(records[EXTRACTED])
    result = resolve(normalised, ResolutionConfig(), previous=previous, taken_ids=taken)
    return result


def test_demo_clusters_match_the_truth(demo):
    result = night(demo)
    tonight = result.records[result.records["seen_tonight"]]
    precision, recall, f1 = pairwise_f1(demo["truth"], tonight["lead_id"].reset_index(drop=True))
    assert (precision, recall) == (1.0, 1.0), (precision, recall, f1)
    assert tonight["lead_id"].nunique() == demo["truth"].nunique()


def test_every_merge_is_explained(demo):
    result = night(demo)
    multi = result.records.groupby("lead_id").filter(lambda g: len(g) > 1)
    assert len(multi) and multi["match_evidence"].str.len().gt(0).all()


def test_ids_stable_across_nights_and_merges_recorded(demo):
    # Night 1: only the exhibition. Night 2: everything. Night 3: everything again.
    part_a = demo[demo["source"] == "demo-expo"]
    first = night(part_a)
    ids_1 = dict(zip(first.records["record_key"], first.records["lead_id"], strict=True))
    second = night(demo, previous=first.records.drop(columns=["seen_tonight"]), taken=set(ids_1.values()))
    ids_2 = dict(zip(second.records["record_key"], second.records["lead_id"], strict=True))
    assert all(ids_2[k] == v for k, v in ids_1.items()), "a lead ID of night 1 changed"
    third = night(demo, previous=second.records.drop(columns=["seen_tonight"]), taken=set(ids_2.values()))
    assert dict(zip(third.records["record_key"], third.records["lead_id"], strict=True)) == ids_2
    assert third.events.empty


def test_merge_keeps_oldest_id_and_records_absorbed(demo):
    expo = demo[demo["source"] == "demo-expo"]
    assoc = demo[demo["source"] == "demo-assoc"]
    # Two earlier nights created separate leads for the same company (as if matching had missed).
    a = night(expo).records.drop(columns=["seen_tonight"])
    b = night(assoc).records.drop(columns=["seen_tonight"])
    previous = pd.concat([a, b], ignore_index=True)
    first_seen = {lead: "2026-01-01" for lead in a["lead_id"]} | {lead: "2026-02-01" for lead in b["lead_id"]}
    result = resolve(normalise_records(demo[EXTRACTED]), ResolutionConfig(), previous=previous,
                     taken_ids=set(previous["lead_id"]), lead_first_seen=first_seen)
    merges = result.events[result.events["kind"] == "merge"]
    assert len(merges) > 0
    assert set(merges["lead_id"]) <= set(a["lead_id"])  # the older leads survive
    assert set(merges["other_lead_id"]) <= set(b["lead_id"])
    assert not set(merges["other_lead_id"]) & set(result.records["lead_id"])


def test_shared_website_does_not_merge_different_organisations():
    rows = [
        {"company_name": "1st Battalion Royal Engineers", "website": "http://army.mod.uk"},
        {"company_name": "Army Logistic Corps", "website": "https://www.army.mod.uk/"},
        {"company_name": "Defence Equipment and Support", "website": "army.mod.uk"},
        {"company_name": "Royal Signals Museum", "website": "army.mod.uk/museum"},
    ]
    records = pd.DataFrame(rows).reindex(columns=EXTRACTED)
    records["source"], records["source_kind"] = "s", "exhibition"
    records["record_key"] = [f"k{i}" for i in range(len(rows))]
    result = resolve(normalise_records(records), ResolutionConfig())
    assert result.records["lead_id"].nunique() == 4


def test_two_valid_codes_never_share_a_lead():
    records = pd.DataFrame([
        {"company_name": "华强电子有限公司", "uscc": "91350100M000100Y43", "phone": "0755-83216688"},
        {"company_name": "华强电子有限公司", "uscc": "91440300MA5ABCDE1H", "phone": "0755-83216688"},
    ]).reindex(columns=EXTRACTED)
    records["source"], records["source_kind"] = "s", "association"
    records["record_key"] = ["a", "b"]
    result = resolve(normalise_records(records), ResolutionConfig())
    assert result.records["lead_id"].nunique() == 2


def test_golden_record_prefers_trusted_and_valid(demo):
    result = night(demo)
    leads = golden_records(result.records)
    assert leads["lead_id"].is_unique and len(leads) == demo["truth"].nunique()
    huaqiang = leads[leads["company_name"] == "深圳市华强电子有限公司"].iloc[0]
    assert huaqiang["uscc_valid"] and huaqiang["n_sources"] == 3 and huaqiang["company_name_en"]


def _records(rows: list[dict]) -> pd.DataFrame:
    records = pd.DataFrame(rows).reindex(columns=EXTRACTED).astype(object)
    records = records.where(records.notna(), None)
    records["source"], records["source_kind"] = "s", "exhibition"
    records["record_key"] = [f"k{i}" for i in range(len(rows))]
    return records


def _leads(rows: list[dict]) -> list[str]:
    return list(resolve(normalise_records(_records(rows)), ResolutionConfig()).records["lead_id"])


def test_english_and_chinese_names_link_when_other_evidence_agrees():
    leads = _leads([
        {"company_name": "深圳市华强电子有限公司", "phone": "0755-83216688"},
        {"company_name": "SHENZHEN HUAQIANG ELECTRONICS CO., LTD.", "phone": "+86 755 8321 6688"},
        {"company_name": "Huaqiang Electronics (Shenzhen) Co., Ltd."},  # pinyin and city agree
        {"company_name": "HUAQIANG LOGISTICS (SHENZHEN) CO., LTD."},  # same brand, another industry
    ])
    assert leads[0] == leads[1] == leads[2] and leads[3] != leads[0]


def test_shared_switchboard_and_free_mail_domain_merge_nobody():
    leads = _leads([
        {"company_name": "深圳市宏达电子有限公司", "phone": "0755-86001234", "email": "hongda1@qq.com"},
        {"company_name": "深圳市瑞祥物流有限公司", "phone": "0755-86001234", "email": "ruixiang@qq.com"},
        {"company_name": "深圳市金源食品有限公司", "phone": "0755-86001234", "email": "jinyuan8@qq.com"},
    ])
    assert len(set(leads)) == 3


def test_group_website_keeps_member_companies_apart():
    leads = _leads([
        {"company_name": "华强电子有限公司", "website": "www.huaqiang-group.com"},
        {"company_name": "华强物流有限公司", "website": "http://huaqiang-group.com/logistics"},
        {"company_name": "华强置业有限公司", "website": "huaqiang-group.com"},
    ])
    assert len(set(leads)) == 3


def test_same_name_in_two_cities_is_not_chained_through_a_record_without_city():
    leads = _leads([
        {"company_name": "深圳市亨源办公用品有限公司", "phone": "0755-83211111"},
        {"company_name": "亨源办公用品有限公司"},  # no city: could be either
        {"company_name": "温州市亨源办公用品有限公司", "phone": "0577-88112233"},
    ])
    assert leads[0] != leads[2]


def test_branch_is_its_own_lead():
    leads = _leads([
        {"company_name": "华强电子有限公司", "website": "www.huaqiang.com.cn", "email": "sales@huaqiang.com.cn"},
        {"company_name": "华强电子有限公司上海分公司", "website": "www.huaqiang.com.cn", "email": "sales@huaqiang.com.cn"},
    ])
    assert leads[0] != leads[1]


def test_local_phones_and_address_variants_link_sites():
    leads = _leads([
        {"company_name": "YMCA of Metropolitan Chicago - North Lawndale YMCA", "address": "3449 W Arthington St",
         "phone": "6380773", "country": "US"},
        {"company_name": "North Lawndale YMCA", "address": "3449 W. Arthington", "phone": "638-0773", "country": "US"},
        {"company_name": "YMCA North Lawndale", "address": "3449 West Arthington Street", "phone": "(773) 638-0773",
         "country": "US"},
        {"company_name": "YMCA North Lawndale", "address": "9 E 51st St", "phone": "5551234", "country": "US"},
    ])
    assert leads[0] == leads[1] == leads[2] != leads[3]


def test_evidence_names_the_matched_record():
    result = resolve(normalise_records(_records([
        {"company_name": "深圳市华强电子有限公司", "uscc": "91350100M000100Y43"},
        {"company_name": "华强电子", "uscc": "9135 0100 M000 100Y43"},
    ])), ResolutionConfig())
    evidence = list(result.records["match_evidence"])
    assert evidence[0].startswith("k1: uscc") and evidence[1].startswith("k0: uscc")


def test_a_lead_whose_records_stop_matching_splits_and_the_split_is_recorded():
    first = _records([
        {"company_name": "深圳市华强电子有限公司", "phone": "0755-83216688"},
        {"company_name": "华强电子", "phone": "0755 8321 6688"},
    ])
    night_1 = resolve(normalise_records(first), ResolutionConfig()).records
    assert night_1["lead_id"].nunique() == 1
    lead = night_1["lead_id"].iloc[0]
    second = first.copy()
    second.loc[1, ["company_name", "phone"]] = ["上海博达软件有限公司", "021-62345678"]  # k1 now says another company
    result = resolve(normalise_records(second), ResolutionConfig(), previous=night_1.drop(columns=["seen_tonight"]),
                     taken_ids={lead})
    ids = dict(zip(result.records["record_key"], result.records["lead_id"], strict=True))
    assert ids["k0"] == lead and ids["k1"] != lead
    assert result.events[["kind", "lead_id", "other_lead_id"]].values.tolist() == [["split", lead, ids["k1"]]]


def test_golden_records_list_every_source_once_sorted():
    records = _records([
        {"company_name": "深圳市华强电子有限公司", "phone": "0755-83216688"},
        {"company_name": "深圳市华强电子有限公司", "phone": "0755-83216688"},
        {"company_name": "华强电子 (深圳)", "phone": "0755 8321 6688"},
        {"company_name": "上海博达软件有限公司"},
    ])
    records["source"] = ["expo-b", "assoc-a", "expo-b", "expo-b"]
    result = resolve(normalise_records(records), ResolutionConfig()).records
    leads = golden_records(result).set_index("name_core")
    assert len(leads) == 2
    huaqiang = leads.loc[leads.index.str.contains("华强")].iloc[0]
    assert huaqiang["sources"] == "assoc-a;expo-b" and huaqiang["n_sources"] == 2 and huaqiang["n_records"] == 3
    assert leads.loc[leads.index.str.contains("博达"), "sources"].iloc[0] == "expo-b"


def test_minted_ids_are_looked_up_in_the_history_and_never_reuse_an_issued_one():
    """Resolution asks its history only about the IDs it would mint, in one lookup: one that was
    issued before (a merged lead's, say) is salted instead of reused."""
    from leadrank.transform.resolve import LeadHistory, make_lead_id

    records = pd.DataFrame([{"company_name": "华强电子有限公司", "phone": "0755-83216688"},
                            {"company_name": "Nordic Paper Solutions AB", "phone": "+46 8 555 01 23"}]
                           ).reindex(columns=EXTRACTED)
    records["source"], records["source_kind"] = "s", "association"
    records["record_key"] = ["k0", "k1"]
    plain = {k: make_lead_id(k, set()) for k in ("k0", "k1")}
    asked: list[list[str]] = []

    def issued(ids: list[str]) -> set[str]:
        asked.append(list(ids))
        return {plain["k1"]} & set(ids)

    result = resolve(normalise_records(records), ResolutionConfig(), history=LeadHistory(issued, lambda ids: {}))
    ids = dict(zip(result.records["record_key"], result.records["lead_id"], strict=True))
    assert ids["k0"] == plain["k0"]
    assert ids["k1"] == make_lead_id("k1", {plain["k1"]}) != plain["k1"]
    assert sorted(asked[0]) == sorted(plain.values())  # the minted IDs, once
    assert asked[1:] == [[ids["k1"]]]  # then the salted one


def test_an_id_the_population_holds_is_never_minted_again():
    """A stored record's lead may carry the ID a new record would mint (its founding key hashed):
    the population's IDs are taken without asking the history, and the new lead is salted."""
    from leadrank.transform.resolve import LeadHistory, make_lead_id

    records = pd.DataFrame([{"company_name": "华强电子有限公司", "phone": "0755-83216688"},
                            {"company_name": "Nordic Paper Solutions AB", "phone": "+46 8 555 01 23"}]
                           ).reindex(columns=EXTRACTED)
    records["source"], records["source_kind"] = "s", "association"
    records["record_key"] = ["k0", "k1"]
    held = make_lead_id("k1", set())
    result = resolve(normalise_records(records), ResolutionConfig(),
                     prior_leads=pd.DataFrame({"record_key": ["k0"], "lead_id": [held]}),
                     history=LeadHistory(lambda ids: set(), lambda ids: {}))
    ids = dict(zip(result.records["record_key"], result.records["lead_id"], strict=True))
    assert ids["k0"] == held
    assert ids["k1"] == make_lead_id("k1", {held}) != held


def test_text_decoded_with_the_wrong_charset_is_the_same_company():
    """A page or file read in the wrong charset ('NestlÃ©', a Windows apostrophe read as a control
    character) names the same company as the clean spelling: repaired before names and addresses
    are compared. Clean text, Chinese or Latin with accents, is left as it is."""
    leads = _leads([
        {"company_name": "Nestlé Suisse SA", "address": "Avenue Nestlé 55, Vevey, Switzerland"},
        {"company_name": "NestlÃ© Suisse SA", "address": "Avenue NestlÃ© 55, Vevey, Switzerland"},
        {"company_name": "Société Générale SA", "address": "29 Boulevard Haussmann, Paris, France"},
        {"company_name": "SociÃ©tÃ© GÃ©nÃ©rale SA", "address": "29 Boulevard Haussmann, Paris, France"},
    ])
    assert leads[0] == leads[1] and leads[2] == leads[3] and leads[0] != leads[2]
    out = normalise_records(_records([{"company_name": "NestlÃ© Suisse SA", "address": "Avenue NestlÃ© 55"},
                                      {"company_name": "Joe\x92s Diner Ltd"}, {"company_name": "深圳市华强电子有限公司"},
                                      {"company_name": "Müller & Söhne GmbH"}, {"company_name": "Café–Bar Ltd"}]))
    assert list(out["name_norm"]) == ["Nestlé Suisse SA", "Joe’s Diner Ltd", "深圳市华强电子有限公司",
                                      "Müller & Söhne GmbH", "Café–Bar Ltd"]
    assert out["address_norm"].iloc[0] == "ave nestle 55" and out["company_name"].iloc[0] == "NestlÃ© Suisse SA"  # (as read)


def test_a_name_field_with_the_chinese_and_the_english_name_is_both():
    """Chinese exhibitor lists often give '深圳市华强电子有限公司 Shenzhen Huaqiang Electronics Co., Ltd.'
    in one field: the Chinese name is the name, the English one the second name, so the record
    meets a Chinese-only and an English-only listing of the company (whole, its core was neither)."""
    rows = [{"company_name": "深圳市华强电子有限公司 Shenzhen Huaqiang Electronics Co., Ltd."},
            {"company_name": "深圳市华强电子有限公司", "phone": "0755-83216688"},
            {"company_name": "Shenzhen Huaqiang Electronics Co., Ltd. (Stand 3A01)", "phone": "+86 755 8321 6688"},
            {"company_name": "Huaqiang Electronics Co., Ltd.（深圳市华强电子有限公司）"},
            {"company_name": "深圳市华强物流有限公司"},
            {"company_name": "TCL科技集团股份有限公司"}, {"company_name": "中国银行 Bank of China", "company_name_alt": "BOC"}]
    leads = _leads(rows)
    assert leads[0] == leads[1] == leads[2] == leads[3] and len(set(leads)) == 4
    out = normalise_records(_records(rows))
    assert list(out["name_norm"])[:2] == ["深圳市华强电子有限公司"] * 2 and out["name_core"].iloc[0] == "华强电子"
    assert out["name_alt_core"].iloc[0] == "huaqiang electronic" and out["company_name_alt"].iloc[0] is None
    assert out["name_norm"].iloc[5] == "TCL科技集团股份有限公司"  # one script's name with a Latin brand: whole
    assert (out["name_norm"].iloc[6], out["name_alt_core"].iloc[6]) == ("中国银行", "boc")  # the source's own alt stays
    assert out["company_name"].iloc[0].startswith("深圳市华强电子有限公司 Shenzhen")  # the field as read
