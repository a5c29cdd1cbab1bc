"""Company names in Chinese and English, reduced to what identifies the company.

`parse_name` cleans a name for display (full-width → half-width, traditional → simplified,
（）→ (), spacing) and splits it into a core that names are compared on, a legal form
(有限公司, Co., Ltd., GmbH …), a branch flag (分公司 / branch are kept, never discarded, because a
branch is a different buyer), and the province and city that prefixes or brackets name.
Pure functions: idempotent, and they never raise on any string.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from leadrank.transform.regions import regions

MAX_NAME_CHARS = 300  # longer values are cut (and flagged) before parsing

# Longest first: the first match at the end of a name wins.
ZH_LEGAL_FORMS = [
    "集团股份有限公司", "集团有限责任公司", "集团有限公司", "股份有限公司", "有限责任公司",
    "(特殊普通合伙)", "(普通合伙)", "(有限合伙)", "股份合作公司", "有限公司", "集团公司", "总公司",
    "合伙企业", "集团", "公司",
]
EN_LEGAL_FORMS = [
    "gmbh & co. kg", "gmbh & co kg", "sp. z o.o.", "sp. z o. o.", "s.a. de c.v.", "sa de cv",
    "company limited", "co., limited", "co.,limited", "co., ltd.", "co., ltd", "co.,ltd.", "co.,ltd",
    "co. ltd.", "co. ltd", "co ltd", "pte. ltd.", "pte ltd", "pty. ltd.", "pty ltd", "pvt. ltd.", "pvt ltd",
    "private limited", "public limited company", "limited liability company",
    "incorporated", "corporation", "limited", "company", "l.l.c.", "s.p.a.", "s.r.l.", "s.a.s.", "s.r.o.",
    "gmbh", "ltd.", "ltd", "inc.", "inc", "corp.", "corp", "llc", "plc", "ag", "kg", "se", "s.a.", "sa",
    "spa", "srl", "sas", "sarl", "b.v.", "bv", "n.v.", "nv", "oy", "oyj", "ab", "as", "a/s", "asa",
    "a.s.", "jsc", "ojsc", "pjsc", "cjsc", "ltda", "ltda.", "kk", "k.k.", "co.", "co",
]
_EN_FORM_ALT = "|".join(re.escape(f) for f in sorted(EN_LEGAL_FORMS, key=len, reverse=True))
_EN_FORMS_RE = re.compile(r"(?:[\s,]+(?:" + _EN_FORM_ALT + r"))+\.?$", re.I)
_EN_FORMS_ONLY = re.compile(r"[\s,]*(?:(?:" + _EN_FORM_ALT + r")[\s,]*)+\.?", re.I)
_ZH_FORMS_RE = re.compile("(?:" + "|".join(re.escape(f) for f in ZH_LEGAL_FORMS) + ")+$")
_ZH_BRANCH = re.compile(r"(?:分公司|分厂|分店|办事处|分行|支行|分部|营业部)$")
_EN_BRANCH = re.compile(r"[\s,(-]+(?:branch(?:\s+office)?|representative office|rep\. office)\)?$", re.I)
_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^\w]+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_STRIP_CHARS = " \t\r\n.,;:-_/|*·'\"“”‘’"


@lru_cache(maxsize=1)
def _t2s_table() -> dict[int, str]:
    """Character-level traditional → simplified table from OpenCC's TSCharacters dictionary."""
    table: dict[int, str] = {}
    text = (resources.files("opencc") / "dictionary" / "TSCharacters.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 1:
            table[ord(parts[0])] = parts[1]
    return table


def to_simplified(text: str) -> str:
    return text.translate(_t2s_table())


def clean(text: str | None) -> str:
    """Display form: NFKC (full-width → half-width, （）→ ()), simplified, single spaces."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", str(text)[:MAX_NAME_CHARS])
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\t\n")
    text = to_simplified(text)
    text = text.replace("【", "(").replace("】", ")").replace("〔", "(").replace("〕", ")")
    return _SPACES.sub(" ", text).strip(" \t\r\n,;")


def language(text: str) -> str:
    han, latin = bool(_HAN.search(text)), bool(_LATIN.search(text))
    return "mixed" if han and latin else "zh" if han else "en" if latin else ""


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


def _split_legal_form(name: str) -> tuple[str, str]:
    match = _ZH_FORMS_RE.search(name)
    if match and match.start() > 0:
        return name[: match.start()].rstrip(" ,"), match.group(0)
    match = _EN_FORMS_RE.search(name)
    if match and match.start() > 0:
        return name[: match.start()].rstrip(" ,"), match.group(0).strip(" ,").lower()
    return name, ""


def core_key(text: str) -> str:
    """Comparison form of a core name: lower-case, punctuation and spaces folded."""
    return _SPACES.sub(" ", _NON_WORD.sub(" ", text.lower().replace("&", " and "))).strip().replace("_", " ")


@lru_cache(maxsize=200_000)
def parse_name(raw: str | None) -> ParsedName:
    flags: list[str] = []
    if raw is not None and len(str(raw)) > MAX_NAME_CHARS:
        flags.append("name_truncated")
    display = clean(raw)
    if not display:
        return ParsedName("", "", "", False, None, None, "", tuple(flags + ["name_empty"]))
    name = display.strip(_STRIP_CHARS) or display
    if _ZH_FORMS_RE.fullmatch(name) or _EN_FORMS_ONLY.fullmatch(name):
        return ParsedName(display, core_key(display), "", False, None, None, language(display), tuple(flags + ["name_only_legal_form"]))
    # Bracketed regions go first: "华强电子(深圳)有限公司" has its legal form after them.
    name, *bracket_region = regions().strip_bracketed(name)
    is_branch = False
    branch_region: tuple[str | None, str | None] = (None, None)
    legal_forms: list[str] = []
    for _ in range(3):  # "华强电子有限公司深圳分公司", "X Co., Ltd. Shanghai Branch"
        branch = _ZH_BRANCH.search(name) or _EN_BRANCH.search(name)
        if branch and branch.start() > 0:
            is_branch = True
            name, *branch_region = regions().strip_suffix(name[: branch.start()].strip(_STRIP_CHARS))
            name = name.strip(_STRIP_CHARS)
            continue
        rest, form = _split_legal_form(name)
        if form:
            legal_forms.insert(0, form)
            name = rest.strip(_STRIP_CHARS)
            continue
        break
    rest, province, city = regions().strip_prefix(name)
    # A branch is located where the branch is ("…上海分公司" is a Shanghai buyer).
    province = branch_region[0] or province or bracket_region[0]
    city = branch_region[1] or city or bracket_region[1]
    core = core_key(rest) or core_key(name) or core_key(display)
    return ParsedName(
        display=display,
        core=core,
        legal_form=" ".join(legal_forms),
        is_branch=is_branch,
        province=province,
        city=city,
        lang=language(display),
        flags=tuple(flags),
    )
