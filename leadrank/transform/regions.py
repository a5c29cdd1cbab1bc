"""Chinese administrative regions: provinces and prefecture-level cities, in full, short and
pinyin forms, from the national division codes that the cpca package bundles.

Company names start with regions (深圳市华强电子有限公司, 广东省…, SHENZHEN HUAQIANG …) or carry
them in brackets (华强电子(深圳)有限公司). Those regions are data, not noise: they are parsed into
province and city, and removed from the core name that names are compared on.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "自治州", "地区", "省", "市", "盟")
_ETHNIC = re.compile(r"(蒙古族|藏族|回族|苗族|彝族|壮族|布依族|朝鲜族|满族|侗族|瑶族|白族|土家族|哈尼族|哈萨克族|傣族|黎族|傈僳族|佤族|畲族|拉祜族|水族|东乡族|纳西族|景颇族|柯尔克孜族|土族|达斡尔族|仫佬族|羌族|布朗族|撒拉族|毛南族|仡佬族|锡伯族|阿昌族|普米族|塔吉克族|怒族|乌孜别克族|俄罗斯族|鄂温克族|德昂族|保安族|裕固族|京族|塔塔尔族|独龙族|鄂伦春族|赫哲族|门巴族|珞巴族|基诺族)+$")

# Pinyin of provinces and of the cities that appear in English company names.
PINYIN = {
    "beijing": "北京市", "shanghai": "上海市", "tianjin": "天津市", "chongqing": "重庆市",
    "guangdong": "广东省", "jiangsu": "江苏省", "zhejiang": "浙江省", "shandong": "山东省",
    "henan": "河南省", "hebei": "河北省", "hubei": "湖北省", "hunan": "湖南省", "sichuan": "四川省",
    "fujian": "福建省", "anhui": "安徽省", "jiangxi": "江西省", "liaoning": "辽宁省", "jilin": "吉林省",
    "heilongjiang": "黑龙江省", "shanxi": "山西省", "shaanxi": "陕西省", "yunnan": "云南省",
    "guizhou": "贵州省", "guangxi": "广西壮族自治区", "hainan": "海南省", "gansu": "甘肃省",
    "qinghai": "青海省", "ningxia": "宁夏回族自治区", "xinjiang": "新疆维吾尔自治区",
    "tibet": "西藏自治区", "xizang": "西藏自治区", "inner mongolia": "内蒙古自治区",
    "shenzhen": "深圳市", "guangzhou": "广州市", "hangzhou": "杭州市", "nanjing": "南京市",
    "suzhou": "苏州市", "wuhan": "武汉市", "chengdu": "成都市", "xian": "西安市", "xi'an": "西安市",
    "qingdao": "青岛市", "dalian": "大连市", "xiamen": "厦门市", "ningbo": "宁波市", "zhuhai": "珠海市",
    "dongguan": "东莞市", "foshan": "佛山市", "wuxi": "无锡市", "changzhou": "常州市",
    "changsha": "长沙市", "zhengzhou": "郑州市", "jinan": "济南市", "harbin": "哈尔滨市",
    "shenyang": "沈阳市", "changchun": "长春市", "fuzhou": "福州市", "hefei": "合肥市",
    "kunming": "昆明市", "nanning": "南宁市", "guiyang": "贵阳市", "lanzhou": "兰州市",
    "taiyuan": "太原市", "shijiazhuang": "石家庄市", "hohhot": "呼和浩特市", "urumqi": "乌鲁木齐市",
    "nanchang": "南昌市", "haikou": "海口市", "sanya": "三亚市", "yantai": "烟台市", "weifang": "潍坊市",
    "zibo": "淄博市", "shantou": "汕头市", "zhongshan": "中山市", "huizhou": "惠州市",
    "jiangmen": "江门市", "wenzhou": "温州市", "shaoxing": "绍兴市", "jiaxing": "嘉兴市",
    "jinhua": "金华市", "nantong": "南通市", "yangzhou": "扬州市", "xuzhou": "徐州市",
    "luoyang": "洛阳市", "baoding": "保定市", "tangshan": "唐山市", "mianyang": "绵阳市",
    "zhuzhou": "株洲市", "xiangtan": "湘潭市", "anshan": "鞍山市", "zhenjiang": "镇江市",
    "huzhou": "湖州市", "yancheng": "盐城市", "weihai": "威海市", "rizhao": "日照市", "linyi": "临沂市",
    "jining": "济宁市", "zhanjiang": "湛江市", "zhaoqing": "肇庆市", "quanzhou": "泉州市",
    "zhangzhou": "漳州市", "putian": "莆田市", "guilin": "桂林市", "liuzhou": "柳州市",
    "yichang": "宜昌市", "xiangyang": "襄阳市", "baotou": "包头市", "datong": "大同市",
    "handan": "邯郸市", "langfang": "廊坊市", "qinhuangdao": "秦皇岛市", "hongkong": "香港特别行政区",
    "hong kong": "香港特别行政区", "macau": "澳门特别行政区", "macao": "澳门特别行政区",
}


def short_name(full: str) -> str:
    """广东省 → 广东, 宁夏回族自治区 → 宁夏, 延边朝鲜族自治州 → 延边, 深圳市 → 深圳."""
    name = full
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            name = name[: -len(suffix)]
            break
    name = _ETHNIC.sub("", name) or name
    return name


def extract_where(text: pa.Array, pattern: str, groups: tuple[str, ...], where: np.ndarray | None = None
                  ) -> tuple[np.ndarray, list[pa.Array]]:
    """(mask of values matching `pattern`, each named group as a full-length column, '' where no
    match). Only values in `where` are tried; the cheap DFA match runs first and submatches are
    extracted only from the values that match."""
    n = len(text)
    rows = np.arange(n) if where is None else np.flatnonzero(where)
    blank = pa.nulls(n, pa.string()).fill_null("")
    mask = np.zeros(n, dtype=bool)
    if not len(rows):
        return mask, [blank for _ in groups]
    subset = text if where is None else text.take(pa.array(rows))
    hit = np.asarray(pc.match_substring_regex(subset, pattern), dtype=bool)
    if not hit.any():
        return mask, [blank for _ in groups]
    mask[rows[hit]] = True
    found = pc.extract_regex(subset.filter(pa.array(hit)), pattern)
    arrow_mask = pa.array(mask)
    return mask, [pc.replace_with_mask(blank, arrow_mask, found.field(g).fill_null("")) for g in groups]


def latin(text: pa.Array) -> np.ndarray:
    return np.asarray(pc.match_substring_regex(text, "[A-Za-z]"), dtype=bool)


class Regions:
    """Lookup tables: any form of a region name → (province, city) in full official form."""

    def __init__(self) -> None:
        table = pd.read_csv(resources.files("cpca") / "resources" / "adcodes.csv", dtype=str)
        table = table[table["adcode"].str.len() == 12]
        provinces = table[table["adcode"].str.endswith("0000000000")]
        cities = table[table["adcode"].str.match(r"^\d{4}00000000$") & ~table["adcode"].str.endswith("0000000000")]
        self.province_of_code = {code[:2]: name for code, name in zip(provinces["adcode"], provinces["name"], strict=True)}
        # name form → (province, city or None)
        self.lookup: dict[str, tuple[str, str | None]] = {}
        for name in provinces["name"]:
            municipality = name in {"北京市", "上海市", "天津市", "重庆市"}
            value = (name, name if municipality else None)
            self.lookup[name] = value
            self.lookup.setdefault(short_name(name), value)
        for code, name in zip(cities["adcode"], cities["name"], strict=True):
            if name in {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}:
                continue
            value = (self.province_of_code[code[:2]], name)
            self.lookup.setdefault(name, value)
            short = short_name(name)
            if len(short) >= 2:
                self.lookup.setdefault(short, value)
        for pinyin, name in PINYIN.items():
            self.lookup.setdefault(pinyin, self.lookup[name])
        forms = sorted((k for k in self.lookup if not k.isascii()), key=len, reverse=True)
        pinyin_forms = sorted(PINYIN, key=len, reverse=True)
        zh_alt = "|".join(map(re.escape, forms))
        en_alt = "|".join(map(re.escape, pinyin_forms))
        # The rules for whole columns (RE2 through Arrow), used by the *_array methods.
        self._zh_forms = forms
        self._longest_zh = max(len(f) for f in forms)
        # k-character beginnings of longer region names: which prefixes are worth extending.
        self._zh_stems = {k: pa.array(sorted({f[:k] for f in forms if len(f) > k}), pa.string())
                          for k in range(2, self._longest_zh + 1)}
        self._re2_en_prefix = r"(?i)^(?P<form>" + en_alt + r")\b(?P<rest>.*)$"
        self._re2_zh_suffix = r"^(?P<rest>.{2,}?)(?P<form>" + "|".join(map(re.escape, [f for f in forms if len(f) <= 8])) + r")$"
        self._re2_en_suffix = r"(?i)^(?P<rest>.{2,}?)[\s,]+(?P<form>" + en_alt + r")$"
        self._re2_bracketed = r"(?i)^(?P<a>.*?)\((?P<form>" + zh_alt + "|" + en_alt + r")\)(?P<b>.*)$"

    def resolve(self, text: str | None) -> tuple[str | None, str | None]:
        """(province, city) named by `text` as a whole (any form), else (None, None)."""
        if not text:
            return None, None
        key = text.strip()
        value = self.lookup.get(key) or self.lookup.get(key.lower())
        return value if value else (None, None)

    def _lookup_array(self, forms: pa.Array, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(province, city) object arrays for matched region forms (None where `mask` is False)."""
        n = len(forms)
        province = np.full(n, None, dtype=object)
        city = np.full(n, None, dtype=object)
        if not mask.any():
            return province, city
        keys = pc.utf8_lower(forms)
        table = pa.array(pc.unique(keys).to_pylist(), type=pa.string())
        found = [self.lookup.get(k) or self.lookup.get(k.lower()) or (None, None) for k in table.to_pylist()]
        index = np.asarray(pc.index_in(keys, table).fill_null(0))
        provinces = np.array([f[0] for f in found], dtype=object)
        cities = np.array([f[1] for f in found], dtype=object)
        province[mask] = provinces[index[mask]]
        city[mask] = cities[index[mask]]
        return province, city

    def strip_bracketed_array(self, names: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
        """Remove a bracketed region anywhere in each name (华强电子(深圳)有限公司):
        (names, province, city)."""
        found, (a, form, b) = extract_where(names, self._re2_bracketed, ("a", "form", "b"),
                                            where=np.asarray(pc.match_substring(names, "("), dtype=bool))
        rest = pc.utf8_trim_whitespace(pc.binary_join_element_wise(a, b, ""))
        mask = found & np.asarray(pc.greater_equal(pc.utf8_length(rest), 2))
        province, city = self._lookup_array(form, mask)
        return pc.if_else(pa.array(mask), rest, names), province, city

    def strip_suffix_array(self, names: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
        """Each name without a trailing region name, the branch's own city in "…有限公司深圳" or
        "Acme Inc. Shanghai": (names, province, city); unchanged when nothing would be left."""
        zh_mask, (zh_rest, zh_form) = extract_where(names, self._re2_zh_suffix, ("rest", "form"))
        en_mask, (en_rest, en_form) = extract_where(names, self._re2_en_suffix, ("rest", "form"), where=latin(names))
        en_mask &= ~zh_mask
        forms = pc.if_else(pa.array(zh_mask), zh_form, en_form)
        rest = pc.if_else(pa.array(zh_mask), zh_rest, en_rest)
        mask = zh_mask | en_mask
        province, city = self._lookup_array(forms, mask)
        return pc.if_else(pa.array(mask), rest, names), province, city

    def strip_prefix_array(self, names: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
        """Remove leading regions (province, then city) and bracketed ones from each company
        name: (rest, province, city), a prefix taken only when two characters are left after it.
        Chinese prefixes are found by looking up each value's first 8, 7, … 2 characters
        (longest first), pinyin ones by regex."""
        n = len(names)
        province = np.full(n, None, dtype=object)
        city = np.full(n, None, dtype=object)
        rest = names
        zh_forms = pa.array(self._zh_forms, pa.string())
        todo = np.ones(n, dtype=bool)
        for second in (False, True):  # 广东省深圳市… takes two passes (the second only where the first found one)
            length = np.asarray(pc.utf8_length(rest))
            size = np.zeros(n, dtype=np.int64)
            # Growing prefixes, keeping only rows whose prefix can still become a region name.
            candidates = np.flatnonzero(todo & (length >= 2))
            for k in range(2, self._longest_zh + 1):
                if not len(candidates):
                    break
                prefix = pc.utf8_slice_codeunits(rest.take(pa.array(candidates)), 0, k)
                hit = np.asarray(pc.is_in(prefix, value_set=zh_forms).fill_null(False), dtype=bool)
                size[candidates[hit & (length[candidates] >= k)]] = k
                longer = np.asarray(pc.is_in(prefix, value_set=self._zh_stems[k]).fill_null(False), dtype=bool)
                candidates = candidates[longer & (length[candidates] > k)]
            zh_mask = size > 0
            forms = pc.utf8_slice_codeunits(rest, 0, 0)
            after = rest
            for k in np.unique(size[zh_mask]):
                part = pa.array(size == k)
                forms = pc.if_else(part, pc.utf8_slice_codeunits(rest, 0, int(k)), forms)
                after = pc.if_else(part, pc.utf8_slice_codeunits(rest, int(k)), after)
            en_mask, (en_form, en_rest) = extract_where(rest, self._re2_en_prefix, ("form", "rest"), where=latin(rest))
            en_mask &= ~zh_mask
            forms = pc.if_else(pa.array(en_mask), en_form, forms)
            after = pc.if_else(pa.array(en_mask), en_rest, after)
            mask = (zh_mask | en_mask) & np.asarray(pc.greater_equal(pc.utf8_length(after), 2))
            if not mask.any():
                break
            prov, cty = self._lookup_array(forms, mask)
            if second:
                # A second region lies inside the first (广东省 then 深圳市). One that does not, or
                # that follows a city, is the trade name (字号): 上海市威海精密制造 is Weihai of
                # Shanghai, not a Shandong city's 精密制造, and 北京市朝阳… keeps 朝阳.
                mask &= pd.isna(city) & (prov == province)
                if not mask.any():
                    break
            province = np.where(pd.isna(province), prov, province)
            city = np.where(pd.isna(city), cty, city)
            rest = pc.if_else(pa.array(mask), pc.utf8_ltrim(after, " -,"), rest)
            todo = mask
        rest, prov, cty = self.strip_bracketed_array(rest)
        return rest, np.where(pd.isna(province), prov, province), np.where(pd.isna(city), cty, city)


@lru_cache(maxsize=1)
def regions() -> Regions:
    return Regions()
