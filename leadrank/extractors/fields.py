"""Field mapping for declared sources: CSS selectors for HTML, dotted paths for JSON.

A selector spec is `css` (the element's text), `css@attr` (an attribute), `@attr` (an
attribute of the item itself) or `.` (the item's own text); a mapping `{label: 电话}` (or a list
of labels, `{label: [电话, 联系电话, Tel]}`) takes the value that follows a label in a card
(`<p>电话：0755-…</p>`, `<dt>电话</dt><dd>…</dd>`, `<b>Tel:</b> …`). A JSON path is dotted, with
integer indexes (`country.text`, `contacts.0.phone`); `a | b` tries alternatives in order, for
sources whose entries are not all shaped alike (`country.text | country`: a dict in most entries,
a plain string in a few). Keeping these tiny grammars in one place is what lets a new source be
configuration only.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bs4 import CData, NavigableString, Tag

_WS = re.compile(r"\s+")
# Characters that are never data in a company record: C0 and C1 controls other than tab, line
# feed and carriage return (PostgreSQL refuses NUL, spreadsheets refuse the rest, ESC drives a
# terminal), lone UTF-16 surrogates (JSON allows "\ud800"; UTF-8, Parquet and both databases
# do not), the non-characters U+FFFE/U+FFFF and the bidirectional overrides and isolates that
# make text display in another order than it is stored (a "Trojan Source" name in an export).
_NOT_DATA = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069]")
# Elements that start a new line when rendered: their text is separated from its neighbours by
# a space. Inline elements (span, b, a, font…) join their text without one: Word-exported
# tables split "2003年7月16日" into a dozen spans, and that is still one value.
BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "figure",
    "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p",
    "pre", "section", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
})
_INVISIBLE = frozenset({"script", "style", "template", "noscript", "head", "title"})
FieldSpec = str | dict[str, Any]


def safe_text(value: str) -> str:
    """`value` without the characters that are never data (see _NOT_DATA)."""
    return _NOT_DATA.sub("", value)


def clean_text(value: Any) -> str | None:
    """Trim a value as found; empty becomes None. Inner whitespace is kept (it is data);
    characters that are never data (controls, lone surrogates, bidi overrides) are removed."""
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, (list, tuple)):
        value = "; ".join(v for v in (clean_text(x) for x in value) if v)
    elif isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False)
    text = safe_text(str(value)).strip()
    return text or None


def node_text(node: Tag) -> str:
    """Visible text of an element as a browser lays it out on one line: inline pieces joined,
    block boundaries and runs of whitespace (incl. &nbsp; and the ideographic space) as one space.
    Iterative, so that pathologically nested markup cannot exhaust the stack."""
    parts: list[str] = []
    stack: list[Any] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and not isinstance(item, NavigableString):
            parts.append(item)  # a block boundary marker pushed below
        elif isinstance(item, Tag):
            if item.name in _INVISIBLE and item is not node:
                continue
            block = item.name in BLOCK_TAGS
            if block:
                parts.append(" ")
                stack.append(" ")
            stack.extend(reversed(item.contents))
        elif type(item) is NavigableString or isinstance(item, CData):
            parts.append(str(item))
    return _WS.sub(" ", "".join(parts)).strip()


def _label_pattern(labels: str | list[str]) -> re.Pattern[str]:
    names = [labels] if isinstance(labels, str) else list(labels)
    return re.compile(r"^\s*(?:" + "|".join(re.escape(n) for n in names) + r")\s*[:：]?\s*", re.I)


def _following_text(node: Any) -> str:
    """Text after `node` inside its parent, up to the next block boundary (`<b>Tel:</b> 123<br>`)."""
    pieces: list[str] = []
    for sibling in node.next_siblings:
        if isinstance(sibling, Tag):
            if sibling.name in BLOCK_TAGS:
                break
            pieces.append(node_text(sibling))
        elif type(sibling) is NavigableString:
            pieces.append(str(sibling))
    return _WS.sub(" ", "".join(pieces)).strip()


def labelled_value(item: Tag, labels: str | list[str]) -> str | None:
    """The value a card gives after a label, wherever the card's markup puts it: in the same
    line (`电话：0755…`, `电话：<span>0755…</span>`), after an inline label element
    (`<b>Tel:</b> 0755…`) or in the next cell of a label cell (`<dt>电话</dt><dd>…</dd>`)."""
    pattern = _label_pattern(labels)
    for string in item.find_all(string=pattern):
        value = pattern.sub("", str(string), count=1) + _following_text(string)
        element = string.parent
        while not value.strip() and element is not None and element is not item:
            if element.name in {"dt", "th", "td"}:
                following = element.find_next_sibling()
                value = node_text(following) if following is not None else ""
                break
            if element.name in BLOCK_TAGS:
                break
            value = _following_text(element)
            element = element.parent
        value = clean_text(_WS.sub(" ", value))
        if value:
            return value
    return None


def css_value(item: Tag, spec: FieldSpec) -> str | None:
    if isinstance(spec, dict):
        if "label" not in spec:
            raise ValueError(f"a mapping field spec needs `label`, got {spec!r}")
        return labelled_value(item, spec["label"])
    selector, _, attr = spec.partition("@")
    selector = selector.strip()
    if selector in {"", "."}:
        target: Tag | None = item
    else:
        target = item.select_one(selector)
    if target is None:
        return None
    if attr:
        value = target.get(attr.strip())
        if isinstance(value, list):
            value = " ".join(value)
        return clean_text(value)
    return clean_text(node_text(target))


def json_path(obj: Any, path: str) -> Any:
    """The value at a dotted path, or None; `a | b` returns the first alternative that holds a
    value (a mapping only counts when it is the last alternative)."""
    alternatives = [p.strip() for p in path.split("|")] if "|" in path else [path.strip()]
    for index, alternative in enumerate(alternatives):
        value = _walk(obj, alternative)
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, dict) and index < len(alternatives) - 1:
            continue
        return value
    return None


def _walk(obj: Any, path: str) -> Any:
    if path in {"", "."}:
        return obj
    current = obj
    for part in path.split("."):
        if isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            current = current[index] if -len(current) <= index < len(current) else None
        elif isinstance(current, dict):
            current = current.get(part)
        else:
            return None
        if current is None:
            return None
    return current


def map_json(record: Any, fields: dict[str, str]) -> dict[str, str | None]:
    return {name: clean_text(json_path(record, path)) for name, path in fields.items()}


def map_css(item: Tag, fields: dict[str, FieldSpec]) -> dict[str, str | None]:
    return {name: css_value(item, spec) for name, spec in fields.items()}
