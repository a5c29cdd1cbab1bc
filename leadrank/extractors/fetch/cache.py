"""HTTP caching across nights, by CacheControl (RFC 9111), as a nightly crawler wants it:
responses are stored with their validators and every request still goes to the site."""

from __future__ import annotations

import email.utils
import logging
from pathlib import Path
from typing import Any

from cachecontrol import CacheControlAdapter
from cachecontrol.caches.file_cache import FileCache
from cachecontrol.controller import CacheController
from cachecontrol.heuristics import BaseHeuristic

from leadrank.extractors.fetch.guard import AddressPolicy, GuardedPools

log = logging.getLogger(__name__)


class Revalidate(CacheController):
    """HTTP caching across nights (RFC 9111 validators, by CacheControl): every request still goes
    to the site, with the ETag / Last-Modified of the stored response (If-None-Match,
    If-Modified-Since); the stored body is used only when the site answers 304 Not Modified.
    Serving a page as fresh without asking would hide a night's changes and skip robots.txt and
    the address checks. A response that cannot be stored (a malformed Date, a full disk) is
    fetched all the same: the cache only ever saves a transfer."""

    def cached_request(self, request: Any) -> Any:
        return False

    def cache_response(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().cache_response(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - see above
            log.debug("response not stored in the HTTP cache: %s: %s", type(exc).__name__, exc)


class KeepValidated(BaseHeuristic):
    """CacheControl stores a response with an ETag or freshness headers; one that has only
    Last-Modified is stored too (as expiring now), so that the next night can send
    If-Modified-Since. Never served without revalidation (see Revalidate)."""

    def update_headers(self, response: Any) -> dict[str, str]:
        headers = response.headers
        if "last-modified" not in headers or "etag" in headers or "expires" in headers:
            return {}
        now = email.utils.formatdate(usegmt=True)
        return {"date": now, "expires": now} if "date" not in headers else {"expires": headers["date"]}

    def warning(self, response: Any) -> str | None:
        return None


class CachingAdapter(GuardedPools, CacheControlAdapter):
    """The guarded adapter with an HTTP cache in `cache_dir` (see Revalidate)."""

    def __init__(self, policy: AddressPolicy, cache_dir: Path):
        self.policy = policy
        super().__init__(cache=FileCache(str(cache_dir)), controller_class=Revalidate, heuristic=KeepValidated())
