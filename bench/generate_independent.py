"""A second prospect generator, written apart from bench/generate.py, with its own error model.

    python bench/generate_independent.py --companies 10k -o OUT.csv [--seed 11] [--names-only]

Why a second one: a matcher whose weights were set while looking at one generator's output is
scored too kindly by that generator. This one was written without reading the other's error
model and stresses what it leaves out: international companies (36 countries, each with its
own legal forms spelled several ways: N.V./NV, GmbH/Gmbh/G.m.b.H., Sp. z o.o./sp. z o. o.,
株式会社-style K.K./Kabushiki Kaisha, 有限公司/股份有限公司 …), a large share of rows carrying the
name and nothing else, abbreviations (Tech./Technologies, Intl/International, Mfg), leading
noise ("* ", quotes), a city or country glued onto the name ("…, AMSTERDAM", "…,NL"), Chinese
names with and without their city prefix (深圳市…) beside their English/pinyin spelling, one
website written several ways (www., https://, a trailing path), phones in international,
00-prefixed and national form, typos, and a long tail of companies listed many times with the
same spelling. Hard negatives keep a matcher honest: unrelated firms sharing a business centre's
phone, different firms sharing a generic word in one city ("Pacific Semiconductor LLC" and
"Pacific Star Semiconductor LLC", San Jose), units of one organisation sharing its domain,
same-pinyin Chinese firms in different cities, free-mail addresses.

Output columns are those `leadrank dedupe` reads without `--map` (company_name, website, phone,
email, city, country, source) plus `true_id`; with `--names-only` just company_name and true_id.
Everything is drawn from one seeded random.Random, so a seed always gives the same file.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import phonenumbers
from pypinyin import lazy_pinyin

# country: (name, cities, top-level domain, legal forms as {canonical: spellings})
COUNTRIES: dict[str, tuple[str, list[str], str, dict[str, list[str]]]] = {
    "DE": ("Germany", ["Hamburg", "Munich", "Berlin", "Stuttgart", "Cologne"], "de",
           {"GmbH": ["GmbH", "Gmbh", "G.m.b.H.", "GMBH"], "AG": ["AG", "A.G."],
            "GmbH & Co. KG": ["GmbH & Co. KG", "GmbH & Co KG", "GmbH u. Co. KG"]}),
    "AT": ("Austria", ["Vienna", "Graz", "Linz"], "at", {"GmbH": ["GmbH", "Ges.m.b.H."], "AG": ["AG"]}),
    "CH": ("Switzerland", ["Zurich", "Geneva", "Basel"], "ch",
           {"AG": ["AG", "A.G."], "SA": ["SA", "S.A."], "Sàrl": ["Sàrl", "Sarl", "S.à r.l."]}),
    "NL": ("Netherlands", ["Amsterdam", "Rotterdam", "Eindhoven", "Utrecht"], "nl",
           {"B.V.": ["B.V.", "BV", "B.V", "Besloten Vennootschap"], "N.V.": ["N.V.", "NV", "N.V"]}),
    "BE": ("Belgium", ["Antwerp", "Brussels", "Ghent"], "be",
           {"NV": ["NV", "N.V."], "BVBA": ["BVBA", "B.V.B.A."], "SA": ["SA", "S.A."]}),
    "FR": ("France", ["Paris", "Lyon", "Toulouse", "Marseille"], "fr",
           {"SAS": ["SAS", "S.A.S.", "S.A.S"], "SARL": ["SARL", "S.A.R.L.", "Sarl"], "S.A.": ["S.A.", "SA"]}),
    "IT": ("Italy", ["Milan", "Turin", "Bologna", "Rome"], "it",
           {"S.p.A.": ["S.p.A.", "SpA", "S.P.A.", "Spa"], "S.r.l.": ["S.r.l.", "Srl", "S.R.L.", "s.r.l."]}),
    "ES": ("Spain", ["Madrid", "Barcelona", "Valencia", "Bilbao"], "es",
           {"S.A.": ["S.A.", "SA"], "S.L.": ["S.L.", "SL", "Sociedad Limitada"]}),
    "PT": ("Portugal", ["Lisbon", "Porto"], "pt", {"Lda.": ["Lda.", "Lda", "LDA"], "S.A.": ["S.A.", "SA"]}),
    "LU": ("Luxembourg", ["Luxembourg", "Esch-sur-Alzette"], "lu",
           {"S.à r.l.": ["S.à r.l.", "Sàrl", "S.a.r.l.", "SARL"], "S.A.": ["S.A.", "SA"]}),
    "PL": ("Poland", ["Warsaw", "Krakow", "Gdansk", "Wroclaw"], "pl",
           {"Sp. z o.o.": ["Sp. z o.o.", "sp. z o. o.", "Sp. z.o.o.", "SP. Z O.O."], "S.A.": ["S.A.", "SA"]}),
    "CZ": ("Czech Republic", ["Prague", "Brno"], "cz", {"s.r.o.": ["s.r.o.", "s. r. o.", "SRO"], "a.s.": ["a.s.", "a. s."]}),
    "SK": ("Slovakia", ["Bratislava", "Kosice"], "sk", {"s.r.o.": ["s.r.o.", "s. r. o."]}),
    "HU": ("Hungary", ["Budapest", "Debrecen"], "hu", {"Kft.": ["Kft.", "Kft", "KFT"], "Zrt.": ["Zrt.", "Zrt"]}),
    "FI": ("Finland", ["Helsinki", "Tampere", "Espoo"], "fi", {"Oy": ["Oy", "OY", "Oy Ab"], "Oyj": ["Oyj", "OYJ"]}),
    "SE": ("Sweden", ["Stockholm", "Gothenburg", "Malmo"], "se", {"AB": ["AB", "Aktiebolag", "AB (publ)"]}),
    "NO": ("Norway", ["Oslo", "Bergen", "Stavanger"], "no", {"AS": ["AS", "A/S"], "ASA": ["ASA"]}),
    "DK": ("Denmark", ["Copenhagen", "Aarhus", "Odense"], "dk", {"A/S": ["A/S", "AS", "A.S."], "ApS": ["ApS", "APS"]}),
    "GB": ("United Kingdom", ["London", "Manchester", "Bristol", "Glasgow", "Birmingham"], "co.uk",
           {"Ltd": ["Ltd", "Ltd.", "Limited", "LTD"], "plc": ["plc", "PLC", "p.l.c.", "Public Limited Company"]}),
    "IE": ("Ireland", ["Dublin", "Cork", "Galway"], "ie", {"Ltd": ["Ltd", "Limited"], "DAC": ["DAC", "D.A.C."]}),
    "US": ("United States", ["San Jose", "Houston", "Chicago", "Boston", "Seattle", "Dallas"], "com",
           {"Inc.": ["Inc.", "Inc", "Incorporated", "INC"], "LLC": ["LLC", "L.L.C.", "Llc"],
            "Corp.": ["Corp.", "Corp", "Corporation"]}),
    "CA": ("Canada", ["Toronto", "Montreal", "Vancouver", "Ottawa"], "ca", {"Inc.": ["Inc.", "Inc"], "Ltd.": ["Ltd.", "Ltd", "Limited"]}),
    "AU": ("Australia", ["Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide"], "com.au",
           {"Pty Ltd": ["Pty Ltd", "Pty. Ltd.", "PTY LTD", "Proprietary Limited", "Pty Limited"]}),
    "NZ": ("New Zealand", ["Auckland", "Wellington", "Christchurch"], "co.nz", {"Ltd": ["Ltd", "Limited"]}),
    "JP": ("Japan", ["Tokyo", "Osaka", "Nagoya", "Yokohama"], "co.jp",
           {"K.K.": ["K.K.", "KK", "Kabushiki Kaisha", "Co., Ltd.", "Co.,Ltd."]}),
    "KR": ("South Korea", ["Seoul", "Busan", "Incheon"], "co.kr", {"Co., Ltd.": ["Co., Ltd.", "Co.,Ltd", "Co Ltd"], "Corp.": ["Corp.", "Corporation"]}),
    "HK": ("Hong Kong", ["Hong Kong", "Kowloon"], "com.hk", {"Limited": ["Limited", "Ltd", "Ltd.", "Co., Limited"]}),
    "TW": ("Taiwan", ["Taipei", "Taichung", "Kaohsiung", "Hsinchu"], "com.tw", {"Co., Ltd.": ["Co., Ltd.", "Co.,Ltd.", "Co Ltd", "Corp."]}),
    "SG": ("Singapore", ["Singapore"], "com.sg", {"Pte Ltd": ["Pte Ltd", "Pte. Ltd.", "PTE LTD", "Private Limited"]}),
    "IN": ("India", ["Mumbai", "Bangalore", "Chennai", "Pune", "New Delhi"], "in",
           {"Pvt Ltd": ["Pvt Ltd", "Pvt. Ltd.", "Private Limited", "PVT LTD"], "Ltd": ["Ltd", "Limited"]}),
    "BR": ("Brazil", ["Sao Paulo", "Rio de Janeiro", "Curitiba"], "com.br", {"Ltda.": ["Ltda.", "Ltda", "LTDA"], "S.A.": ["S.A.", "SA"]}),
    "MX": ("Mexico", ["Mexico City", "Monterrey", "Guadalajara"], "com.mx", {"S.A. de C.V.": ["S.A. de C.V.", "SA de CV", "S.A. DE C.V."]}),
    "TR": ("Turkey", ["Istanbul", "Ankara", "Izmir"], "com.tr", {"A.Ş.": ["A.Ş.", "A.S.", "AS"], "Ltd. Şti.": ["Ltd. Şti.", "Ltd. Sti.", "LTD STI"]}),
    "ZA": ("South Africa", ["Johannesburg", "Cape Town", "Durban"], "co.za", {"(Pty) Ltd": ["(Pty) Ltd", "Pty Ltd", "(PTY) LTD"]}),
    "AE": ("United Arab Emirates", ["Dubai", "Abu Dhabi", "Sharjah"], "ae", {"LLC": ["LLC", "L.L.C."], "FZE": ["FZE", "F.Z.E."], "FZCO": ["FZCO", "FZ-LLC"]}),
    "RO": ("Romania", ["Bucharest", "Cluj-Napoca"], "ro", {"S.R.L.": ["S.R.L.", "SRL", "s.r.l."], "S.A.": ["S.A.", "SA"]}),
    "GR": ("Greece", ["Athens", "Thessaloniki"], "gr", {"S.A.": ["S.A.", "SA", "A.E."]}),
    "CN": ("China", [], "com.cn", {}),  # Chinese firms are built by chinese_company()
}

# industry word: its spellings (full and abbreviated)
INDUSTRIES: dict[str, list[str]] = {
    "Technologies": ["Technologies", "Tech.", "Tech", "Technology", "Techs"],
    "International": ["International", "Intl", "Intl.", "Int'l"],
    "Manufacturing": ["Manufacturing", "Mfg", "Mfg.", "Manufacturers"],
    "Engineering": ["Engineering", "Eng.", "Engg", "Engineers"],
    "Systems": ["Systems", "Sys.", "System"],
    "Industries": ["Industries", "Ind.", "Industry", "Inds"],
    "Electronics": ["Electronics", "Elec.", "Electronic"],
    "Semiconductor": ["Semiconductor", "Semiconductors", "Semi"],
    "Trading": ["Trading", "Trdg", "Trade"],
    "Logistics": ["Logistics", "Logistic"],
    "Laboratories": ["Laboratories", "Labs", "Lab."],
    "Solutions": ["Solutions", "Solns", "Solution"],
    "Services": ["Services", "Svcs", "Service"],
    "Chemicals": ["Chemicals", "Chem.", "Chemical"],
    "Defence": ["Defence", "Defense"],
    "Aerospace": ["Aerospace", "Aero"],
    "Marine": ["Marine"],
    "Group": ["Group", "Grp", "Gruppe"],
}
DESCRIPTORS = ["Pacific", "Global", "United", "Advanced", "General", "Premier", "Golden", "Eastern", "Royal",
               "Alpha", "Delta", "Star", "Atlas", "Summit", "Nordic", "Central"]
ONSETS = ["b", "br", "c", "cr", "d", "dr", "f", "g", "gr", "k", "l", "m", "n", "p", "pr", "qu", "r", "s", "st",
          "t", "tr", "v", "vr", "z", "x", "h", "j", "w"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "ei", "io", "y"]
CODAS = ["", "", "", "n", "r", "l", "x", "s", "t", "m", "k", "c"]

CN_CITIES = [("深圳", "Shenzhen", "755"), ("广州", "Guangzhou", "20"), ("东莞", "Dongguan", "769"),
             ("宁波", "Ningbo", "574"), ("苏州", "Suzhou", "512"), ("上海", "Shanghai", "21"), ("杭州", "Hangzhou", "571"),
             ("青岛", "Qingdao", "532"), ("厦门", "Xiamen", "592"), ("武汉", "Wuhan", "27"), ("佛山", "Foshan", "757"),
             ("温州", "Wenzhou", "577"), ("天津", "Tianjin", "22"), ("成都", "Chengdu", "28")]
CN_INDUSTRIES = [("机械", "Machinery"), ("电子", "Electronics"), ("科技", "Technology"), ("贸易", "Trading"),
                 ("物流", "Logistics"), ("化工", "Chemical"), ("纺织", "Textile"), ("照明", "Lighting"),
                 ("医疗器械", "Medical Equipment"), ("汽车配件", "Auto Parts"), ("五金", "Hardware"),
                 ("包装", "Packaging"), ("新材料", "New Material"), ("光电", "Optoelectronics"), ("塑胶", "Plastic")]
CN_CHARS = "宏智宇华达鑫源泰隆盛恒新丰利通瑞康博创嘉联永兴金安明辉信德海天远航光正昌凯美顺佳誉晟腾飞龙凤红鸿洪弘"
CN_FORMS = [("有限公司", ["Co., Ltd.", "Co.,Ltd", "Co Ltd", "Company Limited", "CO.,LTD."]),
            ("股份有限公司", ["Co., Ltd.", "Stock Co., Ltd.", "Corporation", "Co Ltd"])]
UNIT_TYPES = ["Regiment", "Signal Regiment", "Engineer Regiment", "Logistic Support Battalion", "Field Hospital",
              "Training Centre", "Procurement Agency", "Test and Evaluation Wing"]
ORDINALS = ["1st", "2nd", "3rd", "4th", "5th", "7th", "10th", "12th", "17th", "21st", "32nd", "101st"]
FREE_MAIL = ["gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "163.com", "qq.com"]
SOURCES = ["expo", "directory", "crm", "websearch"]
NAMES_ONLY_SHARE = 0.4


@dataclass
class Company:
    true_id: str
    country: str
    city: str
    name: str                        # the spelling the records vary from (a Chinese firm's trade name)
    domain: str | None
    phone: phonenumbers.PhoneNumber | None
    glue_city: str = ""              # the city as it is glued onto a name ("AMSTERDAM", "深圳")
    extra: dict = field(default_factory=dict)


def parse_size(text: str) -> int:
    """'10k' → 10000, '1m' → 1000000, '2500' → 2500."""
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


class Generator:
    """All draws go through self.rng so that one seed gives one file."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.used_cores: set[str] = set()
        self.countries = [c for c in COUNTRIES if c != "CN"]

    # --- names ----------------------------------------------------------------------------------
    def core(self) -> str:
        """A new made-up distinctive word ("Voupri", "Stocratec"), never used by another firm."""
        while True:
            word = "".join(self.rng.choice(ONSETS) + self.rng.choice(VOWELS) + self.rng.choice(CODAS)
                           for _ in range(self.rng.choice([2, 2, 3])))
            if 5 <= len(word) <= 11 and word not in self.used_cores:
                self.used_cores.add(word)
                return word.capitalize()

    def phone(self, country: str, area: str | None = None) -> phonenumbers.PhoneNumber:
        """A number shaped like the country's example fixed line, its subscriber digits random
        (for a Chinese firm: its city's area code and eight digits, or a mobile number)."""
        if country == "CN":
            national = (area or "1" + self.rng.choice("3589")) + "".join(self.rng.choice("0123456789") for _ in range(
                8 if area else 9))
            return phonenumbers.PhoneNumber(country_code=86, national_number=int(national))
        example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.FIXED_LINE)
        digits = str(example.national_number)
        keep = max(1, len(digits) - 6)
        national = digits[:keep] + "".join(self.rng.choice("0123456789") for _ in range(len(digits) - keep))
        return phonenumbers.PhoneNumber(country_code=example.country_code, national_number=int(national))

    def western_company(self, true_id: str, *, country: str | None = None, city: str | None = None,
                        name: str | None = None, industry: str | None = None, form: str | None = None) -> Company:
        country = country or self.rng.choice(self.countries)
        _, cities, tld, forms = COUNTRIES[country]
        city = city or self.rng.choice(cities)
        if name is None:
            parts = [self.core()]
            if self.rng.random() < 0.15:
                parts.insert(0, self.rng.choice(DESCRIPTORS))
            if self.rng.random() < 0.2:
                parts.append(self.core())  # two-word names: "Voupri Stocratec"
            industry = industry or (self.rng.choice(list(INDUSTRIES)) if self.rng.random() < 0.75 else None)
            name = " ".join(parts)
        form = form or self.rng.choice(list(forms))
        domain = re.sub(r"[^a-z]", "", name.lower())[:14] + ("-" + industry.lower()[:5] if industry and self.rng.random() < 0.3 else "")
        return Company(true_id, country, city, name, f"{domain}.{tld}", self.phone(country), city.upper(),
                       {"industry": industry, "form": form})

    def chinese_company(self, true_id: str, *, trade: str | None = None) -> Company:
        city_cn, city_en, area = self.rng.choice(CN_CITIES)
        trade = trade or "".join(self.rng.choice(CN_CHARS) for _ in range(self.rng.choice([2, 3, 3])))
        ind_cn, ind_en = self.rng.choice(CN_INDUSTRIES)
        form_cn, forms_en = self.rng.choice(CN_FORMS)
        pinyin = "".join(lazy_pinyin(trade)).capitalize()
        domain = f"{pinyin.lower()}{self.rng.choice(['', 'tech', 'group', str(self.rng.randint(1, 99))])}.{self.rng.choice(['com', 'com.cn', 'cn'])}"
        return Company(true_id, "CN", city_en, trade, domain, self.phone("CN", area if self.rng.random() < 0.7 else None), city_cn,
                       {"chinese": (city_cn, city_en, trade, ind_cn, ind_en, form_cn, forms_en, pinyin)})

    def spell(self, company: Company) -> str:
        """One record's spelling of the company's name, with this generator's errors."""
        rng = self.rng
        if "chinese" in company.extra:
            return self.spell_chinese(company)
        base = company.name
        if company.extra.get("unit"):
            name = base
        else:
            core = base
            if rng.random() < 0.07:
                core = self.typo(core)
            industry = company.extra["industry"]
            words = [core]
            if industry:
                spellings = INDUSTRIES[industry]
                r = rng.random()
                words.append(spellings[0] if r < 0.55 else self.truncate(spellings[0]) if r < 0.7 else rng.choice(spellings))
            forms = COUNTRIES[company.country][3][company.extra["form"]]
            if rng.random() < 0.85:
                form = forms[0] if rng.random() < 0.5 else rng.choice(forms)
                words.append(self.reform(form) if rng.random() < 0.1 else form)
            name = " ".join(words)
            if rng.random() < 0.04:
                name = name.replace(" ", ", ", 1) if industry else name  # "Voupri, Trading GmbH"
        return self.noise(name, company)

    def spell_chinese(self, company: Company) -> str:
        rng = self.rng
        city_cn, city_en, trade, ind_cn, ind_en, form_cn, forms_en, pinyin = company.extra["chinese"]
        if rng.random() < 0.55:  # Chinese spelling
            prefix = rng.choice([city_cn + "市", city_cn + "市", city_cn, ""])
            form = form_cn if rng.random() < 0.9 else "有限责任公司"
            if not prefix and rng.random() < 0.3:
                return f"{trade}{ind_cn}（{city_cn}）{form}"
            return f"{prefix}{trade}{ind_cn}{form}"
        spelled = pinyin if rng.random() < 0.8 else " ".join(p.capitalize() for p in lazy_pinyin(trade))
        if rng.random() < 0.06:
            spelled = self.typo(spelled)
        form = forms_en[0] if rng.random() < 0.5 else rng.choice(forms_en)
        layout = rng.random()
        if layout < 0.5:
            name = f"{city_en} {spelled} {ind_en} {form}"
        elif layout < 0.75:
            name = f"{spelled} {ind_en} ({city_en}) {form}"
        else:
            name = f"{spelled} {ind_en} {form}"
        return name.upper() if rng.random() < 0.25 else name

    def truncate(self, word: str) -> str:
        """An abbreviation made up on the spot ("Technol.", "Manuf", "Labor."): drawn, not
        listed, so that no table copied from this file can know them all."""
        return word[:self.rng.randint(3, max(3, len(word) - 3))] + self.rng.choice([".", ".", ""])

    def reform(self, form: str) -> str:
        """A legal form written another way: without its dots, spaced out, or in another case."""
        r = self.rng.random()
        if r < 0.3:
            return form.replace(".", "")
        if r < 0.55:
            return form.replace(".", ". ").strip()
        return form.lower() if r < 0.8 else form.upper()

    def typo(self, word: str) -> str:
        rng = self.rng
        i = rng.randrange(1, len(word) - 1) if len(word) > 3 else 1
        kind = rng.randrange(4)
        if kind == 0:
            return word[:i] + word[i + 1:]
        if kind == 1:
            return word[:i] + word[i + 1] + word[i] + word[i + 2:] if i + 1 < len(word) else word + "e"
        if kind == 2:
            return word[:i] + rng.choice("aeiounrst") + word[i:]
        return word[:i] + rng.choice("aeiounrst") + word[i + 1:]

    def noise(self, name: str, company: Company) -> str:
        """Case, leading noise and a glued city or country."""
        rng = self.rng
        r = rng.random()
        if r < 0.15:
            name = name.upper()
        elif r < 0.2:
            name = name.lower()
        r = rng.random()
        if r < 0.05:
            name = "* " + name
        elif r < 0.09:
            name = f'"{name}"'
        elif r < 0.11:
            name = "'" + name
        r = rng.random()
        if r < 0.05:
            name = f"{name}, {company.glue_city}"
        elif r < 0.09:
            name = f"{name},{company.country}"
        elif r < 0.11:
            name = f"{name} ({COUNTRIES[company.country][0]})"
        return name

    # --- other fields ---------------------------------------------------------------------------
    def website(self, domain: str) -> str:
        r = self.rng.random()
        if r < 0.3:
            return domain
        if r < 0.55:
            return "www." + domain
        if r < 0.7:
            return f"https://www.{domain}/"
        if r < 0.8:
            return f"http://{domain}/{self.rng.choice(['en', 'contact', 'en/index.html', 'about-us'])}"
        if r < 0.9:
            return f"https://{domain}"
        return ("WWW." + domain).upper()

    def phone_text(self, number: phonenumbers.PhoneNumber) -> str:
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        r = self.rng.random()
        if r < 0.3:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        if r < 0.5:
            return "00" + e164[1:]
        if r < 0.6:
            international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
            return "00" + international[1:]
        if r < 0.85:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        if r < 0.95:
            return e164
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.RFC3966).replace("tel:", "")

    def records(self, company: Company) -> list[dict]:
        """The company's records. A firm listed many times is mostly listed under one spelling
        (every source copying the same directory entry): 167 rows of exactly "Akzo Nobel N.V."."""
        n = self.copies()
        usual = self.spell(company) if n > 15 else None
        return [self.record(company, usual if usual and self.rng.random() < 0.6 else self.spell(company))
                for _ in range(n)]

    def record(self, company: Company, name: str) -> dict:
        rng = self.rng
        row = {"company_name": name, "website": "", "phone": "", "email": "", "city": "", "country": "",
               "source": rng.choice(SOURCES), "true_id": company.true_id}
        if rng.random() < NAMES_ONLY_SHARE and not company.extra.get("shared"):
            return row
        if company.domain and rng.random() < 0.5:
            row["website"] = self.website(company.domain)
        if company.phone and rng.random() < (0.9 if company.extra.get("shared") == "phone" else 0.5):
            row["phone"] = self.phone_text(company.phone)
        if rng.random() < 0.3:
            local = rng.choice(["info", "sales", "contact", "office", "export"])
            free = company.domain is None or rng.random() < 0.25
            handle = re.sub(r"[^a-z]", "", company.name.lower())[:8] or "firm"
            row["email"] = f"{handle}{rng.randint(1, 999)}@{rng.choice(FREE_MAIL)}" if free else f"{local}@{company.domain}"
        if rng.random() < 0.5:
            row["city"] = company.city if rng.random() < 0.8 else company.city.upper()
        if rng.random() < 0.5:
            row["country"] = company.country if rng.random() < 0.5 else COUNTRIES[company.country][0]
        return row

    def copies(self) -> int:
        """Records per company: mostly one to three, a long tail up to 200 (the same firm listed
        by every source and every year)."""
        r = self.rng.random()
        if r < 0.45:
            return 1
        if r < 0.7:
            return 2
        if r < 0.82:
            return 3
        if r < 0.92:
            return self.rng.randint(4, 6)
        if r < 0.98:
            return self.rng.randint(7, 15)
        if r < 0.995:
            return self.rng.randint(16, 60)
        return self.rng.randint(61, 200)

    # --- companies and hard negatives -------------------------------------------------------------
    def companies(self, n: int) -> list[Company]:
        out: list[Company] = []
        rng = self.rng
        while len(out) < n:
            tid = f"I{len(out):08d}"
            r = rng.random()
            if r < 0.2:
                out.append(self.chinese_company(tid))
            elif r < 0.23:
                out.extend(self.pinyin_twins(len(out)))
            elif r < 0.25:
                out.extend(self.business_centre(len(out)))
            elif r < 0.27:
                out.extend(self.generic_word_twins(len(out)))
            elif r < 0.28:
                out.extend(self.units_on_one_domain(len(out)))
            else:
                out.append(self.western_company(tid))
        return out[:n]

    def business_centre(self, start: int) -> list[Company]:
        """2–5 unrelated firms in one serviced office: one phone, one city."""
        first = self.western_company(f"I{start:08d}")
        group = [first]
        for k in range(1, self.rng.randint(2, 5)):
            other = self.western_company(f"I{start + k:08d}", country=first.country, city=first.city)
            group.append(other)
        for c in group:
            c.phone = first.phone
            c.extra["shared"] = "phone"
        return group

    def generic_word_twins(self, start: int) -> list[Company]:
        """Two firms in one city with one descriptor and one industry word: "Pacific Semiconductor
        LLC" and "Pacific Star Semiconductor LLC" are different companies."""
        descriptor = self.rng.choice(DESCRIPTORS)
        industry = self.rng.choice(list(INDUSTRIES))
        a = self.western_company(f"I{start:08d}", name=descriptor, industry=industry)
        b = self.western_company(f"I{start + 1:08d}", country=a.country, city=a.city, industry=industry,
                                 form=a.extra["form"], name=f"{descriptor} {self.rng.choice(DESCRIPTORS[:8] + [self.core()])}")
        for c in (a, b):
            c.domain = re.sub(r"[^a-z]", "", c.name.lower()) + re.sub(r"[^a-z]", "", industry.lower())[:4] + "." + COUNTRIES[c.country][2]
        if a.domain == b.domain:
            b.domain = "the" + b.domain
        return [a, b]

    def units_on_one_domain(self, start: int) -> list[Company]:
        """Units of one army (or one ministry's agencies) listed separately on its one domain."""
        country = self.rng.choice(["GB", "US", "FR", "DE", "NL", "AU", "CA", "SE", "PL"])
        army = self.core()
        domain = f"{army.lower()}.mil.{COUNTRIES[country][2].split('.')[-1]}"
        names = set()
        group = []
        for _ in range(self.rng.randint(3, 8)):
            name = f"{army} Army {self.rng.choice(ORDINALS)} {self.rng.choice(UNIT_TYPES)}"
            if name in names:
                continue
            names.add(name)
            unit = Company(f"I{start + len(group):08d}", country, self.rng.choice(COUNTRIES[country][1]), name, domain,
                           self.phone(country), "", {"unit": True, "shared": "domain"})
            unit.glue_city = unit.city.upper()
            group.append(unit)
        return group

    def pinyin_twins(self, start: int) -> list[Company]:
        """Two Chinese firms whose trade names differ in characters but not in pinyin (宏达 / 鸿达),
        each in its own city."""
        first = self.chinese_company(f"I{start:08d}")
        trade = first.extra["chinese"][2]
        alike = {"宏": "鸿", "鸿": "洪", "洪": "红", "红": "宏", "华": "骅", "达": "大", "金": "今", "信": "新",
                 "新": "欣", "明": "铭", "德": "得", "泰": "太", "源": "元", "利": "力", "安": "岸", "康": "抗"}
        twin = "".join(alike.get(ch, ch) for ch in trade)
        if twin == trade:
            twin = "鸿" + trade[1:]
        second = self.chinese_company(f"I{start + 1:08d}", trade=twin)
        if second.domain == first.domain:  # one pinyin, two firms: the later one registered another name
            second.domain = second.city.lower() + second.domain
        return [first, second]


def generate(companies: int, seed: int = 11, *, names_only: bool = False) -> pd.DataFrame:
    gen = Generator(seed)
    rows = [row for company in gen.companies(companies) for row in gen.records(company)]
    gen.rng.shuffle(rows)
    frame = pd.DataFrame(rows)
    return frame[["company_name", "true_id"]] if names_only else frame


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", default="10k", help="number of companies: 2500, 10k, 1m …")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("-o", "--output", type=Path, required=True, help="CSV to write")
    parser.add_argument("--names-only", action="store_true", help="write only company_name (and true_id)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    frame = generate(parse_size(args.companies), args.seed, names_only=args.names_only)
    frame.to_csv(args.output, index=False)
    print(f"{args.companies} companies, {len(frame)} records → {args.output} in {time.perf_counter() - started:.1f}s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
