"""robots.txt: read once per site and run, what it allows this crawler, and the pacing it asks for.

RFC 9309 decides what a missing or failing robots.txt means; urllib.robotparser reads `Crawl-delay` only as a whole number (`0.5` is ignored) and passes any
value str.isdigit() accepts to int() (`²` crashes it, and with it the source); a site may also
ask for a day between requests. These lines make what it reads safe and bounded.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from leadrank.extractors.fetch.result import FetchError, FetchResult

# The longest wait between two requests to one host that a robots.txt can ask for and get; a
# larger Crawl-delay (a day, by mistake or malice) would stall the source for the whole night.
MAX_CRAWL_DELAY = 60.0
_ROBOTS_DIRECTIVE = re.compile(r"^\s*(crawl-delay|request-rate)\s*:\s*([^#]*)", re.I)


def robots_lines(text: str) -> Iterator[str]:
    """robots.txt lines for urllib's parser, with the two directives it would crash on or ignore
    made readable: a Crawl-delay in seconds with a fraction (`0.5`, which it ignores) is rounded
    up, and a value that is no ASCII number (`²`, which it passes to int()) is dropped."""
    for line in text.splitlines():
        match = _ROBOTS_DIRECTIVE.match(line)
        if match:
            name, value = match.group(1).lower(), match.group(2).strip()
            if name == "request-rate":
                if not re.fullmatch(r"[0-9]+\s*/\s*[0-9]+", value):
                    continue
            else:
                try:
                    seconds = float(value) if value.isascii() else math.nan
                except ValueError:
                    continue
                if not 0 <= seconds < math.inf:
                    continue
                line = f"Crawl-delay: {math.ceil(seconds)}"
        yield line


class RobotsStore:
    """Parsed robots.txt files by (user agent, site), shared by the fetchers of one run: sources
    that crawl one host read its robots.txt once a night, as Scrapy reads it once per domain a
    crawl (each source fetched it again before: half of all requests on the real-data fixture).
    A site whose robots.txt failed is not remembered, so the next source asks again."""

    def __init__(self) -> None:
        self._parsers: dict[tuple[str, str], RobotFileParser | None] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: tuple[str, str], load: Callable[[], RobotFileParser | None]) -> RobotFileParser | None:
        """The parser stored under `key`, loaded once (by one thread; others wait) when missing."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._parsers:
                self._parsers[key] = load()
            return self._parsers[key]

    def peek(self, key: tuple[str, str]) -> RobotFileParser | None:
        return self._parsers.get(key)


class RobotsRules:
    """The robots.txt of every site one Fetcher visits (per scheme://host:port, read once, by
    `fetch`, into `store`, which other fetchers of the run may share), for one user agent: which
    URLs it allows and how far apart it wants requests."""

    def __init__(self, agent: str, fetch: Callable[[str], FetchResult], store: RobotsStore | None = None):
        self.agent = agent
        self._fetch = fetch
        self._store = store if store is not None else RobotsStore()

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme == "file":
            return True
        base = f"{parts.scheme}://{parts.netloc}"
        parser = self._store.get((self.agent, base), lambda: self._load(base))
        return True if parser is None else parser.can_fetch(self.agent, url)

    def _load(self, base: str) -> RobotFileParser | None:
        """RFC 9309: 4xx means no rules. A site whose robots.txt fails with 5xx or cannot be
        reached at all is not fetched (the error says which)."""
        parser = RobotFileParser(base + "/robots.txt")
        try:
            result = self._fetch(base + "/robots.txt")
        except FetchError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                return None
            raise FetchError(base + "/robots.txt", f"robots.txt unavailable ({exc.reason}): site not fetched",
                             status=exc.status) from None
        parser.parse(list(robots_lines(result.text)))
        return parser

    def interval(self, url: str) -> float:
        """Seconds between requests that `url`'s site asks of this agent (Crawl-delay,
        Request-rate, whichever is slower); 0 when it asks nothing or its rules are not read."""
        parts = urlsplit(url)
        parser = self._store.peek((self.agent, f"{parts.scheme}://{parts.netloc}"))
        if parser is None:
            return 0.0
        interval = float(parser.crawl_delay(self.agent) or 0)
        rate = parser.request_rate(self.agent)
        if rate is not None and rate.requests > 0:
            interval = max(interval, rate.seconds / rate.requests)
        return interval
