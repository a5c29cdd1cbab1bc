"""When the next request to a host may start: pacing, concurrency caps and waits a site asks for.

Politeness is per host and per process, not per source: sources run concurrently and several may
crawl one host, so the gate that spaces and caps requests is shared by every Fetcher. The
interval honours the site's robots.txt, and a 429/503 honours its Retry-After.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from leadrank.extractors.fetch.robots import MAX_CRAWL_DELAY

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def spacing(rate_limit: float, asked: float) -> float:
    """Seconds between requests to one host: the configured rate_limit or what the site's
    robots.txt asks for (`asked`, see RobotsRules.interval), whichever is slower, capped at
    MAX_CRAWL_DELAY."""
    interval = 1.0 / rate_limit if rate_limit > 0 else 0.0
    return min(max(interval, asked), MAX_CRAWL_DELAY)


def retry_after_seconds(value: str | None) -> float | None:
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


class HostGate:
    """Per-host politeness shared by every Fetcher in the process (sources run concurrently in
    threads, several may hit one host): a minimum interval between request starts and a cap on
    requests in flight. Each caller waits under its own source's limits, counted against
    everything in flight to that host, so no source can push a host past the cap it declares."""

    _lock = threading.Lock()
    _gates: dict[str, HostGate] = {}

    def __init__(self) -> None:
        self.in_flight = 0
        self.next_slot = 0.0
        self.lock = threading.Lock()
        self.freed = threading.Condition()

    @classmethod
    def for_host(cls, host: str) -> HostGate:
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
