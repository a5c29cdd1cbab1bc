"""The fetch layer against a local HTTP server: politeness, faults and safety."""

import time

import pytest
from werkzeug import Response

from leadrank.config import FetchSettings
from leadrank.extractors.fetch import Fetcher, FetchError, detect_encoding, redact_url


@pytest.fixture
def settings() -> FetchSettings:
    return FetchSettings(allow_private_network=True, rate_limit=0, max_retries=3, backoff_base=0.01,
                         read_timeout=1.0, connect_timeout=1.0)


@pytest.fixture
def server(httpserver):
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nDisallow: /private\n")
    return httpserver


def fetcher(settings: FetchSettings, sleeps: list[float] | None = None, **kw) -> Fetcher:
    record = sleeps if sleeps is not None else []
    return Fetcher(settings, sleep=record.append, **kw)


def test_plain_get_keeps_raw_copy(server, settings, tmp_path):
    server.expect_request("/list").respond_with_data("<p>ok</p>", content_type="text/html; charset=utf-8")
    result = fetcher(settings, raw_dir=tmp_path).get(server.url_for("/list"), params={"page": 2})
    assert result.status == 200 and result.text == "<p>ok</p>"
    assert result.raw_path is not None and result.raw_path.read_bytes() == b"<p>ok</p>"
    replayed = Fetcher(settings, raw_dir=tmp_path, replay=True).get(server.url_for("/list"), params={"page": 2})
    assert replayed.text == "<p>ok</p>"


def test_retry_after_on_429_is_honoured(server, settings):
    answers = [Response("slow down", status=429, headers={"Retry-After": "7"}), Response("fine")]
    server.expect_request("/busy").respond_with_handler(lambda _request: answers.pop(0))
    sleeps: list[float] = []
    settings = settings.model_copy(update={"backoff_max": 30})
    assert fetcher(settings, sleeps).get(server.url_for("/busy")).text == "fine"
    assert sleeps == [7.0]


def test_500_three_times_then_gives_up(server, settings):
    server.expect_request("/broken").respond_with_data("oops", status=500)
    sleeps: list[float] = []
    settings = settings.model_copy(update={"max_retries": 2})
    with pytest.raises(FetchError, match="HTTP 500 after 3 attempts"):
        fetcher(settings, sleeps).get(server.url_for("/broken"))
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]  # exponential backoff


def test_404_is_not_retried(server, settings):
    server.expect_request("/gone").respond_with_data("no", status=404)
    sleeps: list[float] = []
    with pytest.raises(FetchError, match="HTTP 404"):
        fetcher(settings, sleeps).get(server.url_for("/gone"))
    assert sleeps == []


def test_body_cap(server, settings):
    server.expect_request("/huge").respond_with_data(b"x" * 5000)
    settings = settings.model_copy(update={"max_body_bytes": 1000})
    with pytest.raises(FetchError, match="exceeds the cap of 1000 bytes"):
        fetcher(settings).get(server.url_for("/huge"))


def test_read_timeout(server, settings):
    def slow(_request):
        time.sleep(1.5)
        return Response("late")

    server.expect_request("/slow").respond_with_handler(slow)
    settings = settings.model_copy(update={"read_timeout": 0.3, "max_retries": 0})
    with pytest.raises(FetchError, match="timed out"):
        fetcher(settings).get(server.url_for("/slow"))


def test_redirect_loop_and_limit(server, settings):
    server.expect_request("/a").respond_with_response(Response("", status=302, headers={"Location": "/b"}))
    server.expect_request("/b").respond_with_response(Response("", status=302, headers={"Location": "/a"}))
    with pytest.raises(FetchError, match="redirect loop"):
        fetcher(settings).get(server.url_for("/a"))


def test_redirect_to_forbidden_scheme(server, settings):
    server.expect_request("/r").respond_with_response(Response("", status=301, headers={"Location": "ftp://x.example/f"}))
    with pytest.raises(FetchError, match="scheme 'ftp' is not allowed"):
        fetcher(settings).get(server.url_for("/r"))


def test_robots_disallow(server, settings):
    server.expect_request("/private/list").respond_with_data("secret")
    with pytest.raises(FetchError, match="disallowed by robots.txt"):
        fetcher(settings).get(server.url_for("/private/list"))
    opted_out = settings.model_copy(update={"respect_robots": False})
    assert fetcher(opted_out).get(server.url_for("/private/list")).text == "secret"


def test_loopback_needs_explicit_permission(httpserver):
    httpserver.expect_request("/x").respond_with_data("x")
    with pytest.raises(FetchError, match="non-public address 127.0.0.1"):
        Fetcher(FetchSettings(rate_limit=0)).get(httpserver.url_for("/x"))


def test_file_urls_need_explicit_permission(tmp_path):
    page = tmp_path / "p.html"
    page.write_text("hi", encoding="utf-8")
    with pytest.raises(FetchError, match="file:// URLs are not allowed"):
        Fetcher(FetchSettings()).get(page.as_uri())
    assert Fetcher(FetchSettings(allow_local_files=True)).get(page.as_uri()).text == "hi"


def test_gbk_page_is_decoded(server, settings):
    body = "<html><head><meta charset='gbk'></head><body>深圳市华强电子有限公司</body></html>".encode("gbk")
    server.expect_request("/gbk").respond_with_data(body, content_type="text/html")
    assert "深圳市华强电子有限公司" in fetcher(settings).get(server.url_for("/gbk")).text


def test_wrong_declared_charset_falls_back():
    body = "会员名录 统一社会信用代码 中国证券投资基金业协会".encode("gb18030")
    assert detect_encoding(body, "text/html; charset=utf-8") == "gb18030"
    assert detect_encoding("\ufeffabc".encode("utf-8")) == "utf-8-sig"


def test_rate_limit_spaces_requests(server, settings):
    server.expect_request("/p").respond_with_data("x")
    limited = settings.model_copy(update={"rate_limit": 5.0, "respect_robots": False})
    f = Fetcher(limited)
    started = time.monotonic()
    for _ in range(4):
        f.get(server.url_for("/p"))
    assert time.monotonic() - started >= 0.55  # 3 gaps of 0.2 s


def test_secrets_in_urls_are_redacted():
    assert redact_url("https://api.example.com/s?q=x&api_key=SECRET123") == "https://api.example.com/s?q=x&api_key=***"
    assert "hunter2" not in redact_url("https://user:hunter2@example.com/a")
