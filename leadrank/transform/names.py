"""Company names in Chinese and English, reduced to what identifies the company.

`parse_names` cleans names for display (full-width → half-width, traditional → simplified,
（）→ (), spacing) and splits each into a core that names are compared on, a legal form
(有限公司, Co., Ltd., GmbH …), a branch flag (分公司 / branch are kept, never discarded, because a
branch is a different buyer), and the province and city that prefixes, suffixes or brackets name.

It works on whole columns at once with Arrow's RE2 kernels, because a night holds a million
names and a per-name Python parse costs ~40 µs each; `parse_name` is the same code on a column
of one. Pure: idempotent on its display output, and it never raises on any string.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadrank.transform.legal_forms import ABBREVIATIONS, PLURAL, legal_forms
from leadrank.transform.regions import extract_where, latin, regions

MAX_NAME_CHARS = 300  # longer values are cut (and flagged) before parsing

# Longest first inside each alternation: RE2 takes the first alternative that matches.
ZH_LEGAL_FORMS = [
    "集团股份有限公司", "集团有限责任公司", "集团有限公司", "股份有限公司", "有限责任公司",
    "(特殊普通合伙)", "(普通合伙)", "(有限合伙)", "股份合作公司", "有限公司", "集团公司", "总公司",
    "合伙企业", "集团", "公司",
]
# cleanco's forms of every country plus our own table (leadrank.transform.legal_forms).
EN_LEGAL_FORMS = legal_forms()


def _alt(forms: Iterable[str]) -> str:
    return "|".join(re.escape(f) for f in sorted(set(forms), key=len, reverse=True))


_ZH_FORMS = "(?:" + _alt(ZH_LEGAL_FORMS) + ")"
_EN_FORMS = "(?:" + _alt(EN_LEGAL_FORMS) + ")"
_ZH_BY_LENGTH = sorted(set(ZH_LEGAL_FORMS), key=len, reverse=True)
# English forms are matched on the reversed, lower-cased name, anchored at its start: the same
# language as "(?:[\s,]+FORM)+\.?$" on the name, four times cheaper for RE2 to take apart.
_EN_FORM_REVERSED = (r"^(?P<form>\.?(?:(?:" + "|".join(re.escape(f[::-1]) for f in sorted(set(EN_LEGAL_FORMS), key=len, reverse=True))
                     + r")[\s,]+)+)(?P<rest>.+)$")
# Forms one after another, apart ('Co., Ltd.'), never run together: 'Saab' is not 'sa' + 'ab'.
_ONLY_FORMS = r"(?i)^(?:" + _ZH_FORMS + r"+|[\s,]*" + _EN_FORMS + r"(?:[\s,]+" + _EN_FORMS + r")*[\s,]*\.?)$"
_ZH_BRANCH_TAIL = r"^(?P<rest>.+?)(?:分公司|分厂|分店|办事处|分行|支行|分部|营业部)$"
_EN_BRANCH_TAIL = r"(?i)^(?P<rest>.+?)[\s,(-]+(?:branch(?:\s+office)?|representative office|rep\. office)\)?$"
_ANY_TAIL = (r"(?i)(?:" + _ZH_FORMS + r"|分公司|分厂|分店|办事处|分行|支行|分部|营业部|[\s,]" + _EN_FORMS
             + r"\.?|branch|office)\)?$")
_HAN = r"[\x{3400}-\x{4dbf}\x{4e00}-\x{9fff}\x{f900}-\x{faff}]"
_STRIP_CHARS = " \t\r\n.,;:-_/|*·'\"“”‘’"
_SEP = "\x1f"  # joins a column into one string for str.translate; control characters are gone by then


@lru_cache(maxsize=1)
def _t2s_table() -> dict[int, str]:
    """Character-level traditional → simplified table from OpenCC's TSCharacters dictionary."""
    table: dict[int, str] = {}
    text = (resources.files("opencc") / "dictionary" / "TSCharacters.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 1:
            table[ord(parts[0])] = parts[1]
    table.update({ord("【"): "(", ord("】"): ")", ord("〔"): "(", ord("〕"): ")"})
    return table


def to_simplified(text: str) -> str:
    return text.translate(_t2s_table())


def _strings(values: Iterable[object] | pa.Array) -> pa.Array:
    """A string array from any values; missing and non-string values become their text or ''."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array) and pa.types.is_string(values.type):
        return values.fill_null("")
    if isinstance(values, pd.Series) and pd.api.types.is_string_dtype(values.dtype) and values.dtype != object:
        return pa.array(values.array, type=pa.string()).fill_null("")
    if isinstance(values, (list, np.ndarray, pd.Series)):
        try:  # the common case, all strings and missing values, converts in C
            return pa.array(values, type=pa.string(), from_pandas=True).fill_null("")
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):
            pass
    items = [v if isinstance(v, str) else "" if v is None or (isinstance(v, float) and v != v) else str(v)
             for v in values]
    try:
        return pa.array(items, type=pa.string())
    except UnicodeEncodeError:  # lone surrogates and the like: replaced, never a crash
        return pa.array([v.encode("utf-8", "replace").decode("utf-8") for v in items], type=pa.string())


# What text decoded with the wrong charset shows: a C1 control character (a Windows-1252 byte read
# as Latin-1: Caf\x92s), or a UTF-8 lead byte read as a Latin letter followed by a continuation
# byte read as Latin-1 or Windows-1252 (NestlÃ©, SÃ£o, â€œ). Legitimate text (Müller, Société)
# has no such pair; ftfy decides for the few values that match.
_MOJIBAKE = ("[\u0080-\u009f]|[\u00c2-\u00f4][\u00a0-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e"
             "\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]")


def repaired(text: pa.Array) -> pa.Array:
    """Values whose bytes were decoded with the wrong charset, decoded again (`ftfy.fix_encoding`:
    'NestlÃ© SA' is 'Nestlé SA', 'Caf\x92s' is 'Caf’s'); the rest as they are. Only values a
    cheap DFA test flags go through ftfy (pure Python); a scraped page or file in mixed charsets
    otherwise made 'NestlÃ©' a company of its own (core 'nestla')."""
    suspect = pc.match_substring_regex(text, _MOJIBAKE)
    if not pc.any(suspect).as_py():
        return text
    import ftfy  # (only when some value needs it)

    fixed = [ftfy.fix_encoding(v) for v in text.filter(suspect).to_pylist()]
    return pc.replace_with_mask(text, suspect, pa.array(fixed, text.type))


# An HTML character reference (&amp; &#252; &#xFC;) and a tag: names copied out of a page's source
# or an export of an HTML field ('AT&amp;T', '&lt;b&gt;Bosch&lt;/b&gt;', twice escaped too).
_ENTITY = r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
_TAG = r"(?i)</?(?:a|b|i|u|s|em|strong|span|div|p|br|font|sup|sub|small|big|h[1-6]|li|ul|ol|td|th|tr|img)\b[^<>]{0,200}>"


_SUSPECT = "|".join(f"(?:{pattern})" for pattern in (_MOJIBAKE, _ENTITY, _TAG))


def unescaped(text: pa.Array) -> pa.Array:
    """HTML character references decoded (twice, for text escaped twice) and tags dropped, in the
    values that have them: 'AT&amp;T' had the core 'at and amp t', not AT&T's 'at and t'."""
    escaped = pc.match_substring_regex(text, _ENTITY)
    if pc.any(escaped).as_py():
        values = [html.unescape(html.unescape(v)) for v in text.filter(escaped).to_pylist()]
        text = pc.replace_with_mask(text, escaped, pa.array(values, text.type))
    return fix(text, _TAG, " ")


_CLEANINGS = 4  # rounds of repair and cleaning at most (clean_array)


def clean_array(values: Iterable[object] | pa.Array, max_chars: int = MAX_NAME_CHARS) -> pa.Array:
    """Display form of every value: text decoded with the wrong charset repaired (`repaired`),
    HTML references decoded and tags dropped (`unescaped`), NFKC (full-width → half-width,
    （）→ ()), control characters dropped, traditional → simplified, 【】→ (), single spaces,
    trimmed. Cleaning clean text changes nothing: a value that still shows what a repair or a
    decoding takes once cleaned (a reference decoded into '&amp;', a control character dropped
    from between a misread pair) is repaired and cleaned again, at most `_CLEANINGS` times. One
    DFA test of every value before and after; the repairs see only the values it flags."""
    text = pc.utf8_slice_codeunits(_strings(values), 0, max_chars)
    suspect = pc.match_substring_regex(text, _SUSPECT)
    if pc.any(suspect).as_py():
        text = pc.replace_with_mask(text, suspect, unescaped(repaired(text.filter(suspect))))
    text = _cleaned_once(text)
    for _ in range(_CLEANINGS - 1):
        suspect = pc.match_substring_regex(text, _SUSPECT)
        if not pc.any(suspect).as_py():
            break
        subset = text.filter(suspect)
        fixed = unescaped(repaired(subset))
        if pc.all(pc.equal(fixed, subset)).as_py():
            break
        text = pc.replace_with_mask(text, suspect, _cleaned_once(fixed))
    return text


def _cleaned_once(text: pa.Array) -> pa.Array:
    text = pc.utf8_normalize(text, "NFKC")
    text = fix(text, r"[\t\n\r]", " ")
    text = fix(text, r"\pC", "")
    traditional = pc.match_substring_regex(text, _traditional_class())
    if pc.any(traditional).as_py():
        subset = text.filter(traditional).to_pylist()
        simplified = _SEP.join(subset).translate(_t2s_table()).split(_SEP)
        text = pc.replace_with_mask(text, traditional, pa.array(simplified, pa.string()))
    text = fix(text, r"\s\s+|[\t\n\r\f\v]", " ")
    return pc.utf8_trim(text, " \t\r\n,;")


def fix(text: pa.Array, pattern: str, replacement: str) -> pa.Array:
    """Regex replace on only the values that need it (a DFA match is far cheaper than a replace)."""
    mask = pc.match_substring_regex(text, pattern)
    if not pc.any(mask).as_py():
        return text
    return pc.replace_with_mask(text, mask, pc.replace_substring_regex(text.filter(mask), pattern, replacement))


@lru_cache(maxsize=1)
def _traditional_class() -> str:
    chars = sorted(chr(c) for c in _t2s_table())
    return "[" + "".join(re.escape(c) for c in chars) + "]"


def core_key_array(text: pa.Array) -> pa.Array:
    """Comparison form of core names: lower-case, '&' as 'and', punctuation and spaces folded."""
    text = fix(pc.utf8_lower(text), "&", " and ")
    mask = pc.match_substring_regex(text, r"[^\p{L}\p{N} ]|  |^ | $")
    if pc.any(mask).as_py():
        folded = pc.replace_substring_regex(text.filter(mask), r"[^\p{L}\p{N}]+", " ")
        text = pc.replace_with_mask(text, mask, pc.utf8_trim_whitespace(folded))
    return fix(fix_words(_without_accents(text), ABBREVIATIONS), *PLURAL)


def _without_accents(text: pa.Array) -> pa.Array:
    """Latin letters without their accents ('tüv süd' → 'tuv sud', 'lachaussée' → 'lachaussee'),
    only in values holding accented Latin letters: kana and hangul are left whole."""
    mask = pc.match_substring_regex(text, r"[\x{c0}-\x{24f}\x{1e00}-\x{1eff}]")
    if not pc.any(mask).as_py():
        return text
    plain = pc.utf8_normalize(pc.replace_substring_regex(pc.utf8_normalize(text.filter(mask), "NFKD"), r"\p{Mn}", ""),
                              "NFC")
    return pc.replace_with_mask(text, mask, plain)


def fix_words(text: pa.Array, words: dict[str, str]) -> pa.Array:
    """Whole words replaced by their one spelling ('tech' → 'technology'), on only the values
    holding one (a DFA test first; the few hits are rewritten in Python)."""
    pattern = r"\b(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b"
    mask = np.asarray(pc.match_substring_regex(text, pattern), dtype=bool)
    if not mask.any():
        return text
    compiled = re.compile(pattern)
    fixed = [compiled.sub(lambda m: words[m.group(0)], v) for v in text.filter(pa.array(mask)).to_pylist()]
    return pc.replace_with_mask(text, pa.array(mask), pa.array(fixed, pa.string()))


def language_array(display: pa.Array) -> pa.Array:
    han = pc.match_substring_regex(display, _HAN)
    latin = pc.match_substring_regex(display, "[A-Za-z]")
    lang = np.where(np.asarray(han) & np.asarray(latin), "mixed",
                    np.where(np.asarray(han), "zh", np.where(np.asarray(latin), "en", "")))
    return pa.array(lang, type=pa.string())


@dataclass(frozen=True)
class ParsedName:
    display: str
    core: str
    legal_form: str
    is_branch: bool
    province: str | None
    city: str | None
    lang: str
    flags: tuple[str, ...] = ()


def _strip_zh_form(text: pa.Array, active: np.ndarray) -> tuple[np.ndarray, pa.Array, pa.Array]:
    """(mask, rest, form) for names ending in a Chinese legal form (longest form wins)."""
    n = len(text)
    length = np.asarray(pc.utf8_length(text))
    size = np.zeros(n, dtype=np.int64)
    for form in _ZH_BY_LENGTH:
        hit = np.asarray(pc.ends_with(text, form)) & (size == 0) & active & (length > len(form))
        size[hit] = len(form)
    mask = size > 0
    rest, found = text, pa.nulls(n, pa.string()).fill_null("")
    for k in np.unique(size[mask]):
        part = pa.array(size == k)
        rest = pc.if_else(part, pc.utf8_slice_codeunits(text, 0, -int(k)), rest)
        found = pc.if_else(part, pc.utf8_slice_codeunits(text, -int(k)), found)
    return mask, rest, found


_GLUED = r"^(?P<rest>.+?)\s*,\s*(?P<place>[^\W\d_][^,.()&/\d]{1,40})$"
# 'S. A.', 's. r. o.' → 'S.A.', 's.r.o.' (applied twice); the last letter may have lost its dot
# with the name's trailing punctuation ('… s. r. o' at the end of a name).
_SPACED = r"(?i)\b([a-z])\. ([a-z])(?:\.|$)"
_ACRONYM = re.compile(r"^[A-Z][A-Z0-9&]{1,7}$")
_DASHED = r"^(?P<rest>.+?)\s+[-–]\s+(?P<place>[A-Z][A-Z0-9&]{1,7})$"
_BRACKETED = r"^(?P<rest>.+?)\s*\((?P<place>[^()]{2,40})\)$"
# '(now part of Emerson)', '(formerly Racal)', '(a Teledyne company)': a note on the firm's
# owner or past name after the name, not part of it.
_NOTE = re.compile(r"(?i)^(?:now\b|formerly\b|former\b|previously\b|part of\b|(?:a|an) (?:subsidiary|division|member|unit) of\b"
                   r"|(?:a|an) .+ (?:company|group company)$)")
_NOT_PLACE = re.compile(r"\b(?:branch|office|division|plant|factory|dept|department)\b")
_ENDS_IN_FORM = r"(?i)[\s,]" + _EN_FORMS + r"\.?$"
# A name in quotes, whole (its opening quote may be trimmed off already): what follows its comma
# is not part of it ('"Lakyt Tra.", MONTERREY').
_QUOTED = r"^(?:\s*\*?\s*[\"“«])?[^\"“”«»]+[\"”»]$"


@lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    """Country names and codes, lower-case, as written after a name ('…, NL', '…, Germany')."""
    import pycountry

    names = {"uk", "usa", "u.s.a", "u.s", "holland", "england", "scotland", "korea", "russia", "taiwan"}
    for c in pycountry.countries:
        names |= {c.alpha_2.lower(), c.alpha_3.lower(), c.name.lower(), getattr(c, "common_name", c.name).lower(),
                  getattr(c, "official_name", c.name).lower()}
    names |= {"czech republic", "turkey", "south korea", "vietnam", "the netherlands", "united states of america"}
    return frozenset(names)


def _acronym_of(acronym: str, name: str) -> bool:
    """Whether `acronym` ('SNC', 'UNISA') can stand for `name` ('Sierra Nevada Corporation',
    'University of South Australia'): it begins with the name's initial. In capitals '(NORTH)'
    after 'MARY CRANE CENTER' is a site, not an acronym."""
    return _ACRONYM.match(acronym) is not None and " " in name and acronym[0] == name.lstrip(" *\"'")[:1].upper()


def _spells(acronym: str, words: str) -> bool:
    """Whether `acronym` ('SMI') is the initials of `words` ('Scientific Management
    International'), letter for letter ('NI' is not 'now part of Emerson')."""
    initials = "".join(w[0] for w in re.findall(r"[^\W\d_]+", words) if w[0].isupper())
    return _ACRONYM.match(acronym) is not None and len(acronym) >= 2 and acronym == initials


def _strip_glued_place(name: pa.Array, where: np.ndarray) -> pa.Array:
    """A country or city written after the name: '… (Spain)', '…, NL', a note in brackets
    ('NI (now part of Emerson)'), '…,Germany', and any
    place after a legal form, after a name quoted whole, or in capitals after a name that is not
    ('Akzo Nobel N.V., AMSTERDAM', '"Lakyt Tra.", MONTERREY', 'Jynran Trading, PARIS'). Another
    comma part that is not a country stays ('Chicago Public Schools Revere, Paul')."""
    found, (rest, place) = extract_where(name, _BRACKETED, ("rest", "place"), where=where)
    if found.any():  # '… S.A. (Spain)', 'Sierra Nevada Corporation (SNC)': a country or an acronym in brackets
        rows = np.flatnonzero(found)
        before = rest.take(pa.array(rows)).to_pylist()
        is_country = np.asarray([p.lower().strip(" .") in _countries() or _acronym_of(p, b) or _NOTE.match(p) is not None
                                 for p, b in zip(place.take(pa.array(rows)).to_pylist(), before, strict=True)])
        mask = np.zeros(len(name), dtype=bool)
        mask[rows[is_country]] = True
        name = pc.replace_with_mask(name, pa.array(mask), rest.filter(pa.array(mask)))
        # 'SMI (Scientific Management International)': an acronym and, in brackets, what it spells.
        expanded = np.asarray([_spells(b, p) for p, b in zip(place.take(pa.array(rows)).to_pylist(), before,
                                                              strict=True)], dtype=bool) & ~is_country
        mask = np.zeros(len(name), dtype=bool)
        mask[rows[expanded]] = True
        name = pc.replace_with_mask(name, pa.array(mask), place.filter(pa.array(mask)))
    # 'Research Electronics International - REI': the name and, after a dash, its own initials.
    found, (rest, place) = extract_where(name, _DASHED, ("rest", "place"), where=where)
    if found.any():
        rows = np.flatnonzero(found)
        spelled = np.asarray([_spells(p, r) for p, r in zip(place.take(pa.array(rows)).to_pylist(),
                                                             rest.take(pa.array(rows)).to_pylist(), strict=True)], dtype=bool)
        mask = np.zeros(len(name), dtype=bool)
        mask[rows[spelled]] = True
        name = pc.replace_with_mask(name, pa.array(mask), rest.filter(pa.array(mask)))
    found, (rest, place) = extract_where(name, _GLUED, ("rest", "place"), where=where)
    if not found.any():
        return name
    rows = np.flatnonzero(found)
    rest_rows, place_rows = rest.take(pa.array(rows)), place.take(pa.array(rows))
    places = [p.lower().strip(" .") for p in place_rows.to_pylist()]
    closed = (np.asarray(pc.match_substring_regex(rest_rows, _ENDS_IN_FORM), dtype=bool)  # by a legal form or a quote
              | np.asarray(pc.match_substring_regex(rest_rows, _QUOTED), dtype=bool))
    place_is_form = np.asarray(pc.match_substring_regex(place_rows, _ONLY_FORMS), dtype=bool)
    short = np.asarray([len(p.split()) <= 3 and not _NOT_PLACE.search(p) for p in places], dtype=bool)
    country = np.asarray([p in _countries() for p in places], dtype=bool)
    # A place in capitals after a name that is not ('Jynran Trading, PARIS'): lists write the
    # city that way; a name's own comma part follows its case ('… Revere, Paul').
    shouted = (np.asarray(pc.utf8_is_upper(place_rows), dtype=bool)
               & np.asarray(pc.match_substring_regex(rest_rows, r"\p{Ll}"), dtype=bool))
    strip = ~place_is_form & (country | ((closed | shouted) & short))
    mask = np.zeros(len(name), dtype=bool)
    mask[rows[strip]] = True
    return pc.replace_with_mask(name, pa.array(mask), rest_rows.filter(pa.array(strip)))


def text_objects(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Arrow text as an object array (None where missing) with one Python string per distinct
    value, each row pointing at it: converted row by row, a million rows of names, industry
    words and street keys made a string per row, hundreds of MB of copies of a few values."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    encoded = pc.dictionary_encode(array)
    distinct = np.empty(len(encoded.dictionary) + 1, dtype=object)  # the last, None: missing
    distinct[:-1] = encoded.dictionary.to_pylist()
    return distinct[encoded.indices.fill_null(len(encoded.dictionary)).to_numpy(zero_copy_only=False)]


def _objects(array: pa.Array) -> np.ndarray:
    return np.asarray(array.to_pylist(), dtype=object) if len(array) else np.empty(0, dtype=object)


def _where(mask: np.ndarray, new: pa.Array, old: pa.Array) -> pa.Array:
    return pc.if_else(pa.array(mask, type=pa.bool_()), new, old)


def _trimmed(text: pa.Array) -> pa.Array:
    """`text` without the noise around it (_STRIP_CHARS), kept as it was where nothing else is left."""
    trimmed = pc.utf8_trim(text, _STRIP_CHARS)
    return _where(np.asarray(pc.equal(trimmed, "")), text, trimmed)


def _first_set(current: np.ndarray, new: np.ndarray) -> np.ndarray:
    return np.where(pd.isna(current), new, current)


# A stand number an exhibitor list wrote into the name, at its end: in brackets ('Siemens AG (Stand
# 3-105)', '华为技术有限公司(展位号:A12)', brackets made ASCII by clean_array), or after a comma or a
# dash ('Bosch GmbH, Hall A1', '… - Booth #1234'; Chinese words after a space too). The note must
# name a stand, a booth or a hall and hold a digit: 'Carnegie Hall Inc', 'Hall & Partners' stay.
_STAND_WORD_EN = r"(?:stand|booth|hall|halle|pavilion)(?:\s*(?:no|nr|number)\.?)?"
_STAND_WORD_ZH = r"(?:展位号?|展台号?|摊位号?|展馆|馆号)"
_STAND_CODE = r"\s*[:#.]?\s*[\w\-./ ]*[0-9][\w\-./]*"
_STAND_NOTE = (r"(?i)\s*(?:\(\s*(?:" + _STAND_WORD_EN + r"|" + _STAND_WORD_ZH + r")[^()]*[0-9][^()]*\)"
               r"|[,;\-–]\s*" + _STAND_WORD_EN + _STAND_CODE
               + r"|[,;\-–\s]\s*" + _STAND_WORD_ZH + _STAND_CODE + r")$")


def without_stand_notes(text: pa.Array) -> pa.Array:
    """Names without a stand number written at their end (`_STAND_NOTE`), when a name is left."""
    for _ in range(3):  # ('… (Hall 3) (Stand 12)': one note at a time, from the end)
        noted = pc.match_substring_regex(text, _STAND_NOTE)  # (a DFA match first: few names have one)
        if not pc.any(noted).as_py():
            break
        some = text.filter(noted)
        kept = pc.replace_substring_regex(some, _STAND_NOTE, "")
        kept = pc.if_else(pc.match_substring_regex(kept, r"\S"), kept, some)
        if pc.all(pc.equal(kept, some)).as_py():
            break
        text = pc.replace_with_mask(text, noted, kept)
    return text


# A Chinese and an English name in one field, as Chinese exhibitor lists give them ('深圳市华强电子
# 有限公司 Shenzhen Huaqiang Electronics Co., Ltd.', the English first, or in brackets): the Chinese
# part has no Latin letter and two Han characters or more, the English part no Han character and
# two words or more, so that 'TCL科技集团', '华为 Huawei' and '深圳市TP-LINK科技有限公司' stay whole.
_ZH_PART = r"[^A-Za-z]*\p{Han}[^A-Za-z]*\p{Han}[^A-Za-z]*?"
_EN_PART = r"[A-Za-z][^\p{Han}()]*?[A-Za-z0-9.][^\p{Han}()]*?\s[^\p{Han}()]*?[A-Za-z0-9.)]"
_BILINGUAL = [
    r"^(?P<zh>" + _ZH_PART + r")\s*(?:[/|,;:]\s*)?\(?\s*(?P<en>" + _EN_PART + r")\s*\)?$",
    r"^(?P<en>" + _EN_PART + r")\s*(?:[/|,;:]\s*)?\(?\s*(?P<zh>\p{Han}" + _ZH_PART + r")\s*\)?$",
]


def bilingual_parts(values: Iterable[object] | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(the Chinese name, the English name) of each value that gives both (`_BILINGUAL`), as
    clean display text; None for the others. A record whose name field gives both is compared by
    its Chinese name and, as its second name, its English one: whole, it was a name of neither
    language (core '华强电子有限公司 shenzhen huaqiang electronic') and met neither spelling alone."""
    raw = _strings(values)
    zh, en = np.full(len(raw), None, dtype=object), np.full(len(raw), None, dtype=object)
    # Only names in both scripts are cleaned and tried (full-width Latin letters count: NFKC
    # makes them Latin): most names are in one, and cleaning is most of the cost.
    both = np.flatnonzero(np.asarray(pc.and_(pc.match_substring_regex(raw, r"\p{Han}"),
                                             pc.match_substring_regex(raw, r"[A-Za-z\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}]"))
                                     .fill_null(False), dtype=bool))
    if not len(both):
        return zh, en
    text = without_stand_notes(clean_array(raw.take(pa.array(both))))
    todo = np.ones(len(text), dtype=bool)
    for pattern in _BILINGUAL:
        found, (zh_part, en_part) = extract_where(text, pattern, ("zh", "en"), where=todo)
        if found.any():
            zh[both[found]] = pc.utf8_trim(zh_part.filter(pa.array(found)), " ,;:/|").to_pylist()
            en[both[found]] = pc.utf8_trim(en_part.filter(pa.array(found)), " ,;:/|").to_pylist()
            todo &= ~found
    return zh, en


# A foreign group's company in China names the country in brackets, as a Chinese one names its city
# (西门子(中国)有限公司, Siemens (China) Co., Ltd.; 华强电子(深圳)有限公司): a place, not the name.
_CHINA_BRACKETED = r"(?i)\s*\(\s*(?:中国|中华人民共和国|china|p\.?\s?r\.?\s?c\.?)\s*\)\s*"

# What forms and exports put where no name was entered: no name, not a company called 'N/A'.
_PLACEHOLDERS = pa.array(["n/a", "na", "n.a", "none", "null", "nil", "nan", "unknown", "tbd", "tba", "-", "--", "---",
                          "?", "select", "please select", "未知", "无", "暂无", "不详", "请选择", "未选择", "待定", "空"])


def parse_names(values: Iterable[object] | pa.Array) -> pd.DataFrame:
    """Every name parsed: columns display, core, legal_form, is_branch, province, city, lang and
    flags (';'-joined: name_empty, name_truncated, name_only_legal_form). One row per value. A
    placeholder ('N/A', '请选择', `_PLACEHOLDERS`) is no name: empty, flagged name_empty."""
    raw = _strings(values)
    n = len(raw)
    truncated = np.asarray(pc.greater(pc.utf8_length(raw), MAX_NAME_CHARS))
    display = without_stand_notes(clean_array(raw))
    placeholder = pc.is_in(pc.utf8_lower(pc.utf8_trim(display, " .")), value_set=_PLACEHOLDERS)
    display = pc.if_else(placeholder, "", display)
    empty = np.asarray(pc.equal(display, ""))
    name = _trimmed(display)
    only_form = np.asarray(pc.match_substring_regex(name, _ONLY_FORMS)) & ~empty
    # Trimmed again: the quote that closed a quoted name before its place ('"United … Ltd",
    # JOHANNESBURG') goes too.
    name = _trimmed(_strip_glued_place(fix(fix(name, _SPACED, r"\1.\2."), _SPACED, r"\1.\2."), latin(name) & ~only_form))
    reg = regions()
    name = _trimmed(fix(name, _CHINA_BRACKETED, " "))
    name, bracket_prov, bracket_city = reg.strip_bracketed_array(name)
    is_branch = np.zeros(n, dtype=bool)
    branch_prov = np.full(n, None, dtype=object)
    branch_city = np.full(n, None, dtype=object)
    legal = np.full(n, "", dtype=object)
    active = ~(empty | only_form)
    han = np.asarray(pc.match_substring_regex(name, _HAN), dtype=bool)
    is_latin = latin(name)
    for _ in range(3):  # "华强电子有限公司深圳分公司", "X Co., Ltd. Shanghai Branch"
        # Only names that still end in a legal form or a branch word are worked on (a cheap DFA test).
        active &= np.asarray(pc.match_substring_regex(name, _ANY_TAIL), dtype=bool)
        rows = np.flatnonzero(active)
        if not len(rows):
            break
        sub = name.take(pa.array(rows))
        sub_han, sub_latin = han[rows], is_latin[rows]
        zh_branch, (zh_rest,) = extract_where(sub, _ZH_BRANCH_TAIL, ("rest",), where=sub_han)
        en_branch, (en_rest,) = extract_where(sub, _EN_BRANCH_TAIL, ("rest",), where=sub_latin & ~zh_branch)
        branch = zh_branch | en_branch
        if branch.any():
            rest, prov, city = reg.strip_suffix_array(pc.utf8_trim(pc.if_else(pa.array(zh_branch), zh_rest, en_rest),
                                                                   _STRIP_CHARS))
            hit = rows[branch]
            is_branch[hit] = True
            branch_prov[hit] = np.where(pd.isna(branch_prov[hit]), prov[branch], branch_prov[hit])
            branch_city[hit] = np.where(pd.isna(branch_city[hit]), city[branch], branch_city[hit])
            sub = _where(branch, pc.utf8_trim(rest, _STRIP_CHARS), sub)
        zh, zh_rest, zh_form = _strip_zh_form(sub, ~branch)
        en, (en_rest, en_form) = extract_where(pc.utf8_reverse(pc.utf8_lower(sub)), _EN_FORM_REVERSED, ("rest", "form"),
                                               where=sub_latin & ~zh & ~branch)
        en_rest = pc.utf8_reverse(en_rest)
        form = _where(zh, zh_form, pc.utf8_reverse(pc.utf8_trim(en_form, " ,")))
        stripped = zh | en
        for k, text in zip(rows[stripped], form.filter(pa.array(stripped)).to_pylist(), strict=True):
            legal[k] = f"{text} {legal[k]}" if legal[k] else text  # innermost form first: "集团 有限公司"
        sub = _where(zh, pc.utf8_trim(zh_rest, _STRIP_CHARS), _where(en, pc.utf8_trim(en_rest, _STRIP_CHARS), sub))
        mask = np.zeros(n, dtype=bool)
        mask[rows] = True
        name = pc.replace_with_mask(name, pa.array(mask), sub)
        active[rows] = branch | stripped
    rest, province, city = reg.strip_prefix_array(name)
    # A place followed by two characters is a name, not a place and a trade name: 江苏银行,
    # 南京医药, 上海证券 keep their place (the rest is an industry word every region has), while
    # 深圳市华强电子 loses it. Without this every regional bank had the core 银行.
    generic = np.asarray(pc.and_(pc.and_(pc.not_equal(rest, name), pc.less_equal(pc.utf8_length(rest), 2)),
                                 pc.match_substring_regex(rest, r"^\p{Han}+$")), dtype=bool)
    rest = _where(generic, name, rest)
    # A branch is located where the branch is ("…上海分公司" is a Shanghai buyer).
    province = _first_set(_first_set(branch_prov, province), bracket_prov)
    city = _first_set(_first_set(branch_city, city), bracket_city)
    core = core_key_array(rest)
    for fallback in (name, display):
        missing = np.asarray(pc.equal(core, ""), dtype=bool)
        if missing.any():
            core = pc.replace_with_mask(core, pa.array(missing), core_key_array(fallback.filter(pa.array(missing))))
    flags = np.full(n, "", dtype=object)
    flags[empty] = "name_empty"
    flags[only_form] = "name_only_legal_form"
    flags[truncated] = ["name_truncated" + (";" + f if f else "") for f in flags[truncated]]
    degenerate = only_form | empty
    frame = pd.DataFrame({
        "display": _objects(display),
        "core": _objects(core),
        "legal_form": np.where(degenerate, "", legal),
        "is_branch": is_branch & ~degenerate,
        "province": np.where(degenerate, None, province),
        "city": np.where(degenerate, None, city),
        "lang": _objects(language_array(display)),
        "flags": flags,
    })
    return frame


def names_cores_places(values: Iterable[object]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the display form, the core, the place) of every name, None for missing names and empty
    results: one Arrow pass for all (statements and outcomes are matched on each). The place is
    the city the name gives (深圳市华强电子: 深圳市), else its province, else None. A name that
    gives the Chinese and the English name is its Chinese one, as records' are (`bilingual_parts`)."""
    values = list(values)
    if not values:  # an empty column (a header-only outcomes file): the Arrow path has nothing to write to
        return np.empty(0, dtype=object), np.empty(0, dtype=object), np.empty(0, dtype=object)
    chinese, _ = bilingual_parts(values)
    parsed = parse_names([c if c is not None else v for c, v in zip(chinese, values, strict=True)])
    missing = np.asarray([not isinstance(v, str) for v in values], dtype=bool)
    display, cores = (parsed[c].to_numpy(dtype=object) for c in ("display", "core"))
    display[missing | (display == "")] = None
    cores[missing | (cores == "")] = None
    places = np.array(parsed["city"].where(parsed["city"].notna(), parsed["province"]), dtype=object)
    places[missing | pd.isna(places) | (places == "")] = None
    return display, cores, places


def names_and_cores(values: Iterable[object]) -> tuple[np.ndarray, np.ndarray]:
    """(the display form, the core) of every name (`names_cores_places` without the place)."""
    display, cores, _ = names_cores_places(values)
    return display, cores


def name_cores(values: Iterable[object]) -> np.ndarray:
    """The core of every name (None for missing or empty names): what names are matched on.
    Use this, not `parse_name` in a loop, for columns: one Arrow pass instead of one per name."""
    return names_and_cores(values)[1]


def chinese_name_cores(leads: pd.DataFrame) -> np.ndarray:
    """The core of each lead's Chinese name: the `name_core_zh` golden records carry, else
    parsed from `company_name_zh` (leads read back from the warehouse)."""
    if "name_core_zh" in leads.columns:
        return leads["name_core_zh"].to_numpy(dtype=object)
    return name_cores(leads["company_name_zh"])


@lru_cache(maxsize=100_000)
def parse_name(raw: object) -> ParsedName:
    """`parse_names` of one value (cached; for columns use `parse_names`, far cheaper per name)."""
    row = parse_names([raw]).iloc[0]
    return ParsedName(
        display=row["display"], core=row["core"], legal_form=row["legal_form"], is_branch=bool(row["is_branch"]),
        province=row["province"], city=row["city"], lang=row["lang"],
        flags=tuple(f for f in row["flags"].split(";") if f),
    )
