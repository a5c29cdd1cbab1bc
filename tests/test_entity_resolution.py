"""Regression tests for the failure classes of issue 14 (entity resolution on data it was never
tuned on), each on a small hand-written fixture."""

import pytest

from leadrank.config import ResolutionConfig
from leadrank.transform.contacts import normalise_phones
from leadrank.transform.names import parse_names
from leadrank.transform.normalise import normalise_records
from leadrank.transform.resolve import resolve
from tests.test_resolve import _records


def _leads(rows: list[dict], cfg: ResolutionConfig | None = None) -> list[str]:
    return list(resolve(normalise_records(_records(rows)), cfg or ResolutionConfig()).records["lead_id"])


# -- class 2: legal forms of every country, noise around names --------------------------------

@pytest.mark.parametrize(("a", "b"), [
    ("Akzo Nobel N.V.", "Akzo Nobel NV"), ("Foo Holding B.V.", "FOO HOLDING BV"), ("Siemens AG", "Siemens"),
    ("Bosch Rexroth GmbH", "Bosch Rexroth"), ("Nestle S.A.", "Nestle SA"), ("Fincantieri S.p.A.", "Fincantieri SpA"),
    ("Patria Oy", "Patria"), ("Saab AB (publ)", "Saab AB"), ("Terma A/S", "Terma AS"),
    ("Mitsubishi Electric K.K.", "Mitsubishi Electric KK"), ("Austal Pty Ltd", "Austal Pty. Ltd."),
    ("Arcelor S.à r.l.", "Arcelor SARL"), ("WB Electronics Sp. z o.o.", "WB Electronics sp. z o. o."),
    ("BAE Systems plc", "BAE Systems PLC"),
    ("* Akzo Nobel N.V.", "Akzo Nobel N.V."), ('"Akzo Nobel N.V."', "Akzo Nobel N.V."),
    ("Akzo Nobel N.V., AMSTERDAM", "Akzo Nobel N.V."), ("Akzo Nobel N.V.,NL", "Akzo Nobel"),
    ("Voupri Trading, Germany", "Voupri Trading GmbH"),
    ("Taiprei Tech. Co., Ltd.", "Taiprei Technologies Co., Ltd."), ("ABC Intl Ltd", "ABC International Limited"),
])
def test_legal_forms_and_noise_leave_one_core(a, b):
    cores = parse_names([a, b])["core"]
    assert cores[0] == cores[1], list(cores)


def test_name_words_that_look_like_forms_stay():
    parsed = parse_names(["Saab AB (publ)", "Chicago Public Schools Revere, Paul", "Bodefeng Food Co., Ltd. Hefei Branch"])
    assert list(parsed["core"]) == ["saab", "chicago public schools revere paul", "bodefeng food"]
    assert list(parsed["flags"]) == ["", "", ""] and parsed["is_branch"][2]


# -- class 5: one phone written with any international prefix ---------------------------------

@pytest.mark.parametrize("region", ["US", "GB", "DE", "CN", "JP", "AU"])
def test_phone_prefix_forms_are_one_number(region):
    raw = ["0049 30 1234567", "+49 30 1234567", "00 49 (0) 30 1234567", "011 49 30 1234567", "+49 (0)30 12345-67"]
    e164, _ = normalise_phones(raw, [region] * len(raw))
    assert set(e164) == {"+49301234567"}


def test_records_in_other_countries_get_the_same_phone():
    normalised = normalise_records(_records([
        {"company_name": "Hensoldt Sensors GmbH", "phone": "0049 731 46000", "country": "US"},
        {"company_name": "Hensoldt", "phone": "+49 731 46000", "country": "DE"},
    ]))
    assert normalised["phone_e164"].tolist() == ["+4973146000", "+4973146000"]


# -- class 1: names only; no block dropped, a frequent identical name not penalised -------------

def test_a_name_listed_more_often_than_any_block_is_one_lead():
    rows = ([{"company_name": "Akzo Nobel N.V."}] * 167 + [{"company_name": "Akzo Nobel NV"}] * 5
            + [{"company_name": "AkzoNobel N.V., AMSTERDAM"}] * 3 + [{"company_name": "Stocratec Trading Limited"}])
    leads = _leads(rows, ResolutionConfig(max_block_size=20))
    assert len(set(leads[:175])) == 1 and leads[175] != leads[0]


def test_large_blocks_are_sub_blocked_not_skipped():
    # One shared switchboard over 30 companies (a block larger than max_block_size): each
    # company's two spellings still meet through the name order, unrelated firms stay apart.
    rows = []
    for k in range(30):
        name = f"Firm{chr(65 + k % 26)}{k:02d} Trading"
        rows += [{"company_name": f"{name} GmbH", "phone": "+49 40 1234567", "country": "DE"},
                 {"company_name": f"{name} G.m.b.H.", "phone": "+49 40 1234567", "country": "DE"}]
    leads = _leads(rows, ResolutionConfig(max_block_size=10))
    assert len(set(leads)) == 30 and all(leads[2 * k] == leads[2 * k + 1] for k in range(30))


# -- the learned model (Fellegi–Sunter) -----------------------------------------------------------

def test_learned_weights_come_from_the_data():
    from leadrank.transform.fellegi_sunter import COMPARISONS

    rows = []
    for k in range(40):
        rows += [{"company_name": f"深圳市{'华强宏达瑞祥金源博达'[k % 10]}{k}电子有限公司", "phone": f"0755-8321{k:04d}",
                  "website": f"www.firm{k}.cn"},
                 {"company_name": f"{'华强宏达瑞祥金源博达'[k % 10]}{k}电子", "phone": f"0755 8321 {k:04d}",
                  "website": f"http://firm{k}.cn/"}]
    result = resolve(normalise_records(_records(rows)), ResolutionConfig(learned=True))
    table = result.model.table()
    assert list(table.columns) == ["comparison", "level", "m", "u", "match_weight"]
    assert len(table) == sum(len(v) for v in COMPARISONS.values())
    weight = table.set_index(["comparison", "level"])["match_weight"]
    # Learned, not copied from the prior: the prior says 5 points for a shared phone.
    assert weight["phone", "same"] != pytest.approx(5.0, abs=0.01) and weight["phone", "same"] > 5
    assert result.records["lead_id"].nunique() == 40
