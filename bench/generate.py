"""A seeded generator of realistic Chinese prospect records with known truth.

    python bench/generate.py --companies 10000 --seed 7 -o /tmp/prospects-10k.csv

Each company is a (brand, industry, city) with its own phones, website, emails and 统一社会信用代码;
each appears in about 1.4 records (an exhibitor list, an association directory, a registry, a
web search), written the way such sources write it:
  - names in Chinese or English (pinyin brand + translated industry), with legal-form variants
    (有限公司 / 有限责任公司 / Co., Ltd. / Company Limited …), region prefixes full, short, in
    brackets, moved or dropped, full-width characters, traditional characters, one-character
    typos and upper/lower/title case;
  - phones as 0755-83216688, (0755)8321 6688, +86 755 8321 6688, 86-755-83216688, mobiles with and
    without +86 and separators; websites with and without scheme, www and path; emails on the
    company domain or on free-mail (qq.com, 163.com …); valid and corrupted codes.
Hard negatives are built in: brands repeat across cities and industries (same brand, different
city or industry is a different company), branches (分公司) are their own companies, groups share
one website across member companies, business centres share one address and switchboard number, and
free-mail domains are shared by everybody.

The output CSV has the columns `leadrank dedupe` reads without any --map (company_name, website,
phone, email, address, city, province, country, uscc, source) plus `true_id`, the company each
row belongs to. Same seed and size, same file.
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import time
from functools import cache
from pathlib import Path

import pandas as pd

# (character, pinyin) that Chinese brand names are made of.
BRAND_CHARS = [
    ("华", "hua"), ("强", "qiang"), ("盛", "sheng"), ("鑫", "xin"), ("达", "da"), ("源", "yuan"), ("泰", "tai"),
    ("恒", "heng"), ("信", "xin"), ("宏", "hong"), ("新", "xin"), ("金", "jin"), ("瑞", "rui"), ("祥", "xiang"),
    ("利", "li"), ("兴", "xing"), ("联", "lian"), ("海", "hai"), ("天", "tian"), ("中", "zhong"), ("东", "dong"),
    ("方", "fang"), ("博", "bo"), ("创", "chuang"), ("通", "tong"), ("安", "an"), ("和", "he"), ("康", "kang"),
    ("美", "mei"), ("佳", "jia"), ("德", "de"), ("福", "fu"), ("荣", "rong"), ("昌", "chang"), ("隆", "long"),
    ("丰", "feng"), ("顺", "shun"), ("晨", "chen"), ("光", "guang"), ("明", "ming"), ("辉", "hui"), ("星", "xing"),
    ("远", "yuan"), ("航", "hang"), ("汇", "hui"), ("嘉", "jia"), ("永", "yong"), ("亿", "yi"), ("万", "wan"),
    ("锦", "jin"), ("凯", "kai"), ("腾", "teng"), ("飞", "fei"), ("龙", "long"), ("凤", "feng"), ("云", "yun"),
    ("峰", "feng"), ("宇", "yu"), ("宙", "zhou"), ("同", "tong"), ("立", "li"), ("力", "li"), ("科", "ke"),
    ("仁", "ren"), ("义", "yi"), ("智", "zhi"), ("慧", "hui"), ("诚", "cheng"), ("正", "zheng"), ("伟", "wei"),
    ("豪", "hao"), ("威", "wei"), ("鹏", "peng"), ("翔", "xiang"), ("润", "run"), ("泽", "ze"), ("林", "lin"),
    ("森", "sen"), ("峻", "jun"), ("卓", "zhuo"), ("越", "yue"), ("精", "jing"), ("工", "gong"), ("铭", "ming"),
    ("展", "zhan"), ("宝", "bao"), ("富", "fu"), ("贵", "gui"), ("吉", "ji"), ("庆", "qing"), ("春", "chun"),
    ("秋", "qiu"), ("蓝", "lan"), ("青", "qing"), ("绿", "lv"), ("红", "hong"), ("银", "yin"), ("铁", "tie"),
    ("钢", "gang"), ("石", "shi"), ("山", "shan"), ("川", "chuan"), ("江", "jiang"), ("河", "he"), ("湖", "hu"),
    ("洋", "yang"), ("波", "bo"), ("涛", "tao"), ("鸿", "hong"), ("浩", "hao"), ("坤", "kun"), ("乾", "qian"),
    ("元", "yuan"), ("亨", "heng"), ("贞", "zhen"), ("圣", "sheng"), ("奥", "ao"), ("欧", "ou"), ("亚", "ya"),
    ("捷", "jie"), ("迅", "xun"), ("驰", "chi"), ("骏", "jun"), ("优", "you"), ("尚", "shang"), ("品", "pin"),
    ("普", "pu"), ("惠", "hui"), ("民", "min"), ("众", "zhong"), ("合", "he"), ("协", "xie"), ("盈", "ying"),
    ("益", "yi"), ("宁", "ning"), ("静", "jing"), ("雅", "ya"), ("君", "jun"), ("臣", "chen"), ("晶", "jing"),
    ("鼎", "ding"), ("铸", "zhu"), ("维", "wei"), ("纳", "na"), ("斯", "si"), ("特", "te"), ("尔", "er"),
]
# Characters a typo may turn a brand character into (look-alikes and homophones).
TYPO_CHARS = "华骅桦强墙盛晟鑫欣达打源原泰太恒衡信言宏弘新心金今瑞锐祥样利力兴星联连海每天夭中忠东冬方芳"

INDUSTRIES = [
    ("电子", "Electronics"), ("科技", "Technology"), ("机械", "Machinery"), ("贸易", "Trading"),
    ("实业", "Industrial"), ("医疗器械", "Medical Equipment"), ("办公用品", "Office Supplies"), ("化工", "Chemical"),
    ("纺织", "Textile"), ("食品", "Food"), ("物流", "Logistics"), ("建材", "Building Materials"),
    ("汽车配件", "Auto Parts"), ("信息技术", "Information Technology"), ("软件", "Software"),
    ("环保科技", "Environmental Technology"), ("新能源", "New Energy"), ("光电", "Optoelectronics"),
    ("精密制造", "Precision Manufacturing"), ("包装", "Packaging"), ("家具", "Furniture"), ("印刷", "Printing"),
    ("电气", "Electric"), ("仪器仪表", "Instruments"), ("生物科技", "Biotechnology"), ("制药", "Pharmaceutical"),
    ("服装", "Garment"), ("塑胶", "Plastics"), ("五金", "Hardware"), ("照明", "Lighting"), ("通信", "Communication"),
    ("网络科技", "Network Technology"), ("文化传媒", "Culture Media"), ("投资", "Investment"),
    ("咨询", "Consulting"), ("工程", "Engineering"), ("建设", "Construction"), ("能源", "Energy"),
    ("农业", "Agriculture"), ("材料", "Materials"),
]
# (province, city, pinyin, area code, districts): cities whose 8-digit landlines start with 2-8.
CITIES = [
    ("广东省", "深圳市", "Shenzhen", "0755", ["南山区", "福田区", "宝安区", "龙岗区"]),
    ("上海市", "上海市", "Shanghai", "021", ["浦东新区", "闵行区", "徐汇区", "嘉定区"]),
    ("北京市", "北京市", "Beijing", "010", ["海淀区", "朝阳区", "丰台区", "大兴区"]),
    ("广东省", "广州市", "Guangzhou", "020", ["天河区", "番禺区", "白云区", "黄埔区"]),
    ("浙江省", "杭州市", "Hangzhou", "0571", ["西湖区", "滨江区", "余杭区", "萧山区"]),
    ("江苏省", "南京市", "Nanjing", "025", ["江宁区", "玄武区", "鼓楼区", "浦口区"]),
    ("江苏省", "苏州市", "Suzhou", "0512", ["工业园区", "吴中区", "相城区", "虎丘区"]),
    ("湖北省", "武汉市", "Wuhan", "027", ["洪山区", "江汉区", "武昌区", "东西湖区"]),
    ("四川省", "成都市", "Chengdu", "028", ["武侯区", "锦江区", "青羊区", "郫都区"]),
    ("陕西省", "西安市", "Xi'an", "029", ["雁塔区", "未央区", "长安区", "碑林区"]),
    ("山东省", "青岛市", "Qingdao", "0532", ["市南区", "崂山区", "黄岛区", "城阳区"]),
    ("辽宁省", "大连市", "Dalian", "0411", ["中山区", "甘井子区", "沙河口区", "金州区"]),
    ("浙江省", "宁波市", "Ningbo", "0574", ["鄞州区", "海曙区", "北仑区", "镇海区"]),
    ("广东省", "东莞市", "Dongguan", "0769", ["长安镇", "虎门镇", "松山湖", "南城街道"]),
    ("广东省", "佛山市", "Foshan", "0757", ["南海区", "顺德区", "禅城区", "三水区"]),
    ("江苏省", "无锡市", "Wuxi", "0510", ["滨湖区", "新吴区", "梁溪区", "锡山区"]),
    ("江苏省", "常州市", "Changzhou", "0519", ["武进区", "新北区", "天宁区", "钟楼区"]),
    ("湖南省", "长沙市", "Changsha", "0731", ["岳麓区", "雨花区", "开福区", "芙蓉区"]),
    ("河南省", "郑州市", "Zhengzhou", "0371", ["金水区", "二七区", "中原区", "管城区"]),
    ("山东省", "济南市", "Jinan", "0531", ["历下区", "市中区", "槐荫区", "天桥区"]),
    ("黑龙江省", "哈尔滨市", "Harbin", "0451", ["南岗区", "道里区", "香坊区", "松北区"]),
    ("吉林省", "长春市", "Changchun", "0431", ["朝阳区", "南关区", "宽城区", "绿园区"]),
    ("福建省", "福州市", "Fuzhou", "0591", ["鼓楼区", "台江区", "仓山区", "晋安区"]),
    ("安徽省", "合肥市", "Hefei", "0551", ["蜀山区", "包河区", "庐阳区", "瑶海区"]),
    ("云南省", "昆明市", "Kunming", "0871", ["五华区", "盘龙区", "官渡区", "西山区"]),
    ("重庆市", "重庆市", "Chongqing", "023", ["渝北区", "江北区", "九龙坡区", "沙坪坝区"]),
    ("天津市", "天津市", "Tianjin", "022", ["滨海新区", "南开区", "河西区", "西青区"]),
    ("浙江省", "温州市", "Wenzhou", "0577", ["鹿城区", "龙湾区", "瓯海区", "洞头区"]),
]
CITY_WEIGHTS = [10, 10, 9, 8, 6, 5, 5, 4, 4, 3, 3, 3, 3, 4, 3, 2, 2, 2, 2, 2, 1, 1, 2, 2, 1, 2, 2, 2]
ROADS = ["科技", "建设", "人民", "解放", "中山", "工业", "创业", "发展", "高新", "滨海", "长江", "黄河", "振兴", "和平", "光明"]
ZH_FORMS = ["有限公司"] * 12 + ["有限责任公司"] * 3 + ["股份有限公司"] * 2 + ["集团有限公司"]
EN_FORMS = ["Co., Ltd."] * 6 + ["Co.,Ltd"] * 2 + ["Company Limited"] * 2 + ["Ltd."] + ["Corp."] + ["Inc."] + ["Co. Ltd"]
FREE_MAIL = ["qq.com"] * 5 + ["163.com"] * 3 + ["126.com"] * 2 + ["sina.com", "gmail.com", "hotmail.com", "foxmail.com"]
MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155",
                   "156", "158", "159", "177", "180", "181", "182", "183", "185", "186", "187", "188", "189", "199"]
TLDS = [".com"] * 5 + [".com.cn"] * 3 + [".cn"] * 2 + [".net"]
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]
# Source profiles: probability that a record of this kind carries each field, and its language mix.
SOURCES = {
    "expo": {"weight": 4, "english": 0.45, "phone": 0.85, "website": 0.75, "email": 0.6, "address": 0.3, "uscc": 0.0, "city": 0.7},
    "association": {"weight": 3, "english": 0.0, "phone": 0.9, "website": 0.6, "email": 0.4, "address": 0.9, "uscc": 0.6, "city": 0.5},
    "registry": {"weight": 2, "english": 0.0, "phone": 0.7, "website": 0.3, "email": 0.3, "address": 0.95, "uscc": 1.0, "city": 0.0},
    "websearch": {"weight": 3, "english": 0.2, "phone": 0.5, "website": 0.9, "email": 0.3, "address": 0.2, "uscc": 0.05, "city": 0.0},
}
RECORDS_PER_COMPANY = [(1, 0.72), (2, 0.19), (3, 0.06), (4, 0.03)]  # mean ≈ 1.4


def uscc_check(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


@cache
def _landline_ok(area: str, head: str) -> bool:
    import phonenumbers

    number = phonenumbers.parse(area + head + "6" * (8 - len(head)), "CN")
    return phonenumbers.is_valid_number(number)


class Generator:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.used_domains: set[str] = set()
        self.used_codes: set[str] = set()
        self.used_names: set[tuple[int, str, int]] = set()
        from opencc import OpenCC

        self._s2t = OpenCC("s2t")

    # --- companies -------------------------------------------------------------------------
    def brand(self) -> list[tuple[str, str]]:
        size = 2 if self.rng.random() < 0.55 else 3
        return self.rng.sample(BRAND_CHARS, size)

    def landline(self, area: str) -> str:
        while True:
            number = self.rng.choice("2345678") + "".join(self.rng.choices(string.digits, k=7))
            if _landline_ok(area, number[:3]):
                return number

    def mobile(self) -> str:
        return self.rng.choice(MOBILE_PREFIXES) + "".join(self.rng.choices(string.digits, k=8))

    def domain(self, brand_pinyin: str, industry_en: str) -> str:
        stem = brand_pinyin
        if self.rng.random() < 0.4:
            stem += "".join(w[0] for w in industry_en.lower().split())[:3]
        tld = self.rng.choice(TLDS)
        candidate = stem + tld
        while candidate in self.used_domains:
            candidate = stem + str(self.rng.randint(1, 999)) + tld
        self.used_domains.add(candidate)
        return candidate

    def new_uscc(self, city_index: int) -> str:
        while True:
            region = f"{110000 + city_index * 1000 + self.rng.randint(0, 99):06d}"
            body = "91" + region + "".join(self.rng.choices(USCC_ALPHABET, k=9))
            code = body + uscc_check(body)
            if code not in self.used_codes:
                self.used_codes.add(code)
                return code

    def company(self, cid: int, brand: list[tuple[str, str]] | None = None, city: int | None = None,
                industry: int | None = None, branch_of: dict | None = None) -> dict:
        fixed_brand = brand
        while True:  # a registered name (city, trade name, industry) is unique, as 企业名称登记 requires
            brand = fixed_brand or self.brand()
            city = city if city is not None else self.rng.choices(range(len(CITIES)), CITY_WEIGHTS)[0]
            industry = industry if industry is not None else self.rng.randrange(len(INDUSTRIES))
            name_key = (city, "".join(c for c, _ in brand), industry)
            if branch_of is not None or name_key not in self.used_names:
                self.used_names.add(name_key)
                break
            industry = self.rng.randrange(len(INDUSTRIES)) if fixed_brand else industry
        province, city_zh, city_py, area, districts = CITIES[city]
        brand_zh = "".join(c for c, _ in brand)
        brand_py = "".join(p for _, p in brand)
        ind_zh, ind_en = INDUSTRIES[industry]
        company = {
            "id": f"C{cid:08d}", "brand_zh": brand_zh, "brand_py": brand_py, "industry_zh": ind_zh,
            "industry_en": ind_en, "province": province, "city": city_zh, "city_py": city_py, "area": area,
            "zh_form": self.rng.choice(ZH_FORMS), "en_form": self.rng.choice(EN_FORMS),
            "landline": self.landline(area), "mobile": self.mobile(), "uscc": self.new_uscc(city),
            "domain": None if self.rng.random() < 0.15 else self.domain(brand_py, ind_en),
            "contact": self.rng.choice(["sales", "info", "market", "service", "admin", "hr"]),
            "free_mail": f"{brand_py}{self.rng.randint(10, 99999)}@{self.rng.choice(FREE_MAIL)}",
            "address": f"{city_zh}{self.rng.choice(districts)}{self.rng.choice(ROADS)}路{self.rng.randint(1, 999)}号",
            "branch": False,
        }
        if branch_of is not None:  # a branch: same name and website as its head office, own city and phones
            company.update(brand_zh=branch_of["brand_zh"], brand_py=branch_of["brand_py"],
                           industry_zh=branch_of["industry_zh"], industry_en=branch_of["industry_en"],
                           zh_form=branch_of["zh_form"], en_form=branch_of["en_form"], domain=branch_of["domain"],
                           branch=True, head_city=branch_of["city"])
        return company

    def companies(self, n: int) -> list[dict]:
        out: list[dict] = []
        while len(out) < n:
            base = self.company(len(out))
            out.append(base)
            roll = self.rng.random()
            if roll < 0.04 and len(out) < n:  # same brand and industry, another city
                other = self.rng.choice([i for i in range(len(CITIES)) if CITIES[i][1] != base["city"]])
                out.append(self.company(len(out), brand=_brand_of(base), city=other,
                                        industry=INDUSTRIES.index((base["industry_zh"], base["industry_en"]))))
            elif roll < 0.08 and len(out) < n:  # same brand and city, another industry
                out.append(self.company(len(out), brand=_brand_of(base), city=CITY_NAMES.index(base["city"])))
            elif roll < 0.10 and len(out) < n:  # a branch office in another city
                other = self.rng.choice([i for i in range(len(CITIES)) if CITIES[i][1] != base["city"]])
                out.append(self.company(len(out), city=other, branch_of=base))
            elif roll < 0.12 and len(out) < n:  # a group: member companies share the group's website
                member = self.company(len(out), brand=_brand_of(base), city=CITY_NAMES.index(base["city"]))
                member["domain"] = base["domain"]
                out.append(member)
            elif roll < 0.13 and len(out) + 2 < n:  # a business centre: one address and switchboard for several firms
                for _ in range(3):
                    tenant = self.company(len(out), city=CITY_NAMES.index(base["city"]))
                    tenant["landline"] = base["landline"]
                    tenant["address"] = base["address"]
                    out.append(tenant)
        return out[:n]

    # --- records ---------------------------------------------------------------------------
    def name(self, c: dict, english: bool) -> str:
        r = self.rng
        if english:
            brand = c["brand_py"].capitalize() if r.random() < 0.8 else " ".join(
                p.capitalize() for p in _syllables(c))
            core = f"{brand} {c['industry_en']}"
            roll = r.random()
            region = c["city_py"]
            if roll < 0.55:
                name = f"{region} {core}"
            elif roll < 0.7:
                name = f"{core} ({region})"
            else:
                name = core
            if r.random() < 0.85:
                name = f"{name} {r.choice(EN_FORMS) if r.random() < 0.3 else c['en_form']}"
            if c["branch"]:
                name = f"{name} {c['city_py']} Branch"
            if r.random() < 0.06:
                name = _typo_latin(r, name)
            case = r.random()
            name = name.upper() if case < 0.3 else name.lower() if case < 0.4 else name
            if r.random() < 0.05:
                name = _full_width(name)
            return name
        brand = c["brand_zh"]
        if r.random() < 0.06:
            brand = _typo_han(r, brand)
        core = brand + c["industry_zh"]
        form = c["zh_form"] if r.random() < 0.8 else r.choice(ZH_FORMS)
        city_short = c["city"].removesuffix("市")
        roll = r.random()
        if roll < 0.45:
            name = c["city"] + core + form
        elif roll < 0.55:
            name = city_short + core + form
        elif roll < 0.62:
            name = c["province"] + c["city"] + core + form if c["province"] != c["city"] else c["city"] + core + form
        elif roll < 0.72:
            name = core + ("（" if r.random() < 0.5 else "(") + city_short + ("）" if r.random() < 0.5 else ")") + form
        elif roll < 0.82:
            name = core + form  # region dropped
        else:
            name = core if r.random() < 0.5 else city_short + core  # web search: no legal form
        if c["branch"]:
            head = c["head_city"] if r.random() < 0.6 else ""
            name = f"{head}{core}{c['zh_form']}{c['city'].removesuffix('市')}分公司"
        if r.random() < 0.08:
            name = self._s2t.convert(name)
        if r.random() < 0.03:
            name = " " + name + " "
        return name

    def phone(self, c: dict, english: bool) -> str:
        r = self.rng
        if r.random() < 0.7:
            area, sub = c["area"], c["landline"]
            a = area[1:]
            return r.choice([
                f"{area}-{sub}", f"{area}-{sub}", f"({area}){sub[:4]} {sub[4:]}", f"+86 {a} {sub[:4]} {sub[4:]}",
                f"86-{a}-{sub}", f"{area}{sub}", f"{area} {sub[:4]} {sub[4:]}", f"+86-{a}-{sub}",
                f"{area}-{sub} / {c['mobile']}",
            ] + ([f"+86 {a} {sub}"] * 2 if english else []))
        m = c["mobile"]
        return r.choice([m, m, f"{m[:3]} {m[3:7]} {m[7:]}", f"{m[:3]}-{m[3:7]}-{m[7:]}", f"+86 {m}", f"+86-{m}",
                         f"0086 {m}"])

    def website(self, c: dict) -> str | None:
        d = c["domain"]
        if d is None:
            return None
        r = self.rng
        site = r.choice([f"www.{d}", f"http://www.{d}", f"https://www.{d}/", d, f"http://{d}/", f"www.{d}/en/index.html",
                         f"https://www.{d}/about-us", f"HTTP://WWW.{d.upper()}"])
        return site

    def email(self, c: dict) -> str:
        r = self.rng
        if c["domain"] and r.random() < 0.65:
            return f"{c['contact']}@{c['domain']}" if r.random() < 0.8 else f"{r.choice(['sales', 'info'])}@{c['domain']}"
        return c["free_mail"]

    def uscc(self, c: dict) -> str:
        code = c["uscc"]
        r = self.rng.random()
        if r < 0.03:  # one character mistyped: the check character no longer fits
            i = self.rng.randrange(17)
            new = self.rng.choice([ch for ch in USCC_ALPHABET if ch != code[i]])
            return code[:i] + new + code[i + 1:]
        if r < 0.04:
            return code[:-1]  # truncated
        if r < 0.08:
            return f"{code[:6]} {code[6:12]} {code[12:]}"
        return code

    def records(self, company: dict) -> list[dict]:
        r = self.rng
        count = r.choices([k for k, _ in RECORDS_PER_COMPANY], [p for _, p in RECORDS_PER_COMPANY])[0]
        kinds = list(SOURCES)
        weights = [SOURCES[k]["weight"] for k in kinds]
        out = []
        for _ in range(count):
            kind = r.choices(kinds, weights)[0]
            prof = SOURCES[kind]
            english = r.random() < prof["english"]
            row = {
                "company_name": self.name(company, english),
                "website": self.website(company) if r.random() < prof["website"] else None,
                "phone": self.phone(company, english) if r.random() < prof["phone"] else None,
                "email": self.email(company) if r.random() < prof["email"] else None,
                "address": company["address"] if r.random() < prof["address"] and not english else None,
                "city": (company["city_py"] if english else r.choice([company["city"], company["city"].removesuffix("市")]))
                if r.random() < prof["city"] else None,
                "province": company["province"] if kind == "association" and r.random() < 0.5 else None,
                "country": ("China" if english else "中国") if r.random() < 0.5 else None,
                "uscc": self.uscc(company) if r.random() < prof["uscc"] else None,
                "source": kind,
                "true_id": company["id"],
            }
            out.append(row)
        return out


CITY_NAMES = [c[1] for c in CITIES]


def _brand_of(company: dict) -> list[tuple[str, str]]:
    pinyin = dict(BRAND_CHARS)
    return [(ch, pinyin[ch]) for ch in company["brand_zh"]]


def _syllables(company: dict) -> list[str]:
    pinyin = dict(BRAND_CHARS)
    return [pinyin[ch] for ch in company["brand_zh"]]


def _typo_latin(rng: random.Random, text: str) -> str:
    letters = [i for i, ch in enumerate(text) if ch.isalpha()]
    i = rng.choice(letters[1:]) if len(letters) > 1 else letters[0]
    op = rng.random()
    if op < 0.4:
        return text[:i] + rng.choice(string.ascii_lowercase) + text[i + 1:]
    if op < 0.7:
        return text[:i] + text[i + 1:]
    if op < 0.85 and i + 1 < len(text):
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    return text[:i] + text[i] + text[i:]


def _typo_han(rng: random.Random, brand: str) -> str:
    i = rng.randrange(len(brand))
    return brand[:i] + rng.choice(TYPO_CHARS) + brand[i + 1:]


def _full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else "\u3000" if ch == " " else ch for ch in text)


def generate(companies: int, seed: int = 7) -> pd.DataFrame:
    """Records of `companies` companies (about 1.4 each), shuffled, with the truth in `true_id`."""
    gen = Generator(seed)
    firms = gen.companies(companies)
    rows = [row for firm in firms for row in gen.records(firm)]
    frame = pd.DataFrame(rows)
    order = list(range(len(frame)))
    gen.rng.shuffle(order)
    return frame.iloc[order].reset_index(drop=True)


def parse_size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    factor = 1_000_000 if text.endswith("m") else 1_000 if text.endswith("k") else 1
    return int(float(text.rstrip("mk")) * factor)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", default="10k", help="number of companies: 10000, 10k, 1m …")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("-o", "--output", type=Path, required=True, help="CSV to write")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    frame = generate(parse_size(args.companies), args.seed)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.output, index=False)
    print(f"{frame['true_id'].nunique()} companies, {len(frame)} records → {args.output} "
          f"in {time.perf_counter() - started:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
