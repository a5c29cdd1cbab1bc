"""The fetch layer, one module per concern (see `fetcher` for how they fit together).

`urls` (request URLs, origins, redaction), `guard` (addresses a source may reach: no SSRF),
`throttle` (per-host pacing and concurrency, Retry-After), `robots` (robots.txt), `encoding`
(charset of a body), `cache` (HTTP caching across nights), `cancel` (ending abandoned requests),
`raw_store` (every response on disk), `result` (FetchResult, FetchError) and `fetcher` (Fetcher).
The names most callers need are importable from the package itself.
"""

from leadrank.extractors.fetch.fetcher import Fetcher
from leadrank.extractors.fetch.result import FetchError, FetchResult
from leadrank.extractors.fetch.urls import redact_url

__all__ = ["FetchError", "FetchResult", "Fetcher", "redact_url"]
