"""Per-host politeness (fetch.throttle): Retry-After honoured or given up on, rate limits spacing
requests, and concurrency caps held across sources sharing a host."""

import email.utils
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug import Response

from leadrank.extractors.fetch.fetcher import Fetcher
from leadrank.extractors.fetch.result import FetchError
from tests.http_fakes import extra_server, fetcher


def test_retry_after_on_429_is_honoured(robots_server, fetch_settings):
    answers = [Response("slow down", status=429, headers={"Retry-After": "7"}), Response("fine")]
    robots_server.expect_request("/busy").respond_with_handler(lambda _request: answers.pop(0))
    sleeps: list[float] = []
    fetch_settings = fetch_settings.model_copy(update={"backoff_max": 30})
    assert fetcher(fetch_settings, sleeps).get(robots_server.url_for("/busy")).text == "fine"
    assert sleeps == [7.0]


def test_retry_after_as_http_date_is_honoured(robots_server, fetch_settings):
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    answers = [Response("busy", status=503, headers={"Retry-After": when}), Response("fine")]
    robots_server.expect_request("/date").respond_with_handler(lambda _request: answers.pop(0))
    sleeps: list[float] = []
    fetch_settings = fetch_settings.model_copy(update={"backoff_max": 60})
    assert fetcher(fetch_settings, sleeps).get(robots_server.url_for("/date")).text == "fine"
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 31


def test_retry_after_beyond_backoff_max_gives_up_with_reason(robots_server, fetch_settings):
    robots_server.expect_request("/later").respond_with_response(Response("", status=429, headers={"Retry-After": "3600"}))
    with pytest.raises(FetchError, match="Retry-After 3600s exceeds backoff_max"):
        fetcher(fetch_settings.model_copy(update={"backoff_max": 5})).get(robots_server.url_for("/later"))


def test_rate_limit_spaces_requests(robots_server, fetch_settings):
    robots_server.expect_request("/p").respond_with_data("x")
    limited = fetch_settings.model_copy(update={"rate_limit": 5.0, "respect_robots": False})
    f = Fetcher(limited)
    started = time.monotonic()
    for _ in range(4):
        f.get(robots_server.url_for("/p"))
    assert time.monotonic() - started >= 0.55  # 3 gaps of 0.2 s


def test_per_host_concurrency_holds_across_sources(fetch_settings):
    """Two sources (two Fetchers, as two flow tasks) on one host never exceed the host's cap."""
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def slow(_request):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return Response("ok")

    with extra_server(threaded=True) as srv:
        srv.expect_request("/robots.txt").respond_with_data("")
        srv.expect_request("/p").respond_with_handler(slow)
        capped = fetch_settings.model_copy(update={"max_concurrency_per_host": 2})
        sources = [Fetcher(capped), Fetcher(capped)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: sources[i % 2].get(srv.url_for("/p"), params={"i": i}), range(16)))
        assert state["peak"] == 2


def test_a_stricter_source_is_not_pushed_past_its_own_cap(fetch_settings):
    """Source B allows one request in flight per host; source A allows four. When B's requests
    run, nothing else is in flight to that host, whatever A is doing."""
    lock = threading.Lock()
    state = {"now": 0, "b_saw": []}

    def handler(request):
        with lock:
            if request.args["who"] == "b":
                state["b_saw"].append(state["now"])
            state["now"] += 1
        time.sleep(0.03)
        with lock:
            state["now"] -= 1
        return Response("ok")

    with extra_server(threaded=True) as srv:
        srv.expect_request("/robots.txt").respond_with_data("")
        srv.expect_request("/p").respond_with_handler(handler)
        a = Fetcher(fetch_settings.model_copy(update={"max_concurrency_per_host": 4}))
        b = Fetcher(fetch_settings.model_copy(update={"max_concurrency_per_host": 1}))
        jobs = [(a, "a")] * 12 + [(b, "b")] * 4
        with ThreadPoolExecutor(10) as pool:
            list(pool.map(lambda job: job[0].get(srv.url_for("/p"), params={"who": job[1], "i": id(job)}), jobs))
        assert len(state["b_saw"]) == 4 and state["b_saw"] == [0, 0, 0, 0]
