"""统一社会信用代码 (unified social credit code), GB 32100-2015.

18 characters from a 31-character set (digits and upper-case letters without I, O, S, V, Z);
the last is a check character: weights 3^(i-1) mod 31 over the first 17, check = 31 - sum mod 31.
An invalid code is kept and flagged as suspect, never dropped: a typo in one digit still says
much about which company a record is.
"""

from __future__ import annotations

import re
import unicodedata

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
WEIGHTS = [pow(3, i, 31) for i in range(17)]
_CANDIDATE = re.compile(r"[0-9A-Z]{18}")


def check_character(first17: str) -> str | None:
    """The check character for the first 17 characters, or None if any is outside the set."""
    try:
        total = sum(_VALUE[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    except (KeyError, ValueError):
        return None
    return ALPHABET[(31 - total % 31) % 31]


def normalise_uscc(raw: str | None) -> tuple[str | None, bool]:
    """(code, valid): the code upper-cased and stripped of spaces and dashes, and whether its
    length, character set and check character are right. (None, False) when there is none."""
    if not raw:
        return None, False
    text = unicodedata.normalize("NFKC", str(raw)).upper()
    # Normalise again after removing separators: they may have split a composed character.
    text = unicodedata.normalize("NFKC", re.sub(r"[\s\-_.:：]", "", text))
    if not text:
        return None, False
    match = _CANDIDATE.search(text)
    code = match.group(0) if match and len(text) != 18 else text[:40]
    if len(code) != 18:
        return code, False
    return code, check_character(code[:17]) == code[17]
