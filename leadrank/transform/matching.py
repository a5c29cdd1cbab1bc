"""Candidate pairs and their match scores, computed for whole columns at once.

Blocking: records are compared only when they share a key: a valid 统一社会信用代码, a company
domain, a phone (E.164, or its last seven digits when a number lacks its area code), a company
email, a street address (house number and street), an exact core name, or a rare name word.
Keys shared by more than `max_block_size` records are never skipped (the largest duplicate
groups would go uncompared) but sub-blocked: each record meets only its neighbours in name
order (sorted neighbourhood), so a group switchboard or a portal domain costs n·window pairs.

Scoring: each kind of evidence adds log-odds points (ResolutionConfig.weights): agreement on
identifiers and names adds, conflict (two valid codes that differ, different cities, names that
disagree, different industries under one brand, a branch against its head office, legal forms no
one country uses both of) subtracts. `fellegi_sunter` can learn these weights from the data.
Chinese company names are 行政区划 + 字号 + 行业 + 组织形式; with the region and legal form already
parsed off, the industry word (电子, 科技, Trading …) is split from the trade name here, so that
华强电子 and 华强物流 — one brand, two companies — disagree instead of looking 50% alike. A shared
key never merges different companies by itself: a group website or a switchboard still needs the
names to agree, and names that disagree outweigh it.

Every array here is positional (row i of the frame); nothing loops over pairs in Python.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import pairwise

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import Stemmer
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from leadrank.config import ResolutionConfig
from leadrank.contracts import column_as_objects, is_arrow_text
from leadrank.key_lookup import text_ranks
from leadrank.memory import release_memory
from leadrank.sorted_sets import distinct_sorted
from leadrank.transform.legal_forms import countries_of_form, form_countries
from leadrank.transform.names import _countries, _strings, core_key_array, text_objects
from leadrank.transform.regions import extract_where

# Industry words (行业) that end Chinese trade names, with the English their English names use.
INDUSTRIES = [
    ("医疗器械", "medical equipment"), ("办公用品", "office supplies"), ("汽车配件", "auto parts"),
    ("信息技术", "information technology"), ("环保科技", "environmental technology"),
    ("精密制造", "precision manufacturing"), ("仪器仪表", "instruments"), ("生物科技", "biotechnology"),
    ("网络科技", "network technology"), ("文化传媒", "culture media"), ("电子科技", "electronic technology"),
    ("智能科技", "intelligent technology"), ("新材料", "new materials"), ("新能源", "new energy"),
    ("电子商务", "e-commerce"), ("供应链", "supply chain"), ("建筑工程", "construction engineering"),
    ("房地产", "real estate"), ("机电设备", "electromechanical equipment"), ("自动化", "automation"),
    ("电子", "electronics"), ("科技", "technology"), ("机械", "machinery"), ("贸易", "trading"),
    ("实业", "industrial"), ("化工", "chemical"), ("纺织", "textile"), ("食品", "food"), ("物流", "logistics"),
    ("建材", "building materials"), ("软件", "software"), ("光电", "optoelectronics"), ("包装", "packaging"),
    ("家具", "furniture"), ("印刷", "printing"), ("电气", "electric"), ("制药", "pharmaceutical"),
    ("服装", "garment"), ("塑胶", "plastics"), ("五金", "hardware"), ("照明", "lighting"),
    ("通信", "communication"), ("投资", "investment"), ("咨询", "consulting"), ("工程", "engineering"),
    ("建设", "construction"), ("能源", "energy"), ("农业", "agriculture"), ("材料", "materials"),
    ("电器", "electrical appliances"), ("电力", "electric power"), ("设备", "equipment"), ("技术", "technology"),
    ("医药", "pharmaceuticals"), ("环保", "environmental protection"), ("传媒", "media"), ("文化", "culture"),
    ("教育", "education"), ("置业", "property"), ("控股", "holdings"), ("商贸", "commerce"), ("钢铁", "steel"),
    ("水泥", "cement"), ("玻璃", "glass"), ("陶瓷", "ceramics"), ("橡胶", "rubber"), ("汽车", "automobile"),
    ("船舶", "shipbuilding"), ("航空", "aviation"), ("电缆", "cable"), ("电池", "battery"), ("仪器", "instrument"),
    ("装饰", "decoration"), ("广告", "advertising"), ("餐饮", "catering"), ("酒店", "hotel"),
]
# The English side spelled as name keys are (core_key: 'electronics' → 'electronic').
INDUSTRIES = list(zip([zh for zh, _ in INDUSTRIES],
                      core_key_array(pa.array([en for _, en in INDUSTRIES])).to_pylist(), strict=True))
ZH_INDUSTRIES = [zh for zh, _ in INDUSTRIES]
EN_INDUSTRIES = sorted({en for _, en in INDUSTRIES} | set(core_key_array(pa.array(
    ["international", "industries", "electrical", "pharma", "tech"])).to_pylist()), key=len, reverse=True)
_EN_OF = dict(INDUSTRIES)
_GENERIC_CORES = frozenset([*ZH_INDUSTRIES, *EN_INDUSTRIES])


class Flags(Mapping[str, np.ndarray]):
    """Per-pair yes/no evidence by name ('uscc', 'name=', 'city≠' …), read as bool arrays but
    kept as one bit per name in one uint32 per pair: as a dict of bool arrays the 25 flags of
    16M candidate pairs (1.4M records) weighed 0.4 GB, through scoring and clustering."""

    def __init__(self, names: tuple[str, ...], bits: np.ndarray) -> None:
        self.names, self.bits = names, bits

    @classmethod
    def pack(cls, flags: Mapping[str, np.ndarray]) -> Flags:
        if isinstance(flags, Flags):
            return flags
        names = tuple(flags)
        if len(names) > 32:
            raise ValueError(f"{len(names)} evidence flags do not fit 32 bits")
        n = len(next(iter(flags.values()))) if names else 0
        bits = np.zeros(n, dtype=np.uint32)
        for k, name in enumerate(names):
            bits |= np.asarray(flags[name], dtype=bool).astype(np.uint32) << np.uint32(k)
        return cls(names, bits)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.names:
            raise KeyError(name)
        return (self.bits & np.uint32(1 << self.names.index(name))) != 0

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def take(self, k: np.ndarray) -> Flags:
        return Flags(self.names, self.bits[k])

    @staticmethod
    def concat(parts: list[Flags]) -> Flags:
        return Flags(parts[0].names, np.concatenate([p.bits for p in parts]))


@dataclass
class Pairs:
    left: np.ndarray  # positional row numbers, left < right
    right: np.ndarray
    score: np.ndarray
    features: Flags  # per pair: which evidence agreed or conflicted (a dict of bool arrays is packed)
    name_sim: np.ndarray
    conflict: np.ndarray  # never in one cluster

    def __post_init__(self) -> None:
        self.features = Flags.pack(self.features)
        self.left, self.right = row_numbers(self.left), row_numbers(self.right)

    def __add__(self, other: Pairs) -> Pairs:
        total = Pairs(self.left, self.right, self.score, self.features, self.name_sim, self.conflict)
        total.extend(other)  # new arrays: `self` keeps its own
        return total

    def extend(self, other: Pairs) -> None:
        """Append `other`'s pairs in place, array by array, each old array let go as its longer
        copy is made: two copies of every array side by side cost ~0.5 GB at 1.4M records."""
        for name in ("left", "right", "score", "name_sim", "conflict"):
            setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))
        self.features = Flags.concat([self.features, other.features])

    def evidence(self, k: np.ndarray) -> list[str]:
        """Readable evidence of pairs `k`: 'uscc,phone,name~92,city≠'. Written once per distinct
        combination of flags and name similarity (thousands among the 1.2M matched records of
        1.4M, not one string per flag per pair: ~2 s) and shared by its pairs."""
        if not len(k):
            return []
        sim = self.name_sim[k].astype(np.int64)  # -1 (no names) to 100: eight bits beside the flags
        combos, inverse = np.unique(self.features.bits[k].astype(np.int64) << 8 | (sim + 1), return_inverse=True)
        texts = np.asarray([self._evidence_text(int(c) >> 8, (int(c) & 255) - 1) for c in combos], dtype=object)
        return texts[inverse.reshape(-1)].tolist()

    def _evidence_text(self, bits: int, sim: int) -> str:
        # '_…' flags are for the learned model, not shown; a domain conflict says nothing here.
        return ",".join(label + str(sim) if label in ("name~", "name≠") else label
                        for b, label in enumerate(self.features.names)
                        if bits >> b & 1 and label != "domain≠" and not label.startswith("_"))


def row_numbers(rows: np.ndarray) -> np.ndarray:
    """Positional row numbers as int32 (as int64 only past 2**31 rows): a pair's two ends are
    most of a pair's bytes, and clustering's copies of them (the matching edges, scipy's graph,
    which keeps int32 indices anyway) halve with them. Codes made from them (i·n + j) must be
    computed in int64: `.astype(np.int64)` first."""
    rows = np.asarray(rows)
    if rows.dtype == np.int32 or (len(rows) and int(rows.max()) >= 2**31 - 1):
        return rows
    return rows.astype(np.int32)


def _codes(values: pd.Series | np.ndarray) -> np.ndarray:
    """Integer code per row (-1 for missing), equal codes for equal values. Arrow-backed text
    (the incremental plan's keys) is encoded as it is, without a Python string per row."""
    if isinstance(values, pd.Series) and is_arrow_text(values):
        codes, _ = pd.factorize(values, use_na_sentinel=True)
    else:
        codes, _ = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    return codes.astype(np.int64)


def _arrow(values: np.ndarray) -> pa.Array:
    return _strings([v if isinstance(v, str) else "" for v in values])


_EN_INDUSTRY_TAIL = r"^(?P<brand>.+?) (?P<industry>" + "|".join(re.escape(w) for w in EN_INDUSTRIES) + r")$"


def _split_industry(cores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(trade name, industry in English) of each core name; industry '' when none is recognised.
    Chinese: the longest known industry word ending the name (looked up by suffix, 4 to 2
    characters); Latin: a known industry ending the name."""
    text = _arrow(cores)
    n = len(text)
    length = np.asarray(pc.utf8_length(text))
    size = np.zeros(n, dtype=np.int64)
    words = pa.array(ZH_INDUSTRIES, pa.string())
    for k in range(max(map(len, ZH_INDUSTRIES)), 1, -1):
        hit = np.asarray(pc.is_in(pc.utf8_slice_codeunits(text, -k), value_set=words), dtype=bool)
        size[hit & (size == 0) & (length > k)] = k
    brand = text
    industry = pa.nulls(n, pa.string()).fill_null("")
    for k in np.unique(size[size > 0]):
        part = pa.array(size == k)
        brand = pc.if_else(part, pc.utf8_slice_codeunits(text, 0, -int(k)), brand)
        industry = pc.if_else(part, pc.utf8_slice_codeunits(text, -int(k)), industry)
    latin = np.asarray(pc.and_(pc.string_is_ascii(text), pc.match_substring(text, " ")), dtype=bool) & (size == 0)
    found, (en_brand, en_industry) = extract_where(text, _EN_INDUSTRY_TAIL, ("brand", "industry"), where=latin)
    brand = pc.if_else(pa.array(found), en_brand, brand)
    industry = pc.if_else(pa.array(found), en_industry, industry)
    brand = text_objects(pc.utf8_trim_whitespace(brand))
    industry = text_objects(industry)
    zh = size > 0
    industry[zh] = [_EN_OF.get(w, w) for w in industry[zh]]
    return brand, industry


def _trade_names(cores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(trade name, industry in English, pinyin of the trade name) of each core name."""
    brand, industry = _split_industry(cores)
    return brand, industry, _per_distinct(brand, transliterate)


@lru_cache(maxsize=1)
def _pinyin_table() -> dict[int, str]:
    """Character → toneless pinyin (most common reading) for CJK unified ideographs."""
    from pypinyin.constants import PINYIN_DICT

    table = {}
    for code, readings in PINYIN_DICT.items():
        first = readings.split(",")[0]
        table[code] = unicodedata.normalize("NFKD", first).encode("ascii", "ignore").decode().replace("ü", "v")
    return table


def transliterate(brands: np.ndarray) -> np.ndarray:
    """Pinyin of Chinese trade names, spaces dropped from Latin ones: 华强 → huaqiang,
    'Hua Qiang' → huaqiang. English names of Chinese companies are mostly the pinyin of the
    trade name plus the industry in English, which is how the two languages meet."""
    text = "\x1f".join(b if isinstance(b, str) else "" for b in brands)
    out = text.translate(_pinyin_table()).replace(" ", "").replace("-", "").split("\x1f")
    return np.asarray(out, dtype=object)


def _phone_local(frame: pd.DataFrame) -> np.ndarray:
    """Last seven digits of every phone: the key of numbers written without their area code
    (the Chicago lists' 638-0773), which phonenumbers rightly refuses as invalid."""
    raw = _arrow(frame["phone"].to_numpy(dtype=object))
    first = pc.replace_substring_regex(raw, r"\s*(?:[/;,、，；]|或|\bor\b|\bext\b|x\d).*$", "")
    digits = pc.replace_substring_regex(first, r"\D", "")
    local = pc.utf8_slice_codeunits(digits, -7)
    ok = np.asarray(pc.greater_equal(pc.utf8_length(digits), 7), dtype=bool)
    out = text_objects(local)
    out[~ok] = None
    return out


def _street(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(site, street, house number, what follows the number without spaces) of each address. For Latin addresses the site is house number
    and street ('3449 w arthington' from '3449 W. Arthington Street'; '8938-40 S. Cottage Grove'
    is 8938; '2nd' is 2; Dr. Martin Luther King Jr. Drive is King); a Chinese address is its
    normalised whole. Two sites on one street a few doors apart are not counted as a conflict:
    sources disagree about house numbers of the same building."""
    text = _arrow(frame["address_norm"].to_numpy(dtype=object))
    text = pc.replace_substring_regex(text, r"\b(\d+) ?(?:st|nd|rd|th)\b", r"\1")
    text = pc.replace_substring_regex(text, r"\b(?:dr )?martin luther king(?: jr)?\b", "king")
    found = pc.extract_regex(
        text, r"^(?P<number>\d+)[a-z]?(?: \d{1,2})? (?P<street>(?:(?:n|s|e|w|ne|nw|se|sw) )?[a-z0-9]+)").flatten()
    latin = np.asarray(pc.match_substring_regex(text, "[a-z]"), dtype=bool)
    number = text_objects(found[0])
    street = text_objects(found[1])
    whole = text_objects(text)
    parsed = latin & ~pd.isna(street)
    site = np.where(parsed, _joined(number, " ", street), whole)
    site[(site == "") | pd.isna(site)] = None
    house = np.full(len(text), -1, dtype=np.int64)
    house[parsed] = [int(x[:9]) for x in number[parsed]]
    rest = pc.replace_substring_regex(pc.replace_substring_regex(text, r"^\d+[a-z]?(?: \d{1,2})? ", ""), " ", "")
    return site, np.where(parsed, street, None), house, text_objects(rest)


# The per-record keys that blocking and the population statistics read (strings, None when
# missing): what the incremental mode stores for every record (leadrank.transform.incremental).
KEY_COLUMNS = ["uscc", "domain", "phone", "phone_local", "email", "site", "core", "alt", "translit_key", "city",
               "country", "form", "zh"]
# Population statistics, one value per record: what a record's scores depend on beyond its own values.
STAT_COLUMNS = ["country_bits", "core_ambiguous", "core_form_ambiguous", "core_widespread", "translit_ambiguous",
                "translit_city_ambiguous", "domain_share", "phone_share", "site_share"]
# The key whose records each statistic but country_bits is computed over: a record's value depends
# only on the records carrying its value of that key (and on nothing when it has none), which
# lets the incremental mode recompute only the keys a changed record carries.
STAT_KEYS = {"core_ambiguous": "core", "core_form_ambiguous": "core", "core_widespread": "core",
             "translit_ambiguous": "translit_key", "translit_city_ambiguous": "translit_key",
             "domain_share": "domain", "phone_share": "phone", "site_share": "site"}


def population_stats(keys: pd.DataFrame, limit: int = 3) -> pd.DataFrame:
    """STAT_COLUMNS of every record of the population `keys` (KEY_COLUMNS). Each depends only on
    the records sharing one key, but for `country_bits`, which counts every record of a country:
    it is floored to half bits, so that a night's new records move it only where a country's
    share crosses a half-bit step (incremental resolution re-scores that country's records)."""
    n = len(keys)
    country, city = _codes(keys["country"]), _codes(keys["city"])
    core, translit, form = _codes(keys["core"]), _codes(keys["translit_key"]), _codes(keys["form"])
    # A name (or its pinyin) that several companies carry — the same core in two cities,
    # two trade names that sound alike — proves less on its own (term frequency, as in
    # Fellegi-Sunter): such a match needs a little more evidence.
    zh = keys["zh"].to_numpy(dtype=bool)
    # The name a key's users go by, in either language: the pinyin key's code, else the core's
    # after every pinyin key's (no core, one code). Codes, not joined strings: those were two
    # new strings per record at once, the dedupe's peak at 1.4M records.
    name_key = np.where(translit >= 0, translit, int(translit.max(initial=-1)) + 2 + core)
    return pd.DataFrame({
        "country_bits": country_bits(keys["country"]),
        "core_ambiguous": _ambiguous(core, city),
        # The name with its legal form: 'Atlas United Electronics D.A.C.' of Galway is not
        # ambiguous because an 'Atlas United Electronics S.A.' is in Lisbon.
        "core_form_ambiguous": _ambiguous(_both(core, form), city),
        # A name carried in three or more countries is a common one (namesakes), not one group's.
        "core_widespread": _ambiguous(core, country, at_least=3),
        "translit_ambiguous": _ambiguous(translit, np.where(zh, core, -1)),
        # Within the record's city: 'Yonghong Packaging' of Xiamen is not ambiguous because a
        # 永红包装 is in Shenzhen, only when two such Chinese names are in Xiamen.
        "translit_city_ambiguous": _ambiguous(_both(translit, city), np.where(zh, core, -1)),
        "domain_share": _share(_codes(keys["domain"]), name_key, limit),
        "phone_share": _share(_codes(keys["phone"]), name_key, limit),
        "site_share": _share(_codes(keys["site"]), name_key, limit),  # an office tower, a business centre
    }, index=range(n))


def country_bits(countries: pd.Series) -> np.ndarray:
    """Per record, what agreeing on its country says: log2(1/share of the population), floored to
    half bits, so that two Chinese records gain nothing from 'CN' while two Estonian exhibitors
    gain from 'EE'; 0 without a country."""
    country = _codes(countries)
    known = country[country >= 0]
    share = np.bincount(known, minlength=int(country.max()) + 1) / max(len(known), 1) if len(known) else np.ones(1)
    bits = np.floor(np.log2(1.0 / np.maximum(share, 1e-9)) * 2) / 2
    return np.where(country >= 0, bits[np.maximum(country, 0)], 0).astype(np.float32)


def _both(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One code per pair of codes (a, b), -1 where either is missing."""
    return np.where((a >= 0) & (b >= 0), a * (int(b.max(initial=-1)) + 1) + b, -1)


def _ambiguous(keys: np.ndarray, meaning: np.ndarray, at_least: int = 2) -> np.ndarray:
    """Rows whose key is carried by records of `at_least` different `meaning`s (cities, cores)."""
    ok = (keys >= 0) & (meaning >= 0)
    frame = pd.DataFrame({"key": keys[ok], "meaning": meaning[ok]})
    counts = frame.groupby("key")["meaning"].nunique()
    many = np.zeros(int(keys.max()) + 2 if len(keys) else 1, dtype=bool)
    many[counts.index[counts.to_numpy() >= at_least]] = True
    return many[np.where(keys >= 0, keys, -1)] & (keys >= 0)


def _share(codes: np.ndarray, name_key: np.ndarray, limit: int) -> np.ndarray:
    """Weight factor of each row's key: 1 while at most `limit` different companies (by name,
    in either language) use it, shrinking beyond: a group website or a business centre's
    switchboard is weak evidence of any one company."""
    ok = codes >= 0
    frame = pd.DataFrame({"key": codes[ok], "name": name_key[ok]})
    usage = frame.groupby("key")["name"].nunique()
    factor = np.ones(len(codes), dtype=np.float32)
    factor[ok] = np.minimum(1.0, limit / usage.reindex(codes[ok]).to_numpy(dtype=np.float32))
    return factor


def sort_order(keys: pd.DataFrame) -> np.ndarray:
    """Sorted-neighbourhood rank of each row (its position in name, city, country, website order,
    ties by row): values compared as text, so that any subset of the rows (one block's members,
    in record-key order) is ranked in the same relative order as the whole population."""
    ranks = [text_ranks(sortable_text(keys[c])) for c in ("domain", "country", "city", "core")]
    order = np.empty(len(keys), dtype=np.int64)
    order[np.lexsort(ranks)] = np.arange(len(keys))
    return order


def sortable_text(values: pd.Series) -> np.ndarray | pa.Array:
    """A key column for text_ranks, missing as '': Arrow text as Arrow, anything else as objects."""
    if is_arrow_text(values):
        return pc.fill_null(pa.array(values.array), "")
    return values.fillna("").to_numpy(dtype=object)


class Features:
    """The columns matching compares, each as integer codes (-1 = missing) or arrays.

    `stats` (STAT_COLUMNS for these rows) replaces the statistics of the frame itself: the
    incremental mode builds features for a part of the population with the whole one's. `keys`
    (KEY_COLUMNS as strings) serve the statistics, the sort order and the resolution state; a
    resolution that keeps no state drops them (None) before matching."""

    def __init__(self, frame: pd.DataFrame, limit: int = 3, stats: pd.DataFrame | None = None):
        frame = text_as_objects(frame)
        self.n = len(frame)
        valid = frame["uscc_valid"].to_numpy(dtype=bool)
        cores = _objects(frame["name_core"])
        self.core = cores
        self.alt = frame["name_alt_core"].to_numpy(dtype=object)
        # Independent column work, mostly in Arrow kernels and pandas' hashing (which release
        # the GIL): two threads.
        uscc = pd.Series(_objects(frame["uscc_norm"].where(valid, None)), dtype=object)
        with ThreadPoolExecutor(max_workers=2) as pool:
            jobs = {
                "industry": pool.submit(_trade_names, cores),
                "street": pool.submit(_street, frame),
                "core_names": pool.submit(Names, cores),
                "phone_local": pool.submit(_phone_local, frame),
                "alt_names": pool.submit(Names, self.alt),
                **{name: pool.submit(_codes, values) for name, values in {
                    "uscc": uscc, "domain": frame["domain"],
                    "phone": frame["phone_e164"], "email": frame["email_norm"], "core_code": cores,
                    "alt_code": self.alt}.items()},
            }
            done = {name: job.result() for name, job in jobs.items()}
        release_memory(self.n)  # the threads' garbage, before the codes and the keys are built
        self.uscc, self.domain, self.phone = done["uscc"], done["domain"], done["phone"]
        self.phone_local = _codes(done["phone_local"])
        self.has_e164 = frame["phone_e164"].notna().to_numpy()
        # The same mailbox is evidence even on free-mail (one contact's qq.com address); only the
        # shared free-mail *domain* says nothing, and domains are compared through `domain` alone.
        self.email = done["email"]
        site, street, self.house, self.street_run = done["street"]
        self.site = _codes(site)
        self.site_text = np.asarray([x if isinstance(x, str) else "" for x in site], dtype=object)
        self.street_text = np.asarray([x if isinstance(x, str) else "" for x in street], dtype=object)
        self.street = _codes(street)
        # Cities outside China keep their source's spelling: 'Toronto' and 'TORONTO' are one.
        city = pd.Series(_per_distinct(frame["city_norm"], _casefold), dtype=object)
        self.city = _codes(city)
        self.country = _codes(frame["country_iso2"])
        self.branch = frame["is_branch"].to_numpy(dtype=bool)
        self.branch_word = np.asarray(pd.Series(cores, dtype=object).str.contains(r"\bbranch\b", na=False), dtype=bool)
        self.form_bits = _form_bits(frame["legal_form"])
        form = frame["legal_form"].str.casefold()
        self.form = _codes(form)
        self.lang = _objects(frame["name_lang"].fillna(""))
        self.core_code, self.alt_code = done["core_code"], done["alt_code"]
        _, industry, self.translit = done["industry"]
        self.core_names, self.alt_names = done["core_names"], done["alt_names"]
        self.country_name = np.asarray(pd.Series(cores, dtype=object).isin(_countries()), dtype=bool)
        self.translit_names = Names(self.translit)
        self.industry = _codes(pd.Series(industry, dtype=object).replace("", None))
        self.industry_text = industry
        # A core that is an industry word alone ('office supplie', 精密制造: a name of a place and
        # an industry) names no company: it is inside every name of its industry.
        self.generic = np.asarray(pd.Series(cores, dtype=object).isin(_GENERIC_CORES), dtype=bool)
        # One key for both languages: pinyin of the trade name and the industry in English.
        key = pd.Series(_joined(self.translit, "|", industry), dtype=object)
        key = key.where(pd.Series(self.translit, dtype=object).str.len() >= 4, None)
        self.translit_key = _codes(key)
        self.keys = object_frame({
            "uscc": _none(uscc), "domain": _none(_objects(frame["domain"])), "phone": _none(_objects(frame["phone_e164"])),
            "phone_local": _none(done["phone_local"]), "email": _none(_objects(frame["email_norm"])), "site": _none(site),
            "core": _none(cores), "alt": _none(self.alt), "translit_key": _none(key), "city": _none(city),
            "country": _none(frame["country_iso2"]), "form": _none(form),
            "zh": self.lang == "zh"})
        release_memory(self.n)  # the threads' and Arrow's garbage, before the statistics' hash tables
        stats = population_stats(self.keys, limit) if stats is None else stats.reset_index(drop=True)
        self.country_bits = stats["country_bits"].to_numpy(dtype=np.float32)  # per row
        self.core_ambiguous = stats["core_ambiguous"].to_numpy(dtype=bool)
        self.core_form_ambiguous = stats["core_form_ambiguous"].to_numpy(dtype=bool)
        self.core_widespread = stats["core_widespread"].to_numpy(dtype=bool)
        self.translit_ambiguous = stats["translit_ambiguous"].to_numpy(dtype=bool)
        self.translit_city_ambiguous = stats["translit_city_ambiguous"].to_numpy(dtype=bool)
        self.domain_share = stats["domain_share"].to_numpy(dtype=np.float32)
        self.phone_share = stats["phone_share"].to_numpy(dtype=np.float32)
        self.site_share = stats["site_share"].to_numpy(dtype=np.float32)
        self.stats = stats
        # Sorted-neighbourhood order of large blocks: by name, then place, then website.
        self.order = sort_order(self.keys)


def text_as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its Arrow-backed text columns as Python objects, None for missing (one string
    per distinct value): what matching compares is Python strings. The dedupe step reads the
    matched columns as stored (Arrow text) and converts the rows it compares: all of them in a
    full resolution, only the re-resolved neighbourhood in an incremental one."""
    arrow = [c for c in frame.columns if is_arrow_text(frame[c])]
    if not arrow:
        return frame
    out = frame.copy(deep=False)
    for column in arrow:
        out[column] = column_as_objects(frame[column])
    return out


def object_frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """A frame of these arrays as they are: text stays Python objects (pandas would otherwise
    convert it to Arrow strings, and every later to_numpy back)."""
    return pd.DataFrame({name: pd.Series(values, dtype=object if np.asarray(values).dtype == object else None)
                         for name, values in columns.items()}, copy=False)


def _objects(column: pd.Series) -> np.ndarray:
    """`column.to_numpy(dtype=object)` with one Python string per distinct value: converted row
    by row, a million rows of Arrow text make a string object per row, and the features keep them."""
    if column.dtype == object or not pd.api.types.is_string_dtype(column.dtype):
        return column.to_numpy(dtype=object)
    out = text_objects(pa.array(column.array, type=pa.string()))
    out[pd.isna(out)] = column.dtype.na_value
    return out


def _per_distinct(values: np.ndarray | pd.Series, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """`fn` (object array → object array of the same length, element by element) of `values`,
    computed once per distinct value, the rows that carry one sharing its result: a string per
    distinct value instead of one per row. `fn` sees missing values as None."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    distinct = np.empty(len(uniques) + 1, dtype=object)  # the last, None: missing (code -1)
    distinct[:-1] = uniques
    return np.asarray(fn(distinct), dtype=object)[codes]


def _joined(a: np.ndarray, sep: str, b: np.ndarray) -> np.ndarray:
    """a + sep + b of each row (NaN where either is missing, as pandas gives), each distinct
    pair joined once and its string shared by the rows that carry that pair."""
    code_a, distinct_a = pd.factorize(np.asarray(a, dtype=object))
    code_b, distinct_b = pd.factorize(np.asarray(b, dtype=object))
    width = len(distinct_b) + 1
    code, pairs = pd.factorize((code_a + 1).astype(np.int64) * width + (code_b + 1))
    first = np.r_[np.nan, distinct_a].astype(object)[pairs // width]  # code 0: missing
    second = np.r_[np.nan, distinct_b].astype(object)[pairs % width]
    return (pd.Series(first, dtype=object) + sep + pd.Series(second, dtype=object)).to_numpy(dtype=object)[code]


def _casefold(values: np.ndarray) -> np.ndarray:
    return np.asarray([v.casefold() if isinstance(v, str) else None for v in values], dtype=object)


def _none(values: pd.Series | np.ndarray) -> np.ndarray:
    """Object values with None for every missing one (NaN included)."""
    out = np.asarray(values, dtype=object).copy()
    out[pd.isna(out)] = None
    return out


@lru_cache(maxsize=1)
def _form_country_index() -> dict[str, int]:
    """Bit of each country in `_form_bits` (74 countries: no two share a bit)."""
    return {c: k for k, c in enumerate(sorted(frozenset().union(*form_countries().values())))}


def _form_bits(forms: pd.Series) -> np.ndarray:
    """(n, 2) uint64 bit sets of the countries each record's legal form can come from (0: not
    known): two records whose sets do not meet cannot be one company ('Atlas Industries s.r.o.'
    / 'Atlas Industries Pty Ltd')."""
    codes, distinct = pd.factorize(forms.fillna("").to_numpy(dtype=object))
    sets = [countries_of_form(f) if f else frozenset() for f in distinct]
    index = _form_country_index()  # every country a known form has: the same bit in any frame
    bits = np.zeros((len(distinct), 2), dtype=np.uint64)
    for row, countries in enumerate(sets):
        for c in countries:
            k = index[c] % 128
            bits[row, k // 64] |= np.uint64(1) << np.uint64(k % 64)
    return bits[codes.reshape(-1)] if len(codes) else np.zeros((0, 2), dtype=np.uint64)


def _group_pairs(keys: np.ndarray, rows: np.ndarray, max_block: int, order: np.ndarray | None = None,
                 window: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of rows sharing a key (`_group_pair_parts`), all at once."""
    parts = list(_group_pair_parts(keys, rows, max_block, order, window))
    if not parts:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate([left for left, _ in parts]), np.concatenate([right for _, right in parts])


PART_ROWS = 1_000_000  # block members whose pairs are made at a time


def _group_pair_parts(keys: np.ndarray, rows: np.ndarray, max_block: int, order: np.ndarray | None = None,
                      window: int = 4) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pairs of rows sharing a key: every pair in blocks of 2..max_block rows; in larger blocks
    each row with its next `window` rows in `order` (sorted neighbourhood). No block is ever
    dropped: 167 records spelled "Akzo Nobel N.V." form a chain of neighbours that clustering
    joins, in n·window comparisons instead of n²/2, and records sorted by name, city and
    country put what differs at the chain's few seams, where the pair's own evidence decides.
    Given (left, right) for whole blocks of about PART_ROWS members at a time: the name-word
    block of 1.4M records held ~1.8 GB of pairs made all at once."""
    ok = keys >= 0
    keys, rows = keys[ok], rows[ok]
    order = rows if order is None else order[rows]
    sort = np.lexsort((rows, order, keys))
    keys, rows = keys[sort], rows[sort]
    if len(keys) < 2:
        return
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    sizes = np.diff(np.r_[starts, len(keys)])
    end = np.repeat(starts + sizes, sizes)
    large = np.repeat(sizes > max_block, sizes)
    paired = np.repeat(sizes >= 2, sizes)
    edges = np.r_[starts, len(keys)]  # parts cut at the first block start at or after each PART_ROWS
    bounds = np.unique(np.r_[edges[np.searchsorted(edges, np.arange(0, len(keys), PART_ROWS))], len(keys)])
    for a, b in pairwise(bounds.tolist()):
        idx = a + np.flatnonzero(paired[a:b])
        lefts, rights = [], []
        d = 1
        while len(idx):
            idx = idx[(idx + d < end[idx]) & ~(large[idx] & (d > window))]
            if not len(idx):
                break
            lefts.append(rows[idx])
            rights.append(rows[idx + d])
            d += 1
        if lefts:
            yield np.concatenate(lefts), np.concatenate(rights)


def _pair_codes(parts: Iterable[tuple[np.ndarray, np.ndarray]], n: int, distinct: bool = False) -> np.ndarray:
    """One code (i·n + j, i < j) per distinct pair of rows, self-pairs left out, sorted unless
    `distinct`: a million records' blocks hold tens of millions of pairs. With `distinct` (a key
    of one value per row: two rows share at most one block) there are no repeats to take out
    (that was ~8 s at 1.4M records), and the codes are left in block order."""
    codes = []
    for left, right in parts:
        lo, hi = np.minimum(left, right), np.maximum(left, right)
        ok = lo != hi
        codes.append(lo[ok] * n + hi[ok])
    if not codes:
        return np.empty(0, np.int64)
    joined = np.concatenate(codes)
    return joined if distinct else distinct_sorted(joined)


def _name_tokens(cores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, word) for the words of Latin core names (`_token_codes`), as text: the state that
    an incremental night keeps of each record's name words."""
    rows, codes, words = _token_codes(cores)
    return rows, words.take(pa.array(codes)).to_numpy(zero_copy_only=False)


def _token_codes(cores: np.ndarray) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """(row, code, distinct words): the name words blocking uses, each (row, word) once, a word
    by its code into `words`. Rare words block fuzzy name variants, and a one-word name
    ('Silvus') meets the longer names holding its word ('Silvus Technologies'). Words of four
    letters or more, and a name's first word from two letters on: a short brand ('BMC', 'HGH')
    meets the names it begins ('BMC Otomotiv'), and short words elsewhere in a name ('of',
    'and') block nothing. Beside them each name's deletion neighbourhood (`_one_letter_out`).
    Built by Arrow kernels and coded there: at 1.4M records the words and keys as Python
    strings were ~1.3 GB of `leadrank dedupe`'s peak."""
    text = _arrow(cores)
    latin = np.asarray(pc.string_is_ascii(text), dtype=bool) & np.asarray(pc.utf8_length(text), dtype=np.int64).astype(bool)
    rows = np.flatnonzero(latin)
    if not len(rows):
        return np.empty(0, np.int64), np.empty(0, np.int64), pa.array([], pa.string())
    latin_text = text.take(pa.array(rows))
    words = pc.utf8_split_whitespace(latin_text)
    flat = pc.list_flatten(words)
    parent = rows[np.asarray(pc.list_parent_indices(words))]
    length = np.asarray(pc.utf8_length(flat), dtype=np.int64)
    first = np.r_[True, parent[1:] != parent[:-1]] if len(parent) else np.zeros(0, dtype=bool)
    long = (length > 3) | (first & (length >= 2))
    key_rows, keys = _one_letter_out(rows, pc.replace_substring(latin_text, " ", ""), pc.list_element(words, 0))
    row = np.concatenate([parent[long], *key_rows])
    coded = pc.dictionary_encode(pa.chunked_array([flat.filter(pa.array(long)), *keys], type=pa.string())).combine_chunks()
    del text, latin_text, words, flat, keys, key_rows  # the strings, once coded: ~0.6 GB of Arrow's pool at 1.4M
    release_memory(len(cores))
    codes = np.asarray(coded.indices, dtype=np.int64)
    # A name's keys are distinct already; a word can recur in a name ('Hong Kong Hong ...').
    n_words = int(long.sum())
    again = pd.Series(row[:n_words] * max(1, len(coded.dictionary)) + codes[:n_words]).duplicated().to_numpy()
    keep = np.r_[~again, np.ones(len(codes) - n_words, dtype=bool)]
    return row[keep], codes[keep], coded.dictionary


# A name (spaces left out) this long meets the names one typo away ('Dairgriobis' / 'Daigrriobis').
_TYPO_LENGTH = 5
# From six letters a letter changed for another is a typo too (`_typo`): at five, DSEI's
# precision fell (0.969 -> 0.967: 'Maxar' / 'Maiar'); at six to eight Chicago and DSEI were
# unchanged and the generated names-only sets gained most at six (0.9871 -> 0.990).
SUBSTITUTION_LENGTH = 6


def _one_letter_out(rows: np.ndarray, compact: pa.Array, first_word: pa.Array) -> tuple[list[np.ndarray], list[pa.Array]]:
    """(rows, keys), part by part, of the deletion neighbourhood of each name without its spaces
    (`compact`, ASCII): the name and the name with one letter of its first word but the first
    left out, marked '~' so that they meet only each other. Names one typo apart in their first
    word (a letter changed, added, dropped or two swapped, not the first) and otherwise the same
    letters share a key: a made-up brand misspelt in its first word ('Grocxon Xiosbry' /
    'Gorcxon Xiosbry', 'Liocguk' / 'Liocgouk') shares no rare word, and its common words
    ('International', 'Marine') block too many names to meet it; a typo in a later word leaves
    the first to block on. Names shorter than _TYPO_LENGTH get none. The first letter is kept
    (brands that differ there are other brands: 'Xingxin' / 'Dingxin'), and a first word that
    is pinyin gets no key: a letter more or less there is another syllable, another brand
    ('Xiangbo' / 'Xingbo'), which names this alike would otherwise be taken for. Each key once
    per name: leaving out any letter of a run of one letter ('Grocxxon') gives one key."""
    pinyin = np.asarray(pc.match_substring_regex(first_word, f"^(?:{_pinyin_word().pattern})$"), dtype=bool)
    keyed = np.flatnonzero((np.asarray(pc.utf8_length(compact), dtype=np.int64) >= _TYPO_LENGTH) & ~pinyin)
    compact = compact.take(pa.array(keyed))
    head = np.asarray(pc.utf8_length(first_word.take(pa.array(keyed))), dtype=np.int64)
    key_rows, keys = [rows[keyed]], [pc.binary_join_element_wise("~", compact, "")]
    for k in range(1, int(head.max(initial=0))):
        some = np.flatnonzero(head > k)
        name = compact.take(pa.array(some))
        if k > 1:  # a letter that repeats the one before it was left out at k - 1: the same key
            new = pc.not_equal(pc.utf8_slice_codeunits(name, k - 1, k), pc.utf8_slice_codeunits(name, k, k + 1))
            some, name = some[np.asarray(new, dtype=bool)], name.filter(new)
        key_rows.append(rows[keyed[some]])
        keys.append(pc.binary_join_element_wise("~", pc.utf8_slice_codeunits(name, 0, k),
                                                pc.utf8_slice_codeunits(name, k + 1), ""))
    return key_rows, keys


def block_keys(f: Features, cfg: ResolutionConfig) -> dict[str, Callable[[], np.ndarray]]:
    """One job per blocking key, each giving the codes (`_pair_codes`) of the pairs of records
    sharing it: run in turn by `candidate_pairs`, or as tasks on a cluster
    (leadrank.transform.distributed)."""
    rows = np.arange(f.n, dtype=np.int64)
    order = f.order

    def on(codes: np.ndarray) -> Callable[[], np.ndarray]:
        return lambda: _pair_codes(_group_pair_parts(codes, rows, cfg.max_block_size, order, cfg.block_window), f.n,
                                   distinct=True)

    def either_name() -> np.ndarray:
        # Alternative names (an English name's Chinese twin) block against both name columns.
        # A block holding no alternative name is the core-name block's (`core`) with the same
        # pairs: only the alternative names and the core names equal to one are blocked here
        # (every core name again was ~3 s at 1.4M records).
        alt_rows = np.flatnonzero(f.alt_code >= 0)
        alts = f.alt[alt_rows]
        core_rows = np.flatnonzero(pd.Series(f.core, dtype=object).isin(alts))
        keys = _codes(np.r_[f.core[core_rows], alts])
        return _pair_codes(_group_pair_parts(keys, np.r_[core_rows, alt_rows], cfg.max_block_size, order,
                                             cfg.block_window), f.n)

    def words() -> np.ndarray:
        # A common word ('trading', 'systems') is a large block: sub-blocked by name order, so
        # alphabetical neighbours ('voupri trading' / 'voupri tradng') still meet.
        token_rows, tokens, _ = _token_codes(f.core)
        shared = np.bincount(tokens)[tokens] >= 2  # most one-letter-out keys are one name's alone
        return _pair_codes(_group_pair_parts(tokens[shared], token_rows[shared], cfg.max_token_block, order,
                                             cfg.block_window), f.n)

    keys = {"uscc": f.uscc, "domain": f.domain, "phone": f.phone, "phone_local": f.phone_local, "email": f.email,
            "site": f.site, "core": f.core_code, "pinyin": f.translit_key}
    # The word block first: its peak (the words, their keys, their pairs) is then not on top of
    # the other blocks' codes (~0.3 GB at 1.4M records).
    return {"words": words, **{name: on(codes) for name, codes in keys.items()}, "either_name": either_name}


def candidate_pairs(f: Features, cfg: ResolutionConfig) -> tuple[np.ndarray, np.ndarray]:
    """Unique (i, j), i < j, of positional row numbers that share a blocking key."""
    codes = distinct_sorted(np.concatenate([job() for job in block_keys(f, cfg).values()]))
    return row_numbers(codes // f.n), row_numbers(codes % f.n)


def _shared(share: np.ndarray, i: np.ndarray) -> np.ndarray:
    return share[i]


def _same(codes: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    a, b = codes[i], codes[j]
    return (a >= 0) & (a == b)


def _differ(codes: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    a, b = codes[i], codes[j]
    return (a >= 0) & (b >= 0) & (a != b)


class Names:
    """A name column prepared once for pairwise comparison: text ('' when missing), the text
    without spaces, and whether it has several words."""

    def __init__(self, values: np.ndarray):
        text = _arrow(values)
        self.text = _text_of(values, text)
        compact = pc.replace_substring(text, " ", "")
        # A name without spaces is its own compact form: the same string object, not a copy.
        self.compact = self.text.copy()
        spaced = np.asarray(pc.match_substring(text, " "), dtype=bool)
        self.compact[spaced] = text_objects(compact.filter(pa.array(spaced)))
        self.length = np.asarray(pc.utf8_length(compact))
        self.words = spaced
        # Word count and first word (as a code): cheap filters before word-by-word comparisons.
        self.n_words = np.asarray(pc.count_substring(text, " "), dtype=np.int64) + 1
        self.first_word = _codes(text_objects(pc.list_element(pc.utf8_split_whitespace(text), 0)))

    @cached_property
    def code(self) -> np.ndarray:
        """Equal texts, equal codes: made when first asked for (only the core names' rules ask)."""
        return np.asarray(pc.dictionary_encode(_arrow(self.text)).indices, dtype=np.int64)


def _text_of(values: np.ndarray, text: pa.Array) -> np.ndarray:
    """The strings of `text` (= _arrow(values)) as objects: `values`' own string objects, '' where
    missing, when every value is a string or missing; else one new string per distinct value."""
    values = np.asarray(values, dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        return text_objects(text)
    out = values.copy()
    out[pd.isna(values)] = ""
    return out


def _similarity(a: Names, i: np.ndarray, b: Names, j: np.ndarray, contained: bool = False) -> np.ndarray:
    """0..100 name similarity of pairs (a[i], b[j]), -1 where either is missing: the better of
    token-sort ratio and plain ratio with spaces removed, in parallel C++ (rapidfuzz cpdist).
    With `contained`, the token-set ratio instead: 100 when one name's words are all in the
    other ('Revere' in 'Chicago Public Schools Revere, Paul'), or one name inside the other."""
    out = np.full(len(i), -1.0, dtype=np.float32)
    ok = (a.length[i] > 0) & (b.length[j] > 0)
    if not ok.any():
        return out
    i, j = i[ok], j[ok]
    compact = _cpdist(a.compact, i, b.compact, j, fuzz.partial_ratio if contained else fuzz.ratio)
    if contained:
        compact = np.where(np.minimum(a.length[i], b.length[j]) >= 5, compact, 0)
    words = np.flatnonzero(a.words[i] | b.words[j])  # single words: token ratios equal the plain one
    if len(words):
        scorer = fuzz.token_set_ratio if contained else fuzz.token_sort_ratio
        compact[words] = np.maximum(compact[words], _cpdist(a.text, i[words], b.text, j[words], scorer))
    out[ok] = compact
    return out


CPDIST_PAIRS = 250_000  # pairs per rapidfuzz call


def _cpdist(a: np.ndarray, i: np.ndarray, b: np.ndarray, j: np.ndarray, scorer: Callable[..., float]) -> np.ndarray:
    """scorer(a[i], b[j]) of every pair (float32), in parallel C++, CPDIST_PAIRS at a time:
    rapidfuzz copies every string it is given, and the millions of pairs of a million records
    at once cost several hundred MB for a moment (the dedupe step's peak)."""
    out = np.empty(len(i), dtype=np.float32)
    for k in range(0, len(i), CPDIST_PAIRS):
        part = slice(k, k + CPDIST_PAIRS)
        out[part] = process.cpdist(list(a[i[part]]), list(b[j[part]]), scorer=scorer, workers=-1, dtype=np.float32)
    return out


def _alike(f: Features, i: np.ndarray, j: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Addresses that are one written two ways: where no house number and street could be parsed
    ('Jagershillgatan 15, Malmo' / 'Jgershillgatan 15, Malm') such sites differ only when their
    text does (rapidfuzz ratio below 80); at one house number, streets whose names differ by a
    typo ('4701 N. Winthorp' / '4701 N Winthrop Ave') or by a space ('1900 W Van Buren' / '1900
    W. VanBuren': the letters after the number are compared for the longer street's length) are
    one street (numbered streets, '85th' / '91st', are compared as they are)."""
    out = np.zeros(len(i), dtype=bool)
    k = np.flatnonzero(where & ((f.street[i] < 0) | (f.street[j] < 0)))
    if len(k):
        ratio = process.cpdist(list(f.site_text[i[k]]), list(f.site_text[j[k]]), scorer=fuzz.ratio, workers=-1)
        out[k] = ratio >= 80
    k = np.flatnonzero(where & (f.street[i] >= 0) & (f.street[j] >= 0) & (f.house[i] == f.house[j]))
    if len(k):
        a, b = f.street_text[i[k]], f.street_text[j[k]]
        named = np.asarray([_NAMED_STREET.search(x) is not None and _NAMED_STREET.search(y) is not None
                            for x, y in zip(a, b, strict=True)], dtype=bool)
        length = [max(len(x.replace(" ", "")), len(y.replace(" ", ""))) for x, y in zip(a, b, strict=True)]
        runs_a = [x[:n] for x, n in zip(f.street_run[i[k]], length, strict=True)]
        runs_b = [y[:n] for y, n in zip(f.street_run[j[k]], length, strict=True)]
        out[k] = named & (process.cpdist(runs_a, runs_b, scorer=fuzz.ratio, workers=-1) >= 80)
    return out


def _each_pair(names: Names, i: np.ndarray, j: np.ndarray, k: np.ndarray,
               test: Callable[[str, str], bool]) -> np.ndarray:
    """`test` of the two name texts of each pair in `k` (positions into `i`, `j`), False for the
    others: the word-by-word rules below, run in Python on the pairs their filters leave, once
    per distinct pair of texts (a company listed many times repeats its variants' pairs)."""
    out = np.zeros(len(i), dtype=bool)
    if not len(k):
        return out
    a, b = names.code[i[k]], names.code[j[k]]
    _, first, inverse = np.unique(a * (int(names.code.max()) + 1) + b, return_index=True, return_inverse=True)
    tested = [test(x, y) for x, y in zip(names.text[i[k[first]]], names.text[j[k[first]]], strict=True)]
    out[k] = np.asarray(tested, dtype=bool)[inverse]
    return out


def _shortened(names: Names, i: np.ndarray, j: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Pairs of Latin names word for word alike where one writes some words shortened or
    inflected: 'Douxjou Logist.' / 'Douxjou Logistics', 'Summit Grioxmait Mar.' / 'Summit
    Grioxmait Marine', 'Felcil Trade' / 'Felcil Trading', 'Vrebet Manufacturers' / 'Vrebet
    Manufacturing'. The first word must be equal and every other word equal, the start (3+
    letters) of the other's, or of one stem with it (the Snowball English stemmer): a truncation
    or a word form no table can list is still the same name."""
    k = np.flatnonzero(where & names.words[i] & names.words[j] & (names.n_words[i] == names.n_words[j])
                       & _same(names.first_word, i, j))
    # PyStemmer (Snowball in C, with its own cache of recent words): the pure-Python
    # snowballstemmer gave the same stems but took ~6 s of the 16M pairs of 1.4M records. One
    # stemmer per call: a stemmer is not thread-safe.
    stem = Stemmer.Stemmer("english").stemWord

    def shortened(a: str, b: str) -> bool:
        x, y = a.split(), b.split()
        return (len(x) == len(y) and x[0] == y[0] and len(x[0]) >= 3
                and all(u == v or (min(len(u), len(v)) >= 3 and (u.startswith(v) or v.startswith(u)))
                        or stem(u) == stem(v) for u, v in zip(x[1:], y[1:], strict=True)))

    return _each_pair(names, i, j, k, shortened)


def _one_typo(names: Names, i: np.ndarray, j: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Pairs of Latin names word for word equal but for one word of five letters or more that a
    single typo changed (`_typo`: a letter added or dropped, or two swapped: 'Liocguk' /
    'Liocgouk', 'Cukayr Marine' / 'Cukyar Marine'). A ratio counts such a typo as two edits, so in a short
    name it looks as unlike as a different word does; a one-word brand with no other evidence
    then never reaches a match. Numbers differ as sites do, not as typos ('10th' / '11th')."""
    k = np.flatnonzero(where & (names.n_words[i] == names.n_words[j]) & (np.abs(names.length[i] - names.length[j]) <= 1))
    k = k[_cpdist(names.text, i[k], names.text, j[k], OSA.distance) <= 1]

    def one_typo(a: str, b: str) -> bool:
        differ = [(u, v) for u, v in zip(a.split(), b.split(), strict=True) if u != v]
        return len(differ) == 1 and _typo(*differ[0])

    return _each_pair(names, i, j, k, one_typo)


def _typo(u: str, v: str) -> bool:
    """Two words of letters, one a letter added to, dropped from or swapped within the other
    (their OSA distance is 1 already): a typo. One letter changed for another counts only in
    words of SUBSTITUTION_LENGTH letters or more that begin alike ('Wiodun' / 'Wioiun',
    'Lautkou' / 'Loutkou'): in shorter words that is how different names differ ('Maxar' /
    'Maiar', 'Aerco' / 'Serco' on DSEI); nor are two words that are both pinyin a typo, where a
    letter more or less or another is another syllable, another name ('Jihui' / 'Jinhui',
    'Yuanhong' / 'Yunhong', 'Junjia' / 'Junjie')."""
    return (u.isalpha() and v.isalpha() and min(len(u), len(v)) >= _TYPO_LENGTH
            and (len(u) != len(v) or sorted(u) == sorted(v)
                 or (min(len(u), len(v)) >= SUBSTITUTION_LENGTH and u[0] == v[0]))
            and not (_pinyin_word().fullmatch(u) and _pinyin_word().fullmatch(v)))


@lru_cache(maxsize=1)
def _pinyin_word() -> re.Pattern:
    """A word made of toneless pinyin syllables only ('jinhui', 'lvcheng')."""
    syllables = {s for s in _pinyin_table().values() if s.isalpha()} | {"lv", "nv", "lve", "nve"}
    return re.compile("(?:" + "|".join(sorted(syllables, key=len, reverse=True)) + ")+")


_NAMED_STREET = re.compile(r"[a-z]{3}")
_NUMERAL = re.compile(r"^(?:\d+|[ivx]+)$")
# Words, with a number glued to a word's end split off: 'CC1' is the site 'CC' numbered 1.
_WORD_OR_NUMBER = re.compile(r"[^\W\d_]+|\d+")


def _extra_word(names: Names, i: np.ndarray, j: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Pairs whose Latin names differ by whole words, one name's words all in the other's
    ('Pacific Semiconductor' / 'Pacific Star Semiconductor'), or only by numbers ('Little Tykes
    I' / 'Little Tykes II', 'Plant 2' / 'Plant 3': numbered sites or funds): that is another
    company's name, not the same name misspelt, however similar the letters."""
    def extra_word(a: str, b: str) -> bool:
        x, y = set(_WORD_OR_NUMBER.findall(a)), set(_WORD_OR_NUMBER.findall(b))
        return x != y and (x < y or y < x or (bool(x - y) and bool(y - x) and all(_NUMERAL.match(w) for w in x ^ y)))

    return _each_pair(names, i, j, np.flatnonzero(where & names.words[i] & names.words[j]), extra_word)


def _siblings(names: Names, i: np.ndarray, j: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Pairs of Latin names that begin alike and then each go their own way ('Teledyne e2v' /
    'Teledyne Qioptiq', 'Bertin Exensor' / 'Bertin Environics'): two units of one group, or two
    firms of one family name, not one name written two ways."""
    def siblings(a: str, b: str) -> bool:
        x, y = set(a.split()), set(b.split())
        return bool(x - y) and bool(y - x)

    k = np.flatnonzero(where & names.words[i] & names.words[j] & _same(names.first_word, i, j))
    return _each_pair(names, i, j, k, siblings)


def _one_operator(names: Names, i: np.ndarray, j: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Pairs of Latin names that share two words in a row: one operator's name and two of its
    sites' ('Carole Robertson Center for Learning - … CTR 2020' / 'Carole Robertson Center
    Roosevelt'), or one site's name under its operator's ('Marcy Newberry Association - South
    Harper Montessori' / 'South Harper Montessori School')."""
    return _each_pair(names, i, j, np.flatnonzero(where & names.words[i] & names.words[j]),
                      lambda a, b: not set(pairwise(a.split())).isdisjoint(pairwise(b.split())))


# Candidate pairs scored at a time (two parts at once). Half a million: the two parts' working
# arrays at a million pairs each were the dedupe step's peak at 1.4M records (2,597 MB against
# 2,414 MB at half a million in that phase, 72.7 against 71.8 s; bench/README.md, eleventh round).
SCORE_PART = 500_000


def score_pairs(f: Features, left: np.ndarray, right: np.ndarray, cfg: ResolutionConfig) -> Pairs:
    """Match score and evidence features for every candidate pair, SCORE_PART pairs at a time:
    the working arrays of 16M pairs at once (1.4M records) were ~1 GB above the result. Two
    parts are scored at once, on two threads: most of the work (numpy's gathers, rapidfuzz)
    releases the GIL. The 16M pairs took 25 s instead of 42 s on the machine this was measured
    on first, ~0.15 GB more at the peak; on later ones, where rapidfuzz's own threads already
    kept both cores busy, the gain was 5-10 % (bench/README.md, ninth round)."""
    starts = range(0, len(left), SCORE_PART)
    if len(starts) > 1:
        with ThreadPoolExecutor(max_workers=2) as pool:
            parts = list(pool.map(lambda a: _score_part(f, left[a:a + SCORE_PART], right[a:a + SCORE_PART], cfg),
                                  starts))
    else:
        parts = [_score_part(f, left, right, cfg)]
    if len(parts) == 1:
        return Pairs(left, right, *parts[0])
    score, flags, sim, conflict = zip(*parts, strict=True)
    return Pairs(left, right, np.concatenate(score), Flags.concat(list(flags)), np.concatenate(sim),
                 np.concatenate(conflict))


def _score_part(f: Features, left: np.ndarray, right: np.ndarray, cfg: ResolutionConfig
                ) -> tuple[np.ndarray, Flags, np.ndarray, np.ndarray]:
    """(score, flags, name similarity, conflict) of the pairs (left, right)."""
    w = cfg.weights
    i, j = left, right
    feats: dict[str, np.ndarray] = {}
    feats["uscc"] = _same(f.uscc, i, j)
    feats["uscc≠"] = _differ(f.uscc, i, j)
    feats["domain"] = _same(f.domain, i, j)
    feats["domain≠"] = _differ(f.domain, i, j)
    feats["phone"] = _same(f.phone, i, j)
    feats["phone~"] = _same(f.phone_local, i, j) & ~feats["phone"] & ~(f.has_e164[i] & f.has_e164[j])
    feats["email"] = _same(f.email, i, j)
    nearby = _same(f.street, i, j) & (np.abs(f.house[i] - f.house[j]) <= 100)
    # One site written two ways: a misspelt street at one house number is that site (unparsed
    # addresses alike in most letters only do not conflict: business parks, office towers).
    alike = _alike(f, i, j, _differ(f.site, i, j) & ~nearby)
    feats["address"] = _same(f.site, i, j) | (alike & (f.street[i] >= 0) & (f.street[j] >= 0))
    # A corner building has one house number on two streets, and sources give either
    # ('2905 N Leavitt' / '2905 N Clybourn'): one house number and one telephone line are no
    # second site.
    corner = (f.house[i] >= 0) & (f.house[i] == f.house[j]) & (_same(f.phone, i, j) | _same(f.phone_local, i, j))
    feats["address≠"] = _differ(f.site, i, j) & ~nearby & ~alike & ~corner
    sim = _similarity(f.core_names, i, f.core_names, j)
    has_alt = (f.alt_code[i] >= 0) | (f.alt_code[j] >= 0)
    if has_alt.any():
        k = np.flatnonzero(has_alt)
        for a, b in ((f.alt_names, f.core_names), (f.core_names, f.alt_names), (f.alt_names, f.alt_names)):
            sim[k] = np.maximum(sim[k], _similarity(a, i[k], b, j[k]))
    same_lang = f.lang[i] == f.lang[j]
    latin = same_lang & (f.lang[i] == "en")
    # Two Latin names ending in one industry ('Chuanfeng Information Technology' / 'Chuang Bo
    # Information Technology': 91 % alike) are as alike as their trade names (59 %): the shared
    # tail says which industry, not which company.
    k = np.flatnonzero(latin & (sim < 100) & (f.industry[i] >= 0) & (f.industry[i] == f.industry[j]))
    if len(k):
        sim[k] = np.minimum(sim[k], _similarity(f.translit_names, i[k], f.translit_names, j[k]))
    shortened = _shortened(f.core_names, i, j, latin & (sim >= 60) & (sim < cfg.name_near))
    sim[shortened | _one_typo(f.core_names, i, j, latin & (sim >= 60) & (sim < cfg.name_near))] = cfg.name_near
    subset = np.full(len(i), -1.0, dtype=np.float32)
    k = np.flatnonzero(latin & (sim < cfg.name_strong))
    subset[k] = _similarity(f.core_names, i[k], f.core_names, j[k], contained=True)
    cross = ((f.lang[i] == "zh") & (f.lang[j] == "en")) | ((f.lang[i] == "en") & (f.lang[j] == "zh"))
    industry_conflict = _differ(f.industry, i, j) & (same_lang | cross)
    # 'media' and 'culture media' (a typo hid 'culture') are one industry: only words that end
    # neither in the other conflict.
    k = np.flatnonzero(industry_conflict)
    if len(k):
        a, b = f.industry_text[i[k]], f.industry_text[j[k]]
        industry_conflict[k] = [not (x.endswith(y) or y.endswith(x)) for x, y in zip(a, b, strict=True)]
    translit = np.full(len(i), -1.0, dtype=np.float32)
    if cross.any():
        k = np.flatnonzero(cross)
        translit[k] = _similarity(f.translit_names, i[k], f.translit_names, j[k])
    feats["pinyin"] = cross & (translit >= cfg.name_strong) & ~industry_conflict
    # Two records of one city weigh the pinyin's ambiguity within that city only.
    in_city = _same(f.city, i, j)
    pinyin_ambiguous = feats["pinyin"] & np.where(in_city, f.translit_city_ambiguous[i] | f.translit_city_ambiguous[j],
                                                  f.translit_ambiguous[i] | f.translit_ambiguous[j])
    feats["name="] = sim >= 100
    feats["name~"] = (sim >= cfg.name_weak) & (sim < 100) & ~industry_conflict
    strong = (sim >= cfg.name_strong) & (sim < 100) & ~industry_conflict & ~_extra_word(f.core_names, i, j, latin & (sim >= cfg.name_strong) & (sim < 100))
    near = (sim >= cfg.name_near) & strong
    comparable = same_lang | (sim >= cfg.name_weak)
    # One name inside the other: the short form of a long one (Latin names only: Chinese ones have no words).
    # A country for a name (a national pavilion, a delegation) is in many companies' names.
    feats["name⊂"] = ((subset >= 100) & (sim < cfg.name_strong) & ~industry_conflict & ~f.country_name[i]
                      & ~f.country_name[j] & ~f.generic[i] & ~f.generic[j])
    # One site and one telephone line: an operator and the site it runs under another name
    # ('Bethel New Life - Molade Child Development Center' / 'Mary Crane Center (Molade Child
    # Dev.)'), not two companies whose names disagree.
    one_line = feats["address"] & (feats["phone"] | feats["phone~"])
    # At one building a site named inside its operator's name ('El Valor - Teddy Bear 2
    # Columbus' / 'Teddy Bear Nursery School II') shares two words in a row with it: no name conflict.
    operator = _one_operator(f.core_names, i, j, feats["address"] & (sim < cfg.name_weak))
    feats["name≠"] = (comparable & (sim >= 0) & (sim < cfg.name_different) & ~industry_conflict & ~feats["name⊂"]
                      & ~one_line & ~operator)
    feats["industry≠"] = industry_conflict & (sim < 100)
    feats["city≠"] = _differ(f.city, i, j)
    city_unknown = (f.city[i] < 0) | (f.city[j] < 0)
    # Two records of one legal form are ambiguous only among the names with that form.
    same_form = (f.form[i] == f.form[j]) & (f.form[i] >= 0)
    name_ambiguous = feats["name="] & city_unknown & np.where(same_form, f.core_form_ambiguous[i] | f.core_form_ambiguous[j],
                                                                f.core_ambiguous[i] | f.core_ambiguous[j])
    a, b = f.form_bits[i], f.form_bits[j]
    feats["form≠"] = a.any(axis=1) & b.any(axis=1) & ~(a & b).any(axis=1)
    # One group exhibiting or listed from two countries (its national offices) keeps its whole
    # name; namesakes abroad mostly differ in legal form, or the name is a common one carried in
    # three or more countries. An exact name with neither is no country conflict.
    abroad = feats["name="] & (f.form[i] == f.form[j]) & ~f.core_widespread[i] & ~f.core_widespread[j]
    feats["country"] = _same(f.country, i, j) & (f.country_bits[i] >= 1)
    feats["country≠"] = _differ(f.country, i, j) & ~abroad
    country_bits = np.where(feats["country"], f.country_bits[i], 0)
    city_same = _same(f.city, i, j)
    feats["_city="], feats["_country="] = city_same, _same(f.country, i, j)
    feats["_domain_shared"] = feats["domain"] & (f.domain_share[i] < 1)
    feats["_phone_shared"] = feats["phone"] & (f.phone_share[i] < 1)
    # An address that many differently named records give (a business centre, a registered
    # agent) says little of two records whose names do not agree either: without a plausible
    # name it counts by its share, as a shared switchboard does; with one it counts whole.
    site_weight = np.where((sim >= cfg.name_weak) | operator, 1.0, _shared(f.site_share, i))
    # 'Dorothy Sutton Branch' is a branch by its name's end; 'Dorothy Sutton Branch Head Start'
    # carries the same word inside its name: the same branch, no branch-against-head-office.
    feats["branch≠"] = (f.branch[i] != f.branch[j]) & ~np.where(f.branch[i], f.branch_word[j], f.branch_word[i])
    score = (
        w["uscc_same"] * feats["uscc"] + w["uscc_conflict"] * feats["uscc≠"]
        + w["domain_same"] * feats["domain"] * _shared(f.domain_share, i) + w["domain_different"] * feats["domain≠"]
        + w["phone_same"] * feats["phone"] * _shared(f.phone_share, i)
        + w["phone_local_same"] * feats["phone~"] + w["email_same"] * feats["email"]
        + w["address_same"] * feats["address"] * site_weight + w["address_different"] * feats["address≠"]
        + w["name_exact"] * feats["name="] + w["name_strong"] * (strong & ~near) + w["name_near"] * near
        + np.minimum(country_bits, w["country_same"]) + w["country_different"] * feats["country≠"] + w["name_contained"] * feats["name⊂"]
        + w["name_weak"] * (feats["name~"] & ~strong) + w["name_different"] * feats["name≠"]
        + w["industry_different"] * feats["industry≠"] + w["name_pinyin"] * feats["pinyin"]
        + w["name_ambiguous"] * (pinyin_ambiguous | name_ambiguous)
        + w["city_same"] * city_same + w["city_different"] * feats["city≠"]
        + w["branch_mismatch"] * feats["branch≠"] + w.get("legal_form_different", 0.0) * feats["form≠"]
    ).astype(np.float32)
    # Evidence that two records are two companies, whatever else links them (see clustering).
    identified = feats["uscc"] | feats["phone"] | feats["email"] | feats["domain"]
    feats["_conflict"] = (feats["uscc≠"] | feats["branch≠"] | feats["industry≠"]
                          | ((feats["city≠"] | feats["address≠"] | feats["country≠"] | feats["form≠"]) & ~identified))
    # Sibling names that share nothing else are two companies: a short group name that each
    # is contained in ('Teledyne') must not join them.
    alone = ~(identified | feats["phone~"] | feats["address"]) & latin & (sim < cfg.name_weak)
    conflict = feats["_conflict"] | (score <= cfg.cannot_link) | _siblings(f.core_names, i, j, alone)
    return score, Flags.pack(feats), sim, conflict
