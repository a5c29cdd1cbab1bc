"""The fetcher against a local HTTP server: retries and when not to, body caps, timeouts,
redirect limits, truncated bodies and how it introduces itself."""

import time

import pytest
from werkzeug import Response

from leadrank.config import FetchSettings
from leadrank.extractors.fetch.result import FetchError
from tests.http_fakes import fetcher, raw_server


def test_500_three_times_then_gives_up(robots_server, fetch_settings):
    robots_server.expect_request("/broken").respond_with_data("oops", status=500)
    sleeps: list[float] = []
    fetch_settings = fetch_settings.model_copy(update={"max_retries": 2})
    with pytest.raises(FetchError, match="HTTP 500 after 3 attempts"):
        fetcher(fetch_settings, sleeps).get(robots_server.url_for("/broken"))
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]  # exponential backoff


def test_404_is_not_retried(robots_server, fetch_settings):
    robots_server.expect_request("/gone").respond_with_data("no", status=404)
    sleeps: list[float] = []
    with pytest.raises(FetchError, match="HTTP 404"):
        fetcher(fetch_settings, sleeps).get(robots_server.url_for("/gone"))
    assert sleeps == []


def test_body_cap(robots_server, fetch_settings):
    robots_server.expect_request("/huge").respond_with_data(b"x" * 5000)
    fetch_settings = fetch_settings.model_copy(update={"max_body_bytes": 1000})
    with pytest.raises(FetchError, match="exceeds the cap of 1000 bytes"):
        fetcher(fetch_settings).get(robots_server.url_for("/huge"))


def test_read_timeout(robots_server, fetch_settings):
    def slow(_request):
        time.sleep(1.5)
        return Response("late")

    robots_server.expect_request("/slow").respond_with_handler(slow)
    fetch_settings = fetch_settings.model_copy(update={"read_timeout": 0.3, "max_retries": 0})
    with pytest.raises(FetchError, match="timed out"):
        fetcher(fetch_settings).get(robots_server.url_for("/slow"))


def test_redirect_loop_and_limit(robots_server, fetch_settings):
    robots_server.expect_request("/a").respond_with_response(Response("", status=302, headers={"Location": "/b"}))
    robots_server.expect_request("/b").respond_with_response(Response("", status=302, headers={"Location": "/a"}))
    with pytest.raises(FetchError, match="redirect loop"):
        fetcher(fetch_settings).get(robots_server.url_for("/a"))


def test_too_many_redirects(robots_server, fetch_settings):
    for i in range(4):
        robots_server.expect_request(f"/hop{i}").respond_with_response(Response("", status=301, headers={"Location": f"/hop{i + 1}"}))
    with pytest.raises(FetchError, match="more than 2 redirects"):
        fetcher(fetch_settings.model_copy(update={"max_redirects": 2})).get(robots_server.url_for("/hop0"))


def test_truncated_body_is_an_error_not_a_short_page(fetch_settings):
    response = [b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n",
                b"<div class='e'><h3>only part"]
    with raw_server(response) as srv:
        with pytest.raises(FetchError, match="truncated body"):
            fetcher(fetch_settings.model_copy(update={"respect_robots": False, "max_retries": 1})).get(srv.url("/list"))
        assert srv.connections == 2  # retried once, like any transport failure


def test_body_cap_when_length_is_not_declared(robots_server, fetch_settings):
    def stream(_request):
        return Response((b"x" * 65536 for _ in range(40)), content_type="text/html")  # 2.6 MB, chunked

    robots_server.expect_request("/stream").respond_with_handler(stream)
    with pytest.raises(FetchError, match="body exceeds the cap of 1000000 bytes"):
        fetcher(fetch_settings.model_copy(update={"max_body_bytes": 1_000_000})).get(robots_server.url_for("/stream"))


def test_a_trickling_response_hits_the_total_timeout(fetch_settings):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n"
    with raw_server([head] + [b"x" * 100] * 50, pause=0.05) as srv:
        slow = fetch_settings.model_copy(update={"respect_robots": False, "max_retries": 0, "total_timeout": 0.3})
        started = time.monotonic()
        with pytest.raises(FetchError, match="total_timeout"):
            fetcher(slow).get(srv.url("/slow"))
        assert time.monotonic() - started < 2


def test_user_agent_carries_the_contact_and_from_header(robots_server, fetch_settings):
    seen = {}

    def record(request):
        seen.update(ua=request.headers.get("User-Agent"), sender=request.headers.get("From"))
        return Response("ok")

    robots_server.expect_request("/who").respond_with_handler(record)
    custom = fetch_settings.model_copy(update={"user_agent": "acme-leads/1.0 (contact: {contact})", "contact": "sales@acme.cn"})
    fetcher(custom).get(robots_server.url_for("/who"))
    assert seen == {"ua": "acme-leads/1.0 (contact: sales@acme.cn)", "sender": "sales@acme.cn"}
    plain = FetchSettings(user_agent="acme-leads/1.0", contact="sales@acme.cn")
    assert plain.agent() == "acme-leads/1.0 (contact: sales@acme.cn)"
