"""`leadrank top` filters as a person types them: a segment by code or name in either language
and any case (government, Government, 政府), tiers (a, B), a city or province in any form the
region table knows (深圳, 深圳市, Shenzhen; 广东, Guangdong).

What is typed is resolved to the values the marts hold before querying, so a typo is a clear
error naming the valid choices instead of an empty list.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine

from leadrank.warehouse import labels
from leadrank.warehouse.read import published_values, top_leads

TIERS = ("A", "B", "C", "D")


class SelectionError(ValueError):
    """A filter that matches nothing known; the message lists what would."""


@dataclass(frozen=True)
class Selection:
    segment: str | None = None
    tiers: tuple[str, ...] = ()
    city: str | None = None
    province: str | None = None

    def describe(self) -> str:
        """The filters in words, for a title or an empty-result message."""
        parts = [f"segment {self.segment}"] if self.segment else []
        parts += [f"tier {'/'.join(self.tiers)}"] if self.tiers else []
        parts += [f"{name} {value}" for name, value in (("city", self.city), ("province", self.province)) if value]
        return ", ".join(parts)


def resolve(engine: Engine, *, segment: str | None = None, tiers: list[str] | None = None,
            city: str | None = None, province: str | None = None) -> Selection:
    """The filters in the marts' own values; SelectionError for an unknown segment or tier."""
    code = None
    if segment is not None:
        known = list(dict.fromkeys([*labels.SEGMENTS, *published_values(engine, "segment")]))
        try:
            code = labels.find_segment(segment, known)
        except ValueError as exc:
            raise SelectionError(str(exc)) from None
    wanted = tuple(dict.fromkeys(t.strip().upper() for t in tiers or []))
    if unknown := [t for t in wanted if t not in TIERS]:
        raise SelectionError(f"unknown tier {', '.join(unknown)}: the tiers are {', '.join(TIERS)}")
    return Selection(code, wanted, _region(city, 1), _region(province, 0))


def _region(typed: str | None, part: int) -> str | None:
    """A city (part 1) or province (part 0) as the marts spell it (深圳 -> 深圳市); what the
    region table does not know is kept as typed (a foreign city)."""
    if typed is None or not typed.strip():
        return None
    from leadrank.transform.regions import regions

    return regions().resolve(typed)[part] or typed.strip()


def select(engine: Engine, n: int, selection: Selection) -> pd.DataFrame:
    """The first `n` published leads matching `selection`, with segment_rank."""
    return top_leads(engine, n, segment=selection.segment, tiers=list(selection.tiers), city=selection.city,
                     province=selection.province)
