"""What a fetch gives back: the response (FetchResult) or why there is none (FetchError).

Shared by every part of the fetch layer (the robots.txt reader, the raw store, the fetcher) and
by every caller, so it depends on nothing but URL redaction: an error is shown to users and
written to the raw store, and a key in its URL must never be.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from leadrank.extractors.fetch.urls import redact_url


class FetchError(Exception):
    """A URL could not be fetched; `reason` is short and safe to show to users (URLs in it
    are redacted)."""

    def __init__(self, url: str, reason: str, *, status: int | None = None, result: FetchResult | None = None,
                 retry: bool = True):
        url = redact_url(url)
        super().__init__(f"{reason} ({url})")
        self.url = url
        self.reason = reason
        self.status = status
        self.result = result  # the error response, kept in the raw store for inspection
        self.retry = retry and status is None  # transport failures are retried, answers and refusals not


@dataclass
class FetchResult:
    url: str  # the final URL, after redirects
    status: int
    headers: Mapping[str, str]
    content: bytes
    encoding: str
    fetched_at: datetime
    raw_path: Path | None = None
    text: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.text = self.content.decode(self.encoding, errors="replace")

    def json(self) -> object:
        return json.loads(self.text)
