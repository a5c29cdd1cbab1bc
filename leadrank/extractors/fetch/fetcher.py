"""The one fetch layer every source goes through (Scrapy's downloader, in small).

Every request of every source passes here, so that a polite and safe crawl is not left to each
source: robots.txt (robots), per-host pacing and concurrency (throttle), retries with exponential
backoff that honour `Retry-After`, connect/read/total timeouts, a cap on body size, bounded
redirects re-checked at every hop, scheme and network-address restrictions (guard), encoding
detection (encoding), an HTTP cache across nights (cache), cancellation of abandoned sources
(cancel) and a copy of every raw response on disk (raw_store). This module wires them together
and owns the transport: the retry loop, redirects and reading the body.
"""

from __future__ import annotations

import http.client
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import requests
import urllib3

from leadrank.config import FetchSettings
from leadrank.extractors.fetch.cache import CachingAdapter
from leadrank.extractors.fetch.cancel import CANCELLED, Abort, current_cancellation, in_flight
from leadrank.extractors.fetch.encoding import detect_encoding
from leadrank.extractors.fetch.guard import AddressPolicy, AddressRefused, GuardedAdapter, check_url
from leadrank.extractors.fetch.raw_store import RawStore
from leadrank.extractors.fetch.result import FetchError, FetchResult
from leadrank.extractors.fetch.robots import RobotsRules, RobotsStore
from leadrank.extractors.fetch.throttle import RETRY_STATUSES, HostGate, retry_after_seconds, spacing
from leadrank.extractors.fetch.urls import PORTABLE_HEADERS, origin, redact_url, with_params

log = logging.getLogger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


_warned_contact = threading.Event()


def _warn_placeholder_contact(contact: str) -> None:
    """Once per process: crawling the web as ops@example.com leaves site owners no one to ask."""
    if contact.endswith("example.com") and not _warned_contact.is_set():
        _warned_contact.set()
        log.warning("fetch.contact is the placeholder %s: set it in the sources file so that site owners "
                    "can reach you", contact)


class Fetcher:
    """Fetch URLs for one source under its settings.

    `raw_dir` keeps every response body with its metadata; with `replay=True` the fetcher
    answers from that directory instead of the network, so that a run can be re-parsed.
    `cache_dir` keeps responses across nights, revalidated with their ETag / Last-Modified
    (`revalidated` counts the responses the site answered 304 Not Modified to).
    `robots_store` shares the robots.txt files read with the run's other fetchers.
    """

    def __init__(
        self,
        settings: FetchSettings,
        *,
        raw_dir: Path | None = None,
        replay: bool = False,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        cache_dir: Path | None = None,
        robots_store: RobotsStore | None = None,
    ):
        self.settings = settings
        self.raw = RawStore(raw_dir) if raw_dir is not None else None
        self.replay = replay
        self.session = session or requests.Session()
        self.policy = AddressPolicy(settings.allow_private_network)
        self.caching = cache_dir is not None
        guarded = CachingAdapter(self.policy, cache_dir) if cache_dir is not None else GuardedAdapter(self.policy)
        self.session.mount("http://", guarded)
        self.session.mount("https://", guarded)
        self.session.headers["User-Agent"] = settings.agent()
        if "@" in settings.contact:
            self.session.headers["From"] = settings.contact  # RFC 9110: who runs this crawler
        self.sleep = sleep
        self.cancellation = current_cancellation()
        self.robots = (RobotsRules(settings.agent(), lambda url: self._follow(url, {}, robots=True), robots_store)
                       if settings.respect_robots else None)
        self.requests_made = 0
        self.revalidated = 0
        if not settings.respect_robots:
            log.warning("robots.txt is ignored for this source (respect_robots: false)")

    # -- public -------------------------------------------------------------------------------
    def get(
        self,
        url: str,
        *,
        params: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> FetchResult:
        try:
            url = with_params(url, params)
        except ValueError:
            raise FetchError(url, "malformed URL (cannot be parsed)", retry=False) from None
        if self.replay:
            if self.raw is None:
                raise FetchError(url, "replay needs a raw directory")
            return self.raw.replay(url)
        request_headers = dict(headers or {})
        if self.caching and (request_headers or redact_url(url) != url):
            request_headers["Cache-Control"] = "no-store"  # a request carrying a key is never stored
        try:
            result = self._follow(url, request_headers)
        except FetchError as exc:
            self._store_raw(url, exc.result, exc)
            raise
        result.raw_path = self._store_raw(url, result, None)
        return result

    def _store_raw(self, url: str, result: FetchResult | None, error: FetchError | None) -> Path | None:
        """Keep the answer in the raw store, when the source has one and keeps raw responses."""
        if self.raw is None or not self.settings.keep_raw:
            return None
        return self.raw.store(url, result, error)

    def _interval(self, url: str) -> float:
        """Seconds between requests to `url`'s host: the configured rate_limit or what the site's
        robots.txt asks for this agent (Crawl-delay, Request-rate), whichever is slower."""
        asked = self.robots.interval(url) if self.robots is not None else 0.0
        return spacing(self.settings.rate_limit, asked)

    # -- transport ------------------------------------------------------------------------------
    def _follow(self, url: str, headers: dict[str, str], *, robots: bool = False) -> FetchResult:
        """Fetch `url`, following redirects; every hop is checked as the first was. A hop to
        another origin goes without the caller's headers (an API key among them), as requests
        does for Authorization: only content negotiation is kept."""
        seen: list[str] = []
        current = url
        for _ in range(self.settings.max_redirects + 1):
            check_url(current, self.policy, allow_local_files=self.settings.allow_local_files)
            if not robots and self.robots is not None and not self.robots.allows(current):
                raise FetchError(current, "disallowed by robots.txt")
            if urlsplit(current).scheme == "file":
                return self._read_file(current)
            response = self._request_with_retries(current, headers)
            if response.status in REDIRECT_STATUSES:
                location = response.headers.get("Location")
                if not location:
                    raise FetchError(current, f"HTTP {response.status} without Location", status=response.status)
                seen.append(current)
                try:
                    current = urljoin(current, location)
                    cross_origin = origin(current) != origin(url)
                except ValueError:
                    raise FetchError(url, "redirect to a malformed URL", status=response.status, retry=False) from None
                if cross_origin:
                    headers = {k: v for k, v in headers.items() if k.lower() in PORTABLE_HEADERS}
                if urlsplit(current).scheme.lower() == "file":
                    raise FetchError(url, "redirect to a file:// URL refused", status=response.status)
                if current in seen:
                    raise FetchError(url, "redirect loop", status=response.status)
                continue
            return response
        raise FetchError(url, f"more than {self.settings.max_redirects} redirects")

    def _pause(self, seconds: float) -> None:
        """Sleep between attempts; a cancellation ends the wait and the fetch."""
        if self.cancellation is not None and self.sleep is time.sleep:
            self.cancellation.event.wait(seconds)
        else:
            self.sleep(seconds)

    def _check_cancelled(self, url: str) -> None:
        if self.cancellation is not None and self.cancellation.cancelled:
            raise FetchError(url, CANCELLED, retry=False)

    def _read_file(self, url: str) -> FetchResult:
        path = Path(unquote(urlsplit(url).path))
        try:
            size = path.stat().st_size
            if size > self.settings.max_body_bytes:
                raise FetchError(url, f"body larger than the cap of {self.settings.max_body_bytes} bytes")
            content = path.read_bytes()
        except OSError as exc:
            raise FetchError(url, f"cannot read local file: {exc.strerror}") from None
        return FetchResult(url, 200, {}, content, detect_encoding(content), datetime.now(UTC))

    def _request_with_retries(self, url: str, headers: dict[str, str]) -> FetchResult:
        _warn_placeholder_contact(self.settings.contact)
        gate = HostGate.for_host(urlsplit(url).netloc.lower())
        attempt = 0
        while True:
            self._check_cancelled(url)
            interval = self._interval(url)
            gate.wait_turn(1.0 / interval if interval > 0 else 0.0, self.sleep)
            self._check_cancelled(url)
            delay: float | None = None
            with gate.slot(self.settings.max_concurrency_per_host):
                try:
                    result = self._request_once(url, headers)
                except FetchError as exc:
                    if not exc.retry or attempt >= self.settings.max_retries:
                        raise
                    reason = exc.reason
                else:
                    if result.status not in RETRY_STATUSES:
                        if result.status >= 400:
                            raise FetchError(url, f"HTTP {result.status}", status=result.status, result=result)
                        return result
                    reason = f"HTTP {result.status}"
                    if attempt >= self.settings.max_retries:
                        raise FetchError(url, f"HTTP {result.status} after {attempt + 1} attempts",
                                         status=result.status, result=result)
                    if result.status in {429, 503}:
                        delay = retry_after_seconds(result.headers.get("Retry-After"))
            if delay is None:
                delay = self.settings.backoff_base * (2**attempt) * (1 + random.random() * 0.25)
            if delay > self.settings.backoff_max:
                if reason.startswith("HTTP 429") or reason.startswith("HTTP 503"):
                    raise FetchError(url, f"{reason}: Retry-After {delay:.0f}s exceeds backoff_max")
                delay = self.settings.backoff_max
            attempt += 1
            log.info("retry %d/%d for %s in %.1fs (%s)", attempt, self.settings.max_retries, redact_url(url), delay, reason)
            self._pause(delay)

    def _read_body(self, url: str, response: requests.Response, started: float) -> list[bytes]:
        """The (decompressed) body, read as it arrives so that the size cap and the total time
        limit hold however the server sends it (chunked, trickling, compressed)."""
        cap = self.settings.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                # read, not read1: the HTTP cache stores what passes through read (the deadline in
                # _request_once bounds a read that waits for a slow server)
                chunk = response.raw.read(65536, decode_content=True)
            except urllib3.exceptions.ReadTimeoutError:
                raise FetchError(url, "timed out while reading the body") from None
            except (urllib3.exceptions.ProtocolError, http.client.IncompleteRead):
                raise FetchError(url, "truncated body (connection closed early)") from None
            except urllib3.exceptions.DecodeError:
                raise FetchError(url, "body cannot be decompressed", status=response.status_code) from None
            if not chunk:
                return chunks
            size += len(chunk)
            if size > cap:
                raise FetchError(url, f"body exceeds the cap of {cap} bytes", status=response.status_code)
            if time.monotonic() - started > self.settings.total_timeout:
                raise FetchError(url, f"response took longer than total_timeout={self.settings.total_timeout:g}s")
            chunks.append(chunk)

    def _request_once(self, url: str, headers: dict[str, str]) -> FetchResult:
        """One HTTP request under one deadline, total_timeout from connect to last byte: a timer
        shuts the socket down when it passes, whatever state the request is in (connecting,
        waiting for headers that trickle, reading the body). A cancellation does the same."""
        abort = Abort()
        limit = f"response took longer than total_timeout={self.settings.total_timeout:g}s"
        timer = threading.Timer(self.settings.total_timeout, abort.fire, args=(limit,))
        timer.daemon = True
        in_flight.abort = abort
        covering = self.cancellation.covering(abort) if self.cancellation is not None else nullcontext()
        try:
            with covering:
                timer.start()
                result = self._exchange(url, headers)
        except FetchError:
            if abort.reason is None:
                raise
        finally:
            timer.cancel()
            in_flight.abort = None
        if abort.reason is not None:  # also when the cut-off response looked complete (headers ended by EOF)
            raise FetchError(url, abort.reason, retry=abort.reason != CANCELLED)
        return result

    def _exchange(self, url: str, headers: dict[str, str]) -> FetchResult:
        """The request and its response; transport failures become FetchError without a status
        (retryable)."""
        cap = self.settings.max_body_bytes
        self.requests_made += 1
        started = time.monotonic()
        try:
            with self.session.get(
                url,
                headers=headers,
                timeout=(self.settings.connect_timeout, self.settings.read_timeout),
                allow_redirects=False,
                stream=True,
            ) as response:
                self.revalidated += bool(getattr(response, "from_cache", False))
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > cap:
                    raise FetchError(url, f"body of {declared} bytes exceeds the cap of {cap} bytes", status=response.status_code)
                chunks = self._read_body(url, response, started)
                content = b"".join(chunks)
                status = response.status_code
                resp_headers = dict(response.headers)
        except AddressRefused as exc:
            raise FetchError(url, f"{exc} (at connect time)", retry=False) from None
        except requests.exceptions.Timeout:
            raise FetchError(url, "timed out") from None
        except requests.exceptions.ConnectionError as exc:
            raise FetchError(url, f"connection failed: {type(exc.__cause__ or exc).__name__}") from None
        except (requests.exceptions.RequestException, OSError) as exc:
            raise FetchError(url, f"request failed: {type(exc).__name__}") from None
        encoding = detect_encoding(content, resp_headers.get("Content-Type"))
        return FetchResult(url, status, resp_headers, content, encoding, datetime.now(UTC))
