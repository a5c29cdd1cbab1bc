"""Legal forms of companies outside China, and the noise written around names.

The table is cleanco's (its per-country and per-type terms: GmbH, N.V., S.p.A., Oy, Sp. z o.o.,
K.K. …, about 320 of them) plus our own additions for forms cleanco lacks or spells one way
only. Dotted forms are also listed without their last dot, because names are trimmed of
trailing punctuation before forms are stripped ("Akzo Nobel N.V." arrives as "Akzo Nobel N.V"),
and from three letters on without any dots ("SRO", "SPA").
Two-letter terms cleanco lists that are ordinary words or place codes ("at", "ok", "et") are
left out: stripping them would eat real name words.

Abbreviations (and a few US/UK spellings) are folded to one spelling on the comparison key only,
never on the display name, so "Taiprei Tech." and "Taiprei Technologies", "ABC Intl" and "ABC
International" share a core. Only the unambiguous ones ("eng" could be English); "Ind." in a
company name is Industries nearly always.
"""

from __future__ import annotations

import re
from functools import lru_cache

import cleanco.termdata

# Forms cleanco lacks or writes one way only; 'group', 'holdings' and the country tags are not
# legal forms but say as little about who the company is.
OWN_FORMS = [
    "gmbh & co. kg", "gmbh & co kg", "sp. z o.o.", "sp. z o. o.", "sp.z o.o.", "sp z oo", "s.a. de c.v.", "sa de cv",
    "s.à r.l.", "s.a r.l.", "s.àr.l.", "sàrl", "s.a.r.l.", "sarl", "company limited", "co., limited", "co.,limited",
    "co., ltd.", "co., ltd", "co.,ltd.", "co.,ltd", "co. ltd.", "co. ltd", "co ltd", "pte. ltd.", "pte ltd",
    "pty. ltd.", "pty ltd", "pty. limited", "pty limited", "(pty) ltd", "(pty) limited", "(pty)", "pvt. ltd.", "pvt ltd", "private limited",
    "public limited company", "limited liability company", "incorporated", "corporation", "limited", "company",
    "l.l.c.", "s.p.a.", "spa", "s.r.l.", "srl", "s.a.s.", "sas", "s.r.o.", "gmbh", "ltd.", "ltd", "inc.", "inc",
    "corp.", "corp", "llc", "plc", "p.l.c.", "ag", "kg", "se", "s.a.", "sa", "b.v.", "bv", "n.v.", "nv",
    "oy", "oyj", "ab", "ab (publ)", "(publ)", "as", "a/s", "asa", "a.s.", "jsc", "ojsc", "pjsc", "cjsc",
    "ltda", "ltda.", "kk", "k.k.", "co.", "co", "s.l.", "sl", "s.l.u.", "slu", "bhd", "sdn bhd", "sdn. bhd.", "ltd. şti.", "ltd şti", "ltd. sti.", "ltd sti", "a.ş.", "a.s.", "s.a. de c.v.",
    "sa de cv", "s. de r.l. de c.v.",
    "group", "grp", "gruppe", "groupe", "grupo", "gruppo", "holdings", "holding", "uk", "(uk)", "usa", "(usa)",
    # 股份有限公司 in English: a joint-stock company limited ('… Auto Parts Stock Co., Ltd.'); left
    # in the core, 'stock' hid the industry and the pinyin that meet the Chinese name.
    *(f"{stock} {co}" for stock in ("stock", "joint stock", "joint-stock", "shares", "share")
      for co in ("co., ltd.", "co., ltd", "co.,ltd.", "co.,ltd", "co. ltd.", "co. ltd", "co ltd", "company limited",
                 "co., limited", "co.,limited")),
    "joint stock company", "joint-stock company", "company limited by shares", "co., ltd. by shares",
]

# Forms written out in full, as registers and some lists write them, with the countries that use
# them (cleanco has the abbreviations only); accented and plain spellings; and forms cleanco lacks.
SPELLED_OUT_FORMS = {
    "aktiebolag": {"Sweden", "Finland"}, "aktiengesellschaft": {"Germany", "Austria", "Switzerland"},
    "aktieselskab": {"Denmark"}, "aksjeselskap": {"Norway"}, "allmennaksjeselskap": {"Norway"},
    "anpartsselskab": {"Denmark"}, "osakeyhtiö": {"Finland"}, "osakeyhtio": {"Finland"},
    "julkinen osakeyhtiö": {"Finland"}, "julkinen osakeyhtio": {"Finland"},
    "besloten vennootschap": {"Netherlands", "Belgium"}, "naamloze vennootschap": {"Netherlands", "Belgium"},
    "gesellschaft mit beschränkter haftung": {"Germany", "Austria", "Switzerland"},
    "gesellschaft mit beschraenkter haftung": {"Germany", "Austria", "Switzerland"},
    "société anonyme": {"France", "Belgium", "Switzerland", "Luxemborg", "Greece"},
    "societe anonyme": {"France", "Belgium", "Switzerland", "Luxemborg", "Greece"},
    "société à responsabilité limitée": {"France", "Belgium", "Switzerland", "Luxemborg"},
    "societe a responsabilite limitee": {"France", "Belgium", "Switzerland", "Luxemborg"},
    "société par actions simplifiée": {"France"}, "societe par actions simplifiee": {"France"},
    "sociedad anónima": {"Spain", "Mexico", "Argentina", "Chile", "Columbia", "Peru"},
    "sociedad anonima": {"Spain", "Mexico", "Argentina", "Chile", "Columbia", "Peru"},
    "sociedad limitada": {"Spain"}, "sociedad de responsabilidad limitada": {"Spain", "Mexico", "Argentina"},
    "sociedade anónima": {"Portugal", "Brazil"}, "sociedade anonima": {"Portugal", "Brazil"},
    "società per azioni": {"Italy"}, "societa per azioni": {"Italy"},
    "società a responsabilità limitata": {"Italy"}, "societa a responsabilita limitata": {"Italy"},
    "kabushiki kaisha": {"Japan"}, "godo kaisha": {"Japan"}, "yugen kaisha": {"Japan"},
    "anonim şirketi": {"Turkey"}, "anonim sirketi": {"Turkey"},
    "limited şirketi": {"Turkey"}, "limited sirketi": {"Turkey"},
    "proprietary limited": {"Australia", "South Africa"},
    # The free-zone forms of the United Arab Emirates (cleanco has none of them).
    "fze": {"United Arab Emirates"}, "f.z.e.": {"United Arab Emirates"}, "fzco": {"United Arab Emirates"},
    "fzc": {"United Arab Emirates"}, "fz-llc": {"United Arab Emirates"}, "fz llc": {"United Arab Emirates"},
    "fz-co": {"United Arab Emirates"}, "dmcc": {"United Arab Emirates"},
    "spółka z ograniczoną odpowiedzialnością": {"Poland"}, "spolka z ograniczona odpowiedzialnoscia": {"Poland"},
    "spółka akcyjna": {"Poland"}, "spolka akcyjna": {"Poland"},
    # Ireland's designated activity company (Companies Act 2014; cleanco lacks it).
    "dac": {"Ireland"}, "designated activity company": {"Ireland"},
}

# Cleanco two-letter terms that are also common words, initials or place codes.
_AMBIGUOUS = {"at", "ok", "et", "ps", "pp", "ud", "ks", "ba", "ky", "ei", "ay", "bl", "ik", "ij", "ad", "aj",
              "ae", "ep", "oe", "pt", "sd", "og", "lp", "sf", "fa", "da", "ev", "ee", "xt", "mb", "gp", "bm",
              "kd", "hb", "hf", "ec", "xk", "kb", "kf", "kt", "gk", "qk", "sp", "e.g.", "private", "unlimited"}

# Word → the one spelling compared (whole words of the lower-cased comparison key).
ABBREVIATIONS = {
    "tech": "technology", "techn": "technology", "technologies": "technology",
    "intl": "international", "int l": "international", "internat": "international",
    "mfg": "manufacturing", "engg": "engineering", "sys": "systems", "svcs": "services",
    "mgmt": "management", "natl": "national", "assoc": "associates", "bros": "brothers",
    "labs": "laboratories", "lab": "laboratories", "laboratory": "laboratories",
    "centre": "center", "defense": "defence", "trdg": "trading", "elec": "electronic", "solns": "solution",
    "semi": "semiconductor", "ind": "industries", "inds": "industries", "industry": "industries",
}
# A plural written either way ('Logistics' / 'Logistic', 'Solutions' / 'Solution'): the key
# drops the final s of words of five letters or more (not 'ss').
PLURAL = (r"\b([a-z]{3,}[a-rt-z])s\b", r"\1")
# An abbreviation's plural ('Techs', 'Assocs') is its word too: were it left to the plural step it
# would become the abbreviation ('tech'), which a second pass expands, so a key of a key would differ.
ABBREVIATIONS |= {f"{short}s": long for short, long in ABBREVIATIONS.items()
                  if re.fullmatch(PLURAL[0], f"{short}s") and f"{short}s" not in ABBREVIATIONS}


@lru_cache(maxsize=1)
def legal_forms() -> list[str]:
    """Every legal form, lower-case, with and without its last dot."""
    terms = {t.lower() for group in (*cleanco.termdata.terms_by_country.values(),
                                     *cleanco.termdata.terms_by_type.values()) for t in group}
    terms = {t.strip() for t in terms if t.isascii() or t.replace(".", "").replace(" ", "").isalpha()}
    forms = (terms - _AMBIGUOUS) | set(OWN_FORMS) | set(SPELLED_OUT_FORMS)
    # Initials written with a dot after every letter ('BVBA' as 'B.V.B.A.', 'SPRL' as 'S.P.R.L.').
    forms |= {".".join(f) + "." for f in forms if 3 <= len(f) <= 5 and f.isalpha() and f.isascii()}
    forms |= {f[:-1] for f in forms if f.endswith(".") and len(f) > 2}
    # ... and of three letters or more without any dots ('S.R.O.' written 'SRO'); two letters
    # without dots ('pc', 'ad') are words.
    bare = {f.replace(".", "").replace(" ", "") for f in forms if "." in f}
    forms |= {b for b in bare if len(b) >= 3 and b.isalpha()}
    return sorted(f for f in forms if f)


# Countries whose companies use a form, beyond cleanco's per-country lists (which leave out, say,
# the Greek S.A. = A.E., Danish ApS and South African (Pty) Ltd). Used for one question only: can
# two forms belong to one company? 'GmbH' and 'AG' can (Germany), 'S.R.O.' and 'Sp. z o.o.' cannot.
EXTRA_FORM_COUNTRIES = {
    "sa": {"Greece", "Belgium", "France", "Spain", "Switzerland", "Portugal", "Luxemborg"},
    "ae": {"Greece"}, "aps": {"Denmark"}, "as": {"Denmark", "Turkey"}, "a/s": {"Denmark", "Norway"},
    "ltd": {"Australia", "Ireland", "Canada", "South Africa", "Malta", "Cyprus", "Turkey", "China", "Japan"},
    "limited": {"Australia", "Ireland", "Canada", "South Africa", "Malta", "Cyprus", "India", "China"},
    "ptyltd": {"South Africa"}, "ptylimited": {"Australia", "South Africa"}, "pty": {"Australia", "South Africa"},
    "inc": {"Canada", "China", "Japan"}, "corp": {"Canada", "China", "Japan"}, "corporation": {"Canada", "China", "Japan"},
    "llc": {"China", "Qatar", "United Arab Emirates", "Russia", "Ukraine"}, "coltd": {"China", "Japan", "Korea"},
    "kk": {"Japan"}, "sàrl": {"France", "Luxemborg", "Switzerland"}, "şti": {"Turkey"}, "ltdşti": {"Turkey"},
    "ltdsti": {"Turkey"}, "aş": {"Turkey"},
    # Also where cleanco's lists stop short: Austria's GmbH (and its own Ges.m.b.H.); Belgium's
    # NV and BV (its BVBA became BV in 2019, so one firm appears as both); the Swedish-language Ab
    # of Finnish firms ("Oy Ab"); Singapore's Pte. Ltd. written out as Private Limited.
    "gmbh": {"Austria"}, "gesmbh": {"Austria"}, "nv": {"Belgium"}, "bv": {"Belgium"}, "ab": {"Finland"},
    "privatelimited": {"Singapore", "India", "Pakistan", "Bangladesh", "Sri Lanka"},
}


def _compact(form: str) -> str:
    return "".join(ch for ch in form.lower() if ch not in " .,()")


@lru_cache(maxsize=1)
def form_countries() -> dict[str, frozenset[str]]:
    """Compact form ('sro', 'ptyltd', 'gmbh') → the countries whose companies use it."""
    table: dict[str, set[str]] = {}
    for country, terms in cleanco.termdata.terms_by_country.items():
        for term in terms:
            table.setdefault(_compact(term), set()).add(country)
    for form, countries in (*EXTRA_FORM_COUNTRIES.items(), *SPELLED_OUT_FORMS.items()):
        table.setdefault(_compact(form), set()).update(countries)
    return {form: frozenset(countries) for form, countries in table.items()}


@lru_cache(maxsize=50_000)
def countries_of_form(legal_form: str) -> frozenset[str]:
    """Countries a parsed legal form ('s.r.o.', 'co., ltd', 'ab (publ)') can come from: the whole
    form, else the union of its parts; empty when nothing is known (no conflict can follow)."""
    table = form_countries()
    whole = table.get(_compact(legal_form))
    if whole:
        return whole
    parts = [table.get(_compact(p)) for p in legal_form.replace(",", " ").split()]
    return frozenset().union(*[p for p in parts if p])
