"""Field mapping for declared sources: CSS selectors for HTML, dotted paths for JSON.

A selector spec is `css` (the element's text), `css@attr` (an attribute), `@attr` (an
attribute of the item itself) or `.` (the item's own text); a mapping `{label: 电话}` (or a list
of labels, `{label: [电话, 联系电话, Tel]}`) takes the value that follows a label in a card
(`<p>电话：0755-…</p>`, `<dt>电话</dt><dd>…</dd>`, `<b>Tel:</b> …`). A mapping may also name
the selector (`{css: td.addr}`) and take part of the value, in this order:
`line: -1` one line of it (lines are what the page shows on separate lines: `<br>`, `<p>`,
`<div>`…; 0 is the first, -1 the last), `split: ","` with `index: 1` one piece of it (0 when
`index` is left out), `regex: "([0-9]{5}) "` with `group: 1` a group of the first match (the whole
match without groups; a name for a named group). What a spec does not find is None.

The `address` field keeps its lines (one per line, as JSON sources give them too); when the
record is complete (`split_country_line`), a last line that names a country, where most
international lists put it, is taken off the address and becomes `country` (unless the source
gives another one).

A JSON path is dotted, with integer indexes (`country.text`, `contacts.0.phone`); `a | b` tries
alternatives in order, for sources whose entries are not all shaped alike (`country.text |
country`: a dict in most entries, a plain string in a few). Keeping these tiny grammars in one
place is what lets a new source be configuration only.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from bs4 import CData, NavigableString, Tag
from pydantic import ValidationError

from leadrank.config import ConfigError
from leadrank.config_schema import format_errors
from leadrank.config_sources import FieldSpec
from leadrank.countries import ambiguous_line, country_code, line_country

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
Spec = str | dict[str, Any] | FieldSpec  # a selector, or a mapping (as written, or its model)
_BREAK = object()  # a block boundary while walking an element's text


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


def node_lines(node: Tag) -> list[str]:
    """Visible text of an element as a browser lays it out, one string per line: inline pieces
    joined, block boundaries (`<br>`, `<p>`, `<div>`, cells…) ending a line, runs of whitespace
    (incl. &nbsp; and the ideographic space) as one space, empty lines dropped. Iterative, so
    that pathologically nested markup cannot exhaust the stack."""
    lines: list[str] = []
    parts: list[str] = []
    stack: list[Any] = [node]
    while stack:
        item = stack.pop()
        if item is _BREAK:
            lines.append("".join(parts))
            parts = []
        elif isinstance(item, Tag):
            if item.name in _INVISIBLE and item is not node:
                continue
            if item.name in BLOCK_TAGS:
                lines.append("".join(parts))
                parts = []
                stack.append(_BREAK)
            stack.extend(reversed(item.contents))
        elif type(item) is NavigableString or isinstance(item, CData):
            parts.append(str(item))
    lines.append("".join(parts))
    return [line for line in (_WS.sub(" ", raw).strip() for raw in lines) if line]


def node_text(node: Tag) -> str:
    """Visible text of an element on one line: its lines (`node_lines`) joined by a space."""
    return " ".join(node_lines(node))


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
    lines = _labelled_lines(item, labels)
    return clean_text(" ".join(lines)) if lines else None


def _labelled_lines(item: Tag, labels: str | list[str]) -> list[str] | None:
    pattern = _label_pattern(labels)
    for string in item.find_all(string=pattern):
        lines = [pattern.sub("", str(string), count=1) + _following_text(string)]
        element = string.parent
        while not lines[0].strip() and element is not None and element is not item:
            if element.name in {"dt", "th", "td"}:
                following = element.find_next_sibling()
                lines = node_lines(following) if following is not None else [""]
                break
            if element.name in BLOCK_TAGS:
                break
            lines = [_following_text(element)]
            element = element.parent
        lines = [v for v in (clean_text(_WS.sub(" ", line)) for line in lines if line) if v]
        if lines:
            return lines
    return None


def field_spec(spec: dict[str, Any] | FieldSpec) -> FieldSpec:
    """A mapping spec as its model, `leadrank.config_sources.FieldSpec`, the one definition of
    the grammar: the sources file is checked with it when loaded, and a spec given here is
    checked with it before any page is read (a typo, `grop:`, would otherwise silently take the
    whole value). Each distinct spec is validated once."""
    if isinstance(spec, FieldSpec):
        return spec
    return _field_spec(json.dumps(spec, sort_keys=True, ensure_ascii=False, default=str))


@functools.lru_cache(maxsize=1024)
def _field_spec(written: str) -> FieldSpec:
    spec = json.loads(written)
    try:
        return FieldSpec.model_validate(spec)
    except ValidationError as exc:
        problems = "; ".join(line.removeprefix("(top level): ") for line in format_errors(exc))
        raise ConfigError(f"field spec {spec!r}: {problems}") from None


def _pick(spec: FieldSpec, lines: list[str]) -> str | None:
    """The part of a value's lines that a mapping spec asks for (see the module docstring)."""
    if spec.line is not None:
        lines = [lines[spec.line]] if -len(lines) <= spec.line < len(lines) else []
    value = clean_text(" ".join(lines))
    if value and spec.split is not None:
        pieces = value.split(spec.split)
        index = spec.index or 0
        value = clean_text(pieces[index]) if -len(pieces) <= index < len(pieces) else None
    if value and spec.regex is not None:
        pattern = re.compile(spec.regex)
        match = pattern.search(value)
        value = clean_text(match.group(spec.match_group(pattern))) if match else None
    return value


def _selected_lines(item: Tag, selector_spec: str) -> list[str] | None:
    """Lines of what a selector (`css`, `css@attr`, `@attr`, `.`) finds, None when nothing."""
    selector, _, attr = selector_spec.partition("@")
    selector = selector.strip()
    target = item if selector in {"", "."} else item.select_one(selector)
    if target is None:
        return None
    if not attr:
        return node_lines(target)
    value = target.get(attr.strip())
    if isinstance(value, list):
        value = " ".join(value)
    text = clean_text(value)
    return text.splitlines() if text else None


def _spec_lines(item: Tag, spec: str | FieldSpec) -> list[str] | None:
    if isinstance(spec, str):
        return _selected_lines(item, spec)
    if spec.label is not None:
        return _labelled_lines(item, spec.label)
    return _selected_lines(item, str(spec.css))


def css_value(item: Tag, spec: Spec) -> str | None:
    """The value a spec (a selector, or a mapping: see the module docstring) finds in `item`."""
    if isinstance(spec, str):
        lines = _spec_lines(item, spec)
        return clean_text(" ".join(lines)) if lines else None
    model = field_spec(spec)
    lines = _spec_lines(item, model)
    return _pick(model, lines) if lines else None


def split_country_line(address: str | None, country: str | None) -> tuple[str | None, str | None]:
    """(address, country) of a record whose address holds its lines (one per line): a last
    line that names a country (`leadrank.countries.line_country`) is taken off and becomes the
    country, unless the record already gives a different one (then the address stays whole:
    never silently lose what the page said). A line that is also a US state's name
    (`leadrank.countries.ambiguous_line`) is taken off only when the record declares that country. The other lines stay, one per line."""
    if not address or "\n" not in address:
        return address, country
    lines = [line.strip() for line in address.splitlines() if line.strip()]
    named = line_country(lines[-1]) if len(lines) > 1 and (country or not ambiguous_line(lines[-1])) else None
    if named and (not country or country_code(country) == named):
        return clean_text("\n".join(lines[:-1])), country or lines[-1]
    return address, country


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


def map_css(item: Tag, fields: dict[str, Spec]) -> dict[str, str | None]:
    """Every field of one item; `address` (taken whole) keeps its lines, one per line (the
    reader sees them so, and `split_country_line` looks for a country on the last one)."""
    out: dict[str, str | None] = {}
    for name, spec in fields.items():
        if name == "address" and (isinstance(spec, str) or not field_spec(spec).takes_part):
            lines = _spec_lines(item, spec if isinstance(spec, str) else field_spec(spec))
            out[name] = clean_text("\n".join(lines)) if lines else None
        else:
            out[name] = css_value(item, spec)
    return out
