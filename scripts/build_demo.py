"""Regenerate the bundled offline demo (leadrank/demo) from one table of fictional companies.

The demo is what `make run` loads: an exhibition exhibitor list over three HTML pages, a Chinese
association member table, a SearXNG-shaped web-search result set, a financial statements file
and a CRM outcomes file. Companies appear in several sources under different spellings, and
truth.csv says which source rows are which company, so tests can check deduplication.
Run: python scripts/build_demo.py  (deterministic; the output is committed).
"""

from __future__ import annotations

import csv
import html
import json
import random
from pathlib import Path

from leadrank.extractors.websearch import name_from_title
from leadrank.transform.identifiers import ALPHABET, check_character

OUT = Path(__file__).resolve().parents[1] / "leadrank" / "demo"
rng = random.Random(20261126)

# id, Chinese name, English name, city code, area code, domain, kind, industry
COMPANIES = [
    ("C01", "深圳市华强电子有限公司", "Shenzhen Huaqiang Electronics Co., Ltd.", "440300", "0755", "hqdz-demo.com", "maker", "电子设备"),
    ("C02", "广州市白云文具股份有限公司", "Guangzhou Baiyun Stationery Co., Ltd.", "440100", "020", "byws-demo.cn", "maker", "文具"),
    ("C03", "上海浦江办公设备有限公司", "Shanghai Pujiang Office Equipment Co., Ltd.", "310000", "021", "pjoffice-demo.com", "maker", "办公设备"),
    ("C04", "杭州西湖纸业有限公司", "Hangzhou Xihu Paper Co., Ltd.", "330100", "0571", "xhpaper-demo.com", "maker", "造纸"),
    ("C05", "宁波甬城耗材科技有限公司", "Ningbo Yongcheng Consumables Technology Co., Ltd.", "330200", "0574", "yctoner-demo.com", "maker", "打印耗材"),
    ("C06", "东莞市联胜包装制品有限公司", "Dongguan Liansheng Packaging Products Co., Ltd.", "441900", "0769", "lspack-demo.com", "maker", "包装"),
    ("C07", "苏州工业园区精密仪器有限公司", "Suzhou Precision Instruments Co., Ltd.", "320500", "0512", "szpi-demo.com", "maker", "仪器仪表"),
    ("C08", "北京中关村数码科技有限公司", "Beijing Zhongguancun Digital Technology Co., Ltd.", "110000", "010", "zgcdigital-demo.com", "maker", "电子设备"),
    ("C09", "厦门鹭岛笔业有限公司", "Xiamen Ludao Pen Co., Ltd.", "350200", "0592", "ludaopen-demo.com", "maker", "文具"),
    ("C10", "温州瓯江文化用品有限公司", "Wenzhou Oujiang Cultural Supplies Co., Ltd.", "330300", "0577", "ojwh-demo.com", "maker", "文具"),
    ("C11", "深圳市南山商业银行股份有限公司", "Shenzhen Nanshan Commercial Bank Co., Ltd.", "440300", "0755", "nsbank-demo.com", "bank", "银行"),
    ("C12", "江苏长江证券股份有限公司", "Jiangsu Changjiang Securities Co., Ltd.", "320100", "025", "cjsec-demo.com", "bank", "证券"),
    ("C13", "浙江钱塘基金管理有限公司", "Zhejiang Qiantang Fund Management Co., Ltd.", "330100", "0571", "qtfund-demo.com", "bank", "基金"),
    ("C14", "广东粤海保险股份有限公司", "Guangdong Yuehai Insurance Co., Ltd.", "440100", "020", "yhins-demo.com", "bank", "保险"),
    ("C15", "成都天府通信技术有限公司", "Chengdu Tianfu Telecom Technology Co., Ltd.", "510100", "028", "tftelecom-demo.com", "telecom", "通信"),
    ("C16", "武汉光谷移动通信有限公司", "Wuhan Optics Valley Mobile Communications Co., Ltd.", "420100", "027", "ovmobile-demo.com", "telecom", "通信"),
    ("C17", "重庆山城超市连锁有限公司", "Chongqing Shancheng Supermarket Chain Co., Ltd.", "500000", "023", "scmart-demo.com", "retail", "零售"),
    ("C18", "南京金陵百货股份有限公司", "Nanjing Jinling Department Store Co., Ltd.", "320100", "025", "jlstore-demo.com", "retail", "零售"),
    ("C19", "义乌小商品批发贸易有限公司", "Yiwu Small Commodities Wholesale Trading Co., Ltd.", "330700", "0579", "ywtrade-demo.com", "wholesale", "批发"),
    ("C20", "天津滨海新区管理委员会", "Tianjin Binhai New Area Administrative Committee", "120000", "022", "bhxq-demo.gov.cn", "gov", "政府"),
    ("C21", "青岛海洋大学", "Qingdao Ocean University", "370200", "0532", "qdou-demo.edu.cn", "gov", "教育"),
    ("C22", "西安古城人民医院", "Xi'an Gucheng People's Hospital", "610100", "029", "gchospital-demo.cn", "gov", "医疗"),
    ("C23", "长沙湘江机械集团有限公司", "Changsha Xiangjiang Machinery Group Co., Ltd.", "430100", "0731", "xjmach-demo.com", "large", "机械制造"),
    ("C24", "郑州中原物流股份有限公司", "Zhengzhou Zhongyuan Logistics Co., Ltd.", "410100", "0371", "zylog-demo.com", "large", "物流"),
    ("C25", "合肥巢湖新能源科技股份有限公司", "Hefei Chaohu New Energy Technology Co., Ltd.", "340100", "0551", "chne-demo.com", "large", "新能源"),
    ("C26", "佛山市顺德家电有限公司", "Foshan Shunde Home Appliances Co., Ltd.", "440600", "0757", "sdhome-demo.com", "maker", "家电"),
    ("C27", "珠海横琴软件有限公司", "Zhuhai Hengqin Software Co., Ltd.", "440400", "0756", "hqsoft-demo.com", "sme", "软件"),
    ("C28", "无锡太湖印刷有限公司", "Wuxi Taihu Printing Co., Ltd.", "320200", "0510", "thprint-demo.com", "maker", "印刷"),
    ("C29", "大连海港贸易有限公司", "Dalian Harbour Trading Co., Ltd.", "210200", "0411", "dlharbour-demo.com", "wholesale", "贸易"),
    ("C30", "昆明春城文化传播有限公司", "Kunming Chuncheng Culture Media Co., Ltd.", "530100", "0871", "cccm-demo.com", "sme", "传媒"),
    ("C31", "Müller Bürotechnik GmbH", "Müller Bürotechnik GmbH", "", "", "mueller-buero-demo.de", "foreign", "Office equipment"),
    ("C32", "Nordic Paper Solutions AB", "Nordic Paper Solutions AB", "", "", "nordicpaper-demo.se", "foreign", "Paper"),
    ("C33", "福州闽江电子科技有限公司", "Fuzhou Minjiang Electronic Technology Co., Ltd.", "350100", "0591", "mjdz-demo.com", "maker", "电子设备"),
    ("C34", "济南泉城办公家具有限公司", "Jinan Quancheng Office Furniture Co., Ltd.", "370100", "0531", "qcfurniture-demo.com", "maker", "家具"),
    ("C35", "沈阳盛京重工股份有限公司", "Shenyang Shengjing Heavy Industry Co., Ltd.", "210100", "024", "sjheavy-demo.com", "large", "机械制造"),
    ("C36", "南宁绿城商贸有限公司", "Nanning Lvcheng Commerce and Trade Co., Ltd.", "450100", "0771", "lccommerce-demo.com", "wholesale", "商贸"),
]
CITY_ADDRESS = {
    "440300": "广东省深圳市福田区华强北路", "440100": "广东省广州市天河区天河路", "310000": "上海市浦东新区世纪大道",
    "330100": "浙江省杭州市西湖区文三路", "330200": "浙江省宁波市鄞州区天童路", "441900": "广东省东莞市南城区鸿福路",
    "320500": "江苏省苏州市工业园区星湖街", "110000": "北京市海淀区中关村大街", "350200": "福建省厦门市思明区湖滨南路",
    "330300": "浙江省温州市鹿城区车站大道", "320100": "江苏省南京市鼓楼区中山路", "510100": "四川省成都市高新区天府大道",
    "420100": "湖北省武汉市洪山区光谷大道", "500000": "重庆市渝中区解放碑", "330700": "浙江省金华市义乌市国际商贸城",
    "120000": "天津市滨海新区新港路", "370200": "山东省青岛市崂山区松岭路", "610100": "陕西省西安市碑林区南大街",
    "430100": "湖南省长沙市岳麓区麓谷大道", "410100": "河南省郑州市金水区花园路", "340100": "安徽省合肥市蜀山区长江西路",
    "440600": "广东省佛山市顺德区大良街道", "440400": "广东省珠海市横琴新区环岛东路", "320200": "江苏省无锡市滨湖区太湖大道",
    "210200": "辽宁省大连市中山区港湾街", "530100": "云南省昆明市五华区东风西路", "350100": "福建省福州市鼓楼区五四路",
    "370100": "山东省济南市历下区泉城路", "210100": "辽宁省沈阳市沈河区青年大街", "450100": "广西壮族自治区南宁市青秀区民族大道",
}


def uscc(area: str) -> str:
    body = "91" + area + "".join(rng.choice(ALPHABET) for _ in range(9))
    return body + check_character(body)


def build_companies() -> list[dict[str, str]]:
    out = []
    for cid, zh, en, area, tel, domain, kind, industry in COMPANIES:
        number = f"{rng.randint(2, 8)}{rng.randint(0, 9999999):07d}"
        out.append({
            "id": cid, "zh": zh, "en": en, "area": area, "tel": tel, "domain": domain, "kind": kind,
            "industry": industry, "uscc": uscc(area) if area else "",
            "phone": f"{tel}-{number}" if tel else ("+49 89 1234567" if domain.endswith(".de") else "+46 8 555 0123"),
            "address": (CITY_ADDRESS[area] + f"{rng.randint(1, 300)}号") if area else
            ("Leopoldstraße 10, 80802 München" if domain.endswith(".de") else "Sveavägen 20, 111 57 Stockholm"),
            "email": f"sales@{domain}",
        })
    return out


def phone_variant(phone: str) -> str:
    """The same number as another source would print it."""
    if not phone.startswith("0"):
        return phone
    area, number = phone.split("-")
    return f"+86 {area[1:]} {number[:4]} {number[4:]}"


def write_expo(companies: list[dict[str, str]], truth: list[tuple[str, str, str]]) -> None:
    chosen = [c for c in companies if c["kind"] in {"maker", "foreign", "large"}]
    chosen += [companies[14], companies[16]]  # a telecom and a retail chain visit the expo too
    pages = [chosen[i:i + 8] for i in range(0, len(chosen), 8)]
    for number, page in enumerate(pages, 1):
        items = []
        for c in page:
            name = c["en"].upper() if number % 2 else c["en"]
            if c["id"] == "C07":
                name = "Suzhou Precision Instruments Co.,Ltd"
            hall = rng.choice(["1", "2", "3"])
            items.append(f"""    <div class="exhibitor">
      <h3 class="name">{html.escape(name)}</h3>
      <p class="alias">{html.escape(c['zh']) if c['kind'] != 'foreign' else ''}</p>
      <span class="booth">{hall}{chr(65 + rng.randint(0, 5))}{rng.randint(1, 60):02d}</span>
      <span class="hall">Hall {hall}</span>
      <p class="addr">{html.escape(c['address'])}</p>
      <p class="country">{'China 中国 (CN)' if c['area'] else ('Germany (DE)' if c['domain'].endswith('.de') else 'Sweden (SE)')}</p>
      <a class="web" href="https://www.{c['domain']}/">www.{c['domain']}</a>
      <span class="tel">{html.escape(phone_variant(c['phone']))}</span>
      <span class="mail">{c['email']}</span>
      <p class="products">{html.escape(c['industry'])}</p>
    </div>""")
            truth.append(("demo-expo", name, c["id"]))
        nav = f'<a class="next" href="exhibitors-{number + 1}.html">Next »</a>' if number < len(pages) else ""
        (OUT / "expo" / f"exhibitors-{number}.html").write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CIOSE 2026 exhibitors — page {number}</title></head>
<body>
  <h1>China International Office Supplies Expo 2026 — Exhibitor list</h1>
  <div class="list">
{chr(10).join(items)}
  </div>
  <nav class="pager"><a href="javascript:void(0)">Top</a> {nav}</nav>
</body></html>
""", encoding="utf-8")


def write_association(companies: list[dict[str, str]], truth: list[tuple[str, str, str]]) -> None:
    members = [c for c in companies if c["kind"] in {"maker", "bank", "gov", "retail", "wholesale"} and c["area"]][:22]
    rows = []
    levels = ["理事单位", "会员单位", "副会长单位", "会员单位"]
    for n, c in enumerate(members, 1):
        name = c["zh"]
        if c["id"] == "C02":
            name = "廣州市白雲文具股份有限公司"  # traditional characters
        if c["id"] == "C05":
            name = "宁波甬城耗材科技有限公司（宁波）"
        code = c["uscc"]
        if c["id"] == "C09":
            code = code[:-1] + ("0" if code[-1] != "0" else "1")  # a typo in the check character
        site = f"http://{c['domain']}" if n % 3 else ""
        rows.append(f"""    <tr>
      <td>{n}</td><td>{html.escape(name)}</td><td>{levels[n % 4]}</td><td>{code}</td>
      <td>{f'<a href="{site}">{site}</a>' if site else ''}</td><td>{html.escape(c['address'])}</td><td>{c['phone']}</td>
    </tr>""")
        truth.append(("demo-assoc", name, c["id"]))
    (OUT / "association" / "members.html").write_text(f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>中国办公用品行业协会 会员名录</title></head>
<body>
<h2>会员名录</h2>
<table class="members">
  <tr><th>序号</th><th>单位名称</th><th>会员级别</th><th>统一社会信用代码</th><th>网址</th><th>联系地址</th><th>电话</th></tr>
{chr(10).join(rows)}
  <tr><td>{len(members) + 1}</td><td></td><td>会员单位</td><td></td><td></td><td>地址不详</td><td></td></tr>
</table>
</body></html>
""", encoding="utf-8")


def write_search(companies: list[dict[str, str]], truth: list[tuple[str, str, str]]) -> None:
    picks = [companies[i] for i in (0, 10, 14, 15, 19, 22, 26, 29, 35, 11)]
    results = []
    for c in picks:
        short = c["zh"]
        for prefix in ("深圳市", "广州市", "上海", "成都", "武汉", "天津", "长沙", "珠海", "昆明", "南宁", "江苏"):
            short = short.removeprefix(prefix)
        short = short.replace("有限公司", "").replace("股份", "")
        city = c["zh"][:2]
        title = {"C01": "华强电子 (深圳) - 官网", "C12": "长江证券-专业的证券服务商"}.get(c["id"], f"{c['zh']} - 官方网站")
        results.append({"url": f"https://www.{c['domain']}/index.html", "title": title,
                        "content": f"{short}位于{city}，主营{c['industry']}。联系电话 {c['phone']}", "engine": "bing",
                        "parsed_url": ["https", f"www.{c['domain']}", "/index.html", "", "", ""], "score": 1.0})
        truth.append(("demo-search", name_from_title(title), c["id"]))
    results.insert(3, {"url": "https://baike.baidu.com/item/办公用品", "title": "办公用品_百度百科", "content": "百科",
                       "engine": "baidu", "score": 0.5})
    results.insert(6, {"url": "https://www.zhihu.com/question/1", "title": "大客户采购办公用品有哪些渠道? - 知乎",
                       "content": "问答", "engine": "bing", "score": 0.4})
    payload = {"query": "办公用品 采购", "number_of_results": len(results), "results": results, "answers": [],
               "corrections": [], "infoboxes": [], "suggestions": [], "unresponsive_engines": []}
    (OUT / "search" / "searxng.json").write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")


def write_financials(companies: list[dict[str, str]]) -> None:
    rows = []
    for c in companies:
        if c["kind"] in {"gov", "foreign", "sme"}:
            continue
        total = rng.uniform(5e4, 5e6)  # 万元
        bank = c["kind"] == "bank"
        revenue = total * rng.uniform(0.05, 0.2) if bank else total * rng.uniform(0.4, 1.5)
        margin = rng.uniform(-0.05, 0.18) if c["id"] not in {"C24"} else -0.08
        row = {
            "统一社会信用代码": c["uscc"], "公司名称": c["zh"], "行业": c["industry"] if not bank else "金融", "年度": 2025,
            "资产总计": round(total, 1), "流动资产合计": round(total * rng.uniform(0.2, 0.9), 1),
            "营业收入": round(revenue, 1), "营业成本": round(revenue * rng.uniform(0.55, 0.9), 1) if not bank else "",
            "净利润": round(revenue * margin, 1), "应收账款": round(revenue * rng.uniform(0.03, 0.6), 1) if not bank else "",
            "存货": round(revenue * rng.uniform(0.05, 0.3), 1) if not bank else "",
            "上年营业收入": round(revenue / rng.uniform(0.85, 1.3), 1),
        }
        rows.append(row)
    rows[5]["净利润"] = "未披露"  # text where a number belongs: reported, not fatal
    with (OUT / "financials" / "statements.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_outcomes(companies: list[dict[str, str]], listed: set[str]) -> None:
    """A CRM history: the bigger and healthier buyers tended to be won."""
    rows = []
    companies = [c for c in companies if c["id"] in listed]
    owners = ["王磊", "李娜", "张伟", "刘洋"]
    won_kinds = {"bank", "telecom", "large", "gov"}
    for n, c in enumerate(companies):
        if c["kind"] == "foreign":
            continue
        won = (c["kind"] in won_kinds) != (n % 7 == 0)
        word = rng.choice(["won", "成交"]) if won else rng.choice(["lost", "丢单"])
        month = 1 + n % 10
        date = [f"2026-{month:02d}-{10 + n % 15}", f"2026/{month}/{3 + n % 20}", f"2026年{month}月{1 + n % 27}日"][n % 3]
        ref = {"公司名称": c["zh"], "统一社会信用代码": c["uscc"] if n % 2 else ""}
        rows.append({**ref, "结果": word, "日期": date, "负责人": owners[n % 4]})
    rows.append({"公司名称": "不存在科技有限公司", "统一社会信用代码": "", "结果": "成交", "日期": "2026-05-01", "负责人": "王磊"})
    with (OUT / "crm" / "outcomes.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    for sub in ("expo", "association", "search", "financials", "crm"):
        (OUT / sub).mkdir(parents=True, exist_ok=True)
    companies = build_companies()
    truth: list[tuple[str, str, str]] = []
    write_expo(companies, truth)
    write_association(companies, truth)
    write_search(companies, truth)
    write_financials(companies)
    write_outcomes(companies, {t[2] for t in truth})
    with (OUT / "truth.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source", "company_name", "company_id"])
        writer.writerows(truth)
    print(f"{len(truth)} source rows of {len({t[2] for t in truth})} companies written to {OUT}")


if __name__ == "__main__":
    main()
