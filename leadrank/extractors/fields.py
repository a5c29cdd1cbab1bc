"""Field mapping for declared sources: CSS selectors for HTML, dotted paths for JSON.

A selector spec is `css` (the element's text), `css@attr` (an attribute), `@attr` (an
attribute of the item itself) or `.` (the item's own text). A JSON path is dotted, with integer
indexes (`country.text`, `contacts.0.phone`). Keeping these tiny grammars in one place is what
lets a new source be configuration only.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bs4 import Tag

_WS = re.compile(r"\s+")


def clean_text(value: Any) -> str | None:
    """Trim a value as found; empty becomes None. Inner whitespace is kept (it is data)."""
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, (list, tuple)):
        value = "; ".join(v for v in (clean_text(x) for x in value) if v)
    elif isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False)
    text = str(value).strip()
    return text or None


def node_text(node: Tag) -> str:
    """Visible text of an element with block boundaries kept as single spaces."""
    return _WS.sub(" ", node.get_text(" ", strip=True)).strip()


def css_value(item: Tag, spec: str) -> str | None:
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


def map_css(item: Tag, fields: dict[str, str]) -> dict[str, str | None]:
    return {name: css_value(item, spec) for name, spec in fields.items()}
