"""统一社会信用代码 (unified social credit code), GB 32100-2015.

18 characters from a 31-character set (digits and upper-case letters without I, O, S, V, Z);
the last is a check character: weights 3^(i-1) mod 31 over the first 17, check = 31 - sum mod 31.
An invalid code is kept and flagged as suspect, never dropped: a typo in one digit still says
much about which company a record is.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leadrank.transform.names import _strings

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
WEIGHTS = [pow(3, i, 31) for i in range(17)]
_LOOKUP = np.full(256, -1, dtype=np.int64)
_LOOKUP[np.frombuffer(ALPHABET.encode(), dtype=np.uint8)] = np.arange(31)


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
    code, valid = normalise_usccs([raw])
    return code[0], bool(valid[0])


def normalise_usccs(raw: Iterable[object] | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """`normalise_uscc` for a column; the check characters are computed with numpy."""
    text = pc.utf8_normalize(pc.utf8_upper(pc.utf8_normalize(_strings(raw), "NFKC")), "NFKC")
    text = pc.utf8_normalize(pc.replace_substring_regex(text, r"[\s\-_.:：]", ""), "NFKC")
    # A code inside other text ("USCC:9135…") is taken out of it; otherwise the value is kept whole.
    inner = pc.extract_regex(text, r"(?P<code>[0-9A-Z]{18})").flatten()[0]
    length = np.asarray(pc.utf8_length(text))
    take_inner = np.asarray(inner.is_valid(), dtype=bool) & (length != 18)
    text = pc.if_else(pa.array(take_inner), inner.fill_null(""), pc.utf8_slice_codeunits(text, 0, 40))
    codes = np.asarray(text.to_pylist(), dtype=object)
    present = np.asarray(pc.not_equal(text, ""), dtype=bool)
    candidate = np.asarray(pc.match_substring_regex(text, r"^[0-9A-Z]{18}$"), dtype=bool)
    valid = np.zeros(len(codes), dtype=bool)
    if candidate.any():
        chars = np.frombuffer("".join(codes[candidate]).encode("ascii"), dtype=np.uint8).reshape(-1, 18)
        values = _LOOKUP[chars]
        total = (values[:, :17] * np.asarray(WEIGHTS)).sum(axis=1)
        check = (31 - total % 31) % 31
        valid[candidate] = (values[:, :17] >= 0).all(axis=1) & (values[:, 17] == check)
    codes[~present] = None
    return codes, valid
