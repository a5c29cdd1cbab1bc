"""Which character set a response body is in, so that names in it come out right.

Its own module because web pages misdeclare their charset often (GBK sent as UTF-8, gb2312 for
GB18030 text, codec names that are no charset at all) and every decoded field depends on it.
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.I)
# Chinese sites that say gb2312 or gbk routinely send characters only GB18030 has.
_ENCODING_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030"}
# Python codecs that a page may name but that are not character sets of web text: `undefined`
# fails on any input, `punycode`/`idna` encode host names, the escape codecs read backslashes,
# UTF-7 is no web encoding (and a classic way to smuggle markup). A page naming one is decoded
# as if it named nothing.
_NOT_CHARSETS = frozenset({"undefined", "punycode", "idna", "unicode-escape", "raw-unicode-escape", "utf-7",
                           "escape-codec"})


def detect_encoding(content: bytes, content_type: str | None = None) -> str:
    """BOM, then a charset that actually decodes (HTTP header, then <meta>), then detection.

    A declared charset is only trusted when the bytes decode under it; pages that say UTF-8
    and send GBK are common enough that a wrong declaration must not garble every name.
    """
    if content.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    declared: list[str] = []
    if content_type:
        match = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_\-]+)", content_type, re.I)
        if match:
            declared.append(match.group(1))
    meta = _META_CHARSET.search(content[:4096])
    if meta:
        declared.append(meta.group(1).decode("ascii", "ignore"))
    for name in declared:
        name = _ENCODING_ALIASES.get(name.lower(), name.lower())
        if not _is_charset(name):
            continue
        try:
            content.decode(name)
            return name
        except (LookupError, UnicodeError):
            continue
    try:
        content.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(content[:200_000]).best()
    guess = (best.encoding if best else "utf-8").lower()
    if not _is_charset(guess):
        return "utf-8"
    if guess in {"gb2312", "gbk", "gb18030", "big5", "hz"} or guess.startswith("gb"):
        return "gb18030" if guess != "big5" else "big5"
    return guess


def _is_charset(name: str) -> bool:
    """Whether `name` is a codec Python has that decodes web text (see _NOT_CHARSETS)."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        return False
    return info._is_text_encoding and info.name not in _NOT_CHARSETS  # type: ignore[attr-defined]
