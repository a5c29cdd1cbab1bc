"""The one fetch layer every source goes through (Scrapy's downloader, in small).

Everything that makes leadrank a polite and safe crawler lives here and nowhere else:
robots.txt, per-host rate limits and concurrency, retries with exponential backoff that honour
`Retry-After`, connect/read timeouts, a cap on body size, bounded redirects that are re-checked
at every hop, scheme and network-address restrictions (no SSRF), encoding detection, and a copy
of every raw response on disk so that a run can be re-parsed without refetching.
"""

from __future__ import annotations

import codecs
import email.utils
import hashlib
import http.client
import ipaddress
import json
import logging
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode, urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import charset_normalizer
import requests
import requests.adapters
import urllib3
import urllib3.connection
import urllib3.util.connection
from cachecontrol import CacheControlAdapter
from cachecontrol.caches.file_cache import FileCache

from leadrank.config import FetchSettings
from leadrank.extractors.cancel import CANCELLED, Abort, current_cancellation, in_flight, watch_socket
from leadrank.extractors.httpcache import KeepValidated, Revalidate
from leadrank.extractors.robots import MAX_CRAWL_DELAY, robots_lines

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.I)
# Chinese sites that say gb2312 or gbk routinely send characters only GB18030 has.
_ENCODING_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030"}
# Python codecs that a page may name but that are not character sets of web text: `undefined`
# fails on any input, `punycode`/`idna` encode host names, the escape codecs read backslashes,
# UTF-7 is no web encoding (and a classic way to smuggle markup). A page naming one is decoded
# as if it named nothing.
_NOT_CHARSETS = frozenset({"undefined", "punycode", "idna", "unicode-escape", "raw-unicode-escape", "utf-7",
                           "escape-codec"})


_SECRET_PARAMS = re.compile(r"(?i)^(api[_-]?key|key|token|access[_-]?token|secret|password|auth|signature|sig)$")


def redact_url(url: str) -> str:
    """The URL with credential-like query parameters and userinfo masked, for logs and storage.
    A URL too malformed to split (`http://[bad`) keeps only what precedes any userinfo or query."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"(?<=//)[^/?#]*@", "", url).split("?", 1)[0].split("#", 1)[0]
    netloc = parts.netloc.rsplit("@", 1)[-1] if "@" in parts.netloc else parts.netloc
    if not parts.query and netloc == parts.netloc:
        return url
    pairs = []
    for pair in parts.query.split("&") if parts.query else []:
        name, sep, _ = pair.partition("=")
        pairs.append(f"{name}=***" if sep and _SECRET_PARAMS.match(unquote(name)) else pair)
    return urlunsplit(parts._replace(netloc=netloc, query="&".join(pairs)))


class _RedactUrls(logging.Filter):
    """urllib3 logs each request line (`GET /search?q=…&api_key=…`) at DEBUG, and CacheControl each
    URL it considers storing: with debug logging on, a key in a query string would reach the logs.
    This masks it in their records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(a) if isinstance(a, str) and ("?" in a or "@" in a) else a
                                for a in record.args)
        return True


for _name in ("urllib3.connectionpool", "urllib3.poolmanager", "cachecontrol.controller"):
    logging.getLogger(_name).addFilter(_RedactUrls())


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


# Request headers that carry no credential and may follow a redirect to another origin.
_PORTABLE_HEADERS = frozenset({"accept", "accept-language", "cache-control"})


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port (the default one filled in): what a browser calls an origin."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


def with_params(url: str, params: Mapping[str, object] | None) -> str:
    """The URL with `params` appended to its query, so that one string identifies the request."""
    if not params:
        return url
    parts = urlsplit(url)
    extra = urlencode([(k, v) for k, v in params.items() if v is not None])
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


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


def _retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds (ASCII digits only: `"²".isdigit()`
    is true, and float() refuses it) or an HTTP date; None for anything else."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _wrapped_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d,
    NAT64 64:ff9b::a.b.c.d): a connection to it reaches that IPv4 address."""
    if addr.ipv4_mapped:
        return addr.ipv4_mapped
    if any(addr in net for net in _NAT64) or (addr in _IPV4_COMPATIBLE and int(addr) > 1):
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def non_public(addr: IPAddress) -> bool:
    """Whether an address is anything but public unicast: loopback, private, link-local (the cloud
    metadata service 169.254.169.254 and fd00:ec2::254 among them), shared (CGNAT), reserved,
    unspecified (0.0.0.0 reaches this machine) or multicast, also when carried inside IPv6
    (IPv4-mapped and -compatible, NAT64, 6to4, Teredo)."""
    if isinstance(addr, ipaddress.IPv6Address):
        wrapped = _wrapped_ipv4(addr)
        if wrapped is not None:
            return non_public(wrapped)
        tunnelled = addr.sixtofour or (addr.teredo[1] if addr.teredo else None)
        if tunnelled is not None and non_public(tunnelled):
            return True
    return not addr.is_global or addr.is_multicast


class AddressRefused(Exception):
    """A host resolves to an address this source may not reach. Not an OSError on purpose: it
    passes through urllib3 and requests untouched (no retry, no wrapping) to the fetcher."""

    def __init__(self, host: str, address: str):
        super().__init__(f"host {host} resolves to non-public address {address}; set allow_private_network on the "
                         "source to allow it (true, or a list of networks such as [10.2.0.0/16])")


class AddressPolicy:
    """Which addresses a source may connect to: public ones, plus what its `allow_private_network`
    allows (true: every address; a list: those networks)."""

    def __init__(self, allow: bool | list[str]):
        self.allow_all = allow is True
        self.networks = [ipaddress.ip_network(str(n), strict=False) for n in allow] if isinstance(allow, list) else []

    def permits(self, addr: IPAddress) -> bool:
        if self.allow_all or not non_public(addr):
            return True
        wrapped = _wrapped_ipv4(addr) if isinstance(addr, ipaddress.IPv6Address) else None
        return any(candidate in net for net in self.networks for candidate in (addr, wrapped)
                   if candidate is not None and candidate.version == net.version)

    def addresses(self, host: str, port: int | None = None) -> list[str]:
        """Resolve `host` once and return its addresses, every one of them permitted; raises
        AddressRefused naming the first that is not (socket.gaierror when it does not resolve).
        Numeric forms (2130706433, 0x7f.1, 0177.0.0.1) resolve to the address they denote."""
        found: list[str] = []
        for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
            address = str(info[4][0])
            if not self.permits(ipaddress.ip_address(address.split("%")[0])):
                raise AddressRefused(host, address)
            if address not in found:
                found.append(address)
        return found


class _GuardedConnection:
    """Mixed into urllib3's connection classes: connect to an address the policy checked, from
    the one resolution that was checked. Resolving again to connect (as urllib3 does) would let
    a DNS server answer a public address to the check and a private one to the connection (DNS
    rebinding). The Host header, TLS SNI and certificate checks still use the host name."""

    policy: AddressPolicy  # set on the per-source subclasses (see _GuardedAdapter)

    def _new_conn(self) -> socket.socket:
        try:
            addresses = self.policy.addresses(self._dns_host, self.port)  # type: ignore[attr-defined]
        except socket.gaierror as exc:
            raise urllib3.exceptions.NameResolutionError(self.host, self, exc) from exc  # type: ignore[attr-defined]
        error: Exception = urllib3.exceptions.NewConnectionError(self, f"no address for {self.host}")  # type: ignore[attr-defined,arg-type]
        for address in addresses:
            try:
                sock = urllib3.util.connection.create_connection(
                    (address, self.port), self.timeout,  # type: ignore[attr-defined]
                    source_address=self.source_address, socket_options=self.socket_options)  # type: ignore[attr-defined]
                watch_socket(sock)
                return sock
            except TimeoutError:
                error = urllib3.exceptions.ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})")  # type: ignore[attr-defined]
            except OSError as exc:
                error = urllib3.exceptions.NewConnectionError(self, f"Failed to establish a new connection: {exc}")  # type: ignore[arg-type]
        raise error

    def getresponse(self) -> Any:
        """Hand the socket (reused from the pool, or TLS-wrapped) to the request's Abort
        before blocking on the status line and headers."""
        watch_socket(self.sock)  # type: ignore[attr-defined]
        return super().getresponse()  # type: ignore[misc]


class _GuardedPools:
    """Mixed into requests' adapters: connections that only reach addresses the source's policy
    permits. (Through a proxy the proxy connects, so it must police its own egress; the URL check
    still refuses private targets by name before any request.)"""

    policy: AddressPolicy
    poolmanager: Any

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)  # type: ignore[misc]
        extra = {"policy": self.policy}
        http = type("GuardedHTTPConnection", (_GuardedConnection, urllib3.connection.HTTPConnection), extra)
        https = type("GuardedHTTPSConnection", (_GuardedConnection, urllib3.connection.HTTPSConnection), extra)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("GuardedHTTPPool", (urllib3.HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("GuardedHTTPSPool", (urllib3.HTTPSConnectionPool,), {"ConnectionCls": https}),
        }


class _GuardedAdapter(_GuardedPools, requests.adapters.HTTPAdapter):
    def __init__(self, policy: AddressPolicy):
        self.policy = policy
        super().__init__()


class _CachingAdapter(_GuardedPools, CacheControlAdapter):
    """The guarded adapter with an HTTP cache in `cache_dir` (see Revalidate)."""

    def __init__(self, policy: AddressPolicy, cache_dir: Path):
        self.policy = policy
        super().__init__(cache=FileCache(str(cache_dir)), controller_class=Revalidate, heuristic=KeepValidated())


class _HostGate:
    """Per-host politeness shared by every Fetcher in the process (sources run concurrently in
    threads, several may hit one host): a minimum interval between request starts and a cap on
    requests in flight. Each caller waits under its own source's limits, counted against
    everything in flight to that host, so no source can push a host past the cap it declares."""

    _lock = threading.Lock()
    _gates: dict[str, _HostGate] = {}

    def __init__(self) -> None:
        self.in_flight = 0
        self.next_slot = 0.0
        self.lock = threading.Lock()
        self.freed = threading.Condition()

    @classmethod
    def for_host(cls, host: str) -> _HostGate:
        with cls._lock:
            gate = cls._gates.get(host)
            if gate is None:
                gate = cls._gates[host] = cls()
            return gate

    @contextmanager
    def slot(self, limit: int) -> Iterator[None]:
        with self.freed:
            while self.in_flight >= max(1, limit):
                self.freed.wait()
            self.in_flight += 1
        try:
            yield
        finally:
            with self.freed:
                self.in_flight -= 1
                self.freed.notify_all()

    def wait_turn(self, rate: float, sleep: Callable[[float], None]) -> None:
        if rate <= 0:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_slot)
            self.next_slot = start + 1.0 / rate
        if start > now:
            sleep(start - now)


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
    ):
        self.settings = settings
        self.raw_dir = raw_dir
        self.replay = replay
        self.session = session or requests.Session()
        self.policy = AddressPolicy(settings.allow_private_network)
        self.caching = cache_dir is not None
        guarded = _CachingAdapter(self.policy, cache_dir) if cache_dir is not None else _GuardedAdapter(self.policy)
        self.session.mount("http://", guarded)
        self.session.mount("https://", guarded)
        self.session.headers["User-Agent"] = settings.agent()
        if "@" in settings.contact:
            self.session.headers["From"] = settings.contact  # RFC 9110: who runs this crawler
        self.sleep = sleep
        self.cancellation = current_cancellation()
        self._robots: dict[str, RobotFileParser | None] = {}
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
            return self._from_raw(url)
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

    # -- checks -------------------------------------------------------------------------------
    def _check_url(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
        except ValueError:
            raise FetchError(url, "malformed URL (cannot be parsed)", retry=False) from None
        scheme = parts.scheme.lower()
        if scheme == "file":
            if not self.settings.allow_local_files:
                raise FetchError(url, "file:// URLs are not allowed for this source (allow_local_files: false)")
            return
        if scheme not in {"http", "https"}:
            raise FetchError(url, f"scheme {scheme or '(none)'!r} is not allowed; only http(s)")
        if not parts.hostname:
            raise FetchError(url, "URL has no host")
        if self.policy.allow_all:
            return
        try:  # early and by name; the connection checks again what it connects to (_GuardedConnection)
            self.policy.addresses(parts.hostname)
        except AddressRefused as exc:
            raise FetchError(url, str(exc), retry=False) from None
        except (socket.gaierror, UnicodeError) as exc:
            raise FetchError(url, f"cannot resolve host {parts.hostname!r}: {getattr(exc, 'strerror', None) or exc}",
                             retry=False) from None

    def _allowed_by_robots(self, url: str) -> bool:
        if not self.settings.respect_robots:
            return True
        parts = urlsplit(url)
        if parts.scheme == "file":
            return True
        key = f"{parts.scheme}://{parts.netloc}"
        if key not in self._robots:
            self._robots[key] = self._load_robots(key)
        parser = self._robots[key]
        return True if parser is None else parser.can_fetch(self.settings.agent(), url)

    def _load_robots(self, base: str) -> RobotFileParser | None:
        """RFC 9309: 4xx means no rules. A site whose robots.txt fails with 5xx or cannot be
        reached at all is not fetched (the error says which)."""
        parser = RobotFileParser(base + "/robots.txt")
        try:
            result = self._follow(base + "/robots.txt", {}, robots=True)
        except FetchError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                return None
            raise FetchError(base + "/robots.txt", f"robots.txt unavailable ({exc.reason}): site not fetched",
                             status=exc.status) from None
        parser.parse(list(robots_lines(result.text)))
        return parser

    def _interval(self, url: str) -> float:
        """Seconds between requests to `url`'s host: the configured rate_limit or what the site's
        robots.txt asks for this agent (Crawl-delay, Request-rate), whichever is slower."""
        interval = 1.0 / self.settings.rate_limit if self.settings.rate_limit > 0 else 0.0
        parts = urlsplit(url)
        parser = self._robots.get(f"{parts.scheme}://{parts.netloc}") if self.settings.respect_robots else None
        if parser is not None:
            agent = self.settings.agent()
            interval = max(interval, float(parser.crawl_delay(agent) or 0))
            rate = parser.request_rate(agent)
            if rate is not None and rate.requests > 0:
                interval = max(interval, rate.seconds / rate.requests)
        return min(interval, MAX_CRAWL_DELAY)

    # -- transport ------------------------------------------------------------------------------
    def _follow(self, url: str, headers: dict[str, str], *, robots: bool = False) -> FetchResult:
        """Fetch `url`, following redirects; every hop is checked as the first was. A hop to
        another origin goes without the caller's headers (an API key among them), as requests
        does for Authorization: only content negotiation is kept."""
        seen: list[str] = []
        current = url
        for _ in range(self.settings.max_redirects + 1):
            self._check_url(current)
            if not robots and not self._allowed_by_robots(current):
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
                    cross_origin = _origin(current) != _origin(url)
                except ValueError:
                    raise FetchError(url, "redirect to a malformed URL", status=response.status, retry=False) from None
                if cross_origin:
                    headers = {k: v for k, v in headers.items() if k.lower() in _PORTABLE_HEADERS}
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
        gate = _HostGate.for_host(urlsplit(url).netloc.lower())
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
                        delay = _retry_after_seconds(result.headers.get("Retry-After"))
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

    # -- raw store -------------------------------------------------------------------------------
    # One `<hash>.body` + `<hash>.json` per requested URL (the hash of the redacted URL, so that a
    # key in a query string never reaches a file name), and `index.jsonl`, one line per request in
    # order, so that a failed night can be read back request by request.
    def _raw_stem(self, url: str) -> Path:
        assert self.raw_dir is not None
        return self.raw_dir / hashlib.sha1(redact_url(url).encode()).hexdigest()[:20]

    def _store_raw(self, url: str, result: FetchResult | None, error: FetchError | None) -> Path | None:
        if self.raw_dir is None or not self.settings.keep_raw:
            return None
        stem = self._raw_stem(url)
        stem.parent.mkdir(parents=True, exist_ok=True)
        body: Path | None = None
        if result is not None:
            body = stem.with_suffix(".body")
            body.write_bytes(result.content)
        meta = {
            "requested_url": redact_url(url),
            "url": redact_url(result.url) if result else None,
            "status": result.status if result else (error.status if error else None),
            "content_type": result.headers.get("Content-Type") if result else None,
            "encoding": result.encoding if result else None,
            "fetched_at": (result.fetched_at if result else datetime.now(UTC)).isoformat(),
            "error": error.reason if error else None,
        }
        stem.with_suffix(".json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        with (self.raw_dir / "index.jsonl").open("a", encoding="utf-8") as index:
            index.write(json.dumps({**meta, "file": stem.name}, ensure_ascii=False) + "\n")
        return body

    def _from_raw(self, url: str) -> FetchResult:
        """The stored answer to `url`: its response, or the same error as when it was fetched."""
        if self.raw_dir is None:
            raise FetchError(url, "replay needs a raw directory")
        stem = self._raw_stem(url)
        try:
            meta = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
            if meta.get("error"):
                raise FetchError(url, f"{meta['error']} (replayed)", status=meta.get("status"))
            content = stem.with_suffix(".body").read_bytes()
        except OSError:
            raise FetchError(url, "not in the raw store of this run") from None
        return FetchResult(
            meta["url"],
            meta["status"],
            {"Content-Type": meta.get("content_type") or ""},
            content,
            meta["encoding"],
            datetime.fromisoformat(meta["fetched_at"]),
            stem.with_suffix(".body"),
        )
