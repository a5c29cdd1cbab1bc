"""The fetch layer against a local HTTP server: politeness, faults and safety."""

import email.utils
import gzip
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug import Response

from leadrank.config import FetchSettings
from leadrank.extractors.fetch import Fetcher, FetchError, detect_encoding, redact_url
from tests.http_fakes import extra_server, raw_server


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


# -- more faults and politeness ----------------------------------------------------------------

def test_retry_after_as_http_date_is_honoured(server, settings):
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    answers = [Response("busy", status=503, headers={"Retry-After": when}), Response("fine")]
    server.expect_request("/date").respond_with_handler(lambda _request: answers.pop(0))
    sleeps: list[float] = []
    settings = settings.model_copy(update={"backoff_max": 60})
    assert fetcher(settings, sleeps).get(server.url_for("/date")).text == "fine"
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 31


def test_retry_after_beyond_backoff_max_gives_up_with_reason(server, settings):
    server.expect_request("/later").respond_with_response(Response("", status=429, headers={"Retry-After": "3600"}))
    with pytest.raises(FetchError, match="Retry-After 3600s exceeds backoff_max"):
        fetcher(settings.model_copy(update={"backoff_max": 5})).get(server.url_for("/later"))


def test_truncated_body_is_an_error_not_a_short_page(settings):
    response = [b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n",
                b"<div class='e'><h3>only part"]
    with raw_server(response) as srv:
        with pytest.raises(FetchError, match="truncated body"):
            fetcher(settings.model_copy(update={"respect_robots": False, "max_retries": 1})).get(srv.url("/list"))
        assert srv.connections == 2  # retried once, like any transport failure


def test_body_cap_when_length_is_not_declared(server, settings):
    def stream(_request):
        return Response((b"x" * 65536 for _ in range(40)), content_type="text/html")  # 2.6 MB, chunked

    server.expect_request("/stream").respond_with_handler(stream)
    with pytest.raises(FetchError, match="body exceeds the cap of 1000000 bytes"):
        fetcher(settings.model_copy(update={"max_body_bytes": 1_000_000})).get(server.url_for("/stream"))


def test_a_trickling_response_hits_the_total_timeout(settings):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n"
    with raw_server([head] + [b"x" * 100] * 50, pause=0.05) as srv:
        slow = settings.model_copy(update={"respect_robots": False, "max_retries": 0, "total_timeout": 0.3})
        started = time.monotonic()
        with pytest.raises(FetchError, match="total_timeout"):
            fetcher(slow).get(srv.url("/slow"))
        assert time.monotonic() - started < 2


def test_user_agent_carries_the_contact_and_from_header(server, settings):
    seen = {}

    def record(request):
        seen.update(ua=request.headers.get("User-Agent"), sender=request.headers.get("From"))
        return Response("ok")

    server.expect_request("/who").respond_with_handler(record)
    custom = settings.model_copy(update={"user_agent": "acme-leads/1.0 (contact: {contact})", "contact": "sales@acme.cn"})
    fetcher(custom).get(server.url_for("/who"))
    assert seen == {"ua": "acme-leads/1.0 (contact: sales@acme.cn)", "sender": "sales@acme.cn"}
    plain = FetchSettings(user_agent="acme-leads/1.0", contact="sales@acme.cn")
    assert plain.agent() == "acme-leads/1.0 (contact: sales@acme.cn)"


def test_redirect_to_a_local_file_is_refused_even_when_files_are_allowed(server, settings, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read", encoding="utf-8")
    server.expect_request("/r").respond_with_response(Response("", status=302, headers={"Location": secret.as_uri()}))
    with pytest.raises(FetchError, match="redirect to a file:// URL refused"):
        fetcher(settings.model_copy(update={"allow_local_files": True})).get(server.url_for("/r"))


def test_too_many_redirects(server, settings):
    for i in range(4):
        server.expect_request(f"/hop{i}").respond_with_response(Response("", status=301, headers={"Location": f"/hop{i + 1}"}))
    with pytest.raises(FetchError, match="more than 2 redirects"):
        fetcher(settings.model_copy(update={"max_redirects": 2})).get(server.url_for("/hop0"))


def test_failures_are_kept_in_the_raw_store_and_replayed(server, settings, tmp_path):
    server.expect_request("/down").respond_with_data("maintenance until 6am", status=500)
    server.expect_request("/up").respond_with_data("ok")
    live = fetcher(settings.model_copy(update={"max_retries": 0}), raw_dir=tmp_path)
    live.get(server.url_for("/up"), params={"api_key": "SECRET123"})
    with pytest.raises(FetchError):
        live.get(server.url_for("/down"))
    index = [json.loads(line) for line in (tmp_path / "index.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(e["status"], e["error"]) for e in index if "robots" not in e["requested_url"]] == [
        (200, None), (500, "HTTP 500 after 1 attempts")]
    down = next(e for e in index if e["status"] == 500)
    assert (tmp_path / f"{down['file']}.body").read_text() == "maintenance until 6am"  # inspectable
    assert "SECRET123" not in "".join(p.read_text(errors="ignore") for p in tmp_path.iterdir())
    replay = Fetcher(settings, raw_dir=tmp_path, replay=True)
    with pytest.raises(FetchError, match=r"HTTP 500 after 1 attempts \(replayed\)"):
        replay.get(server.url_for("/down"))
    assert replay.get(server.url_for("/up"), params={"api_key": "SECRET123"}).text == "ok"


@pytest.mark.parametrize("body, content_type, expected", [
    ("<meta charset='gb2312'><p>统一社会信用代码 深圳市华强电子有限公司</p>".encode("gb18030"), "text/html", "gb18030"),
    ("<p>上海浦东发展银行股份有限公司 北京市朝阳区 会员名录 电话 联系地址</p>".encode("gbk"), "text/html", "gb18030"),
    ("\ufeff<p>深圳市华强电子有限公司</p>".encode(), "text/html", "utf-8-sig"),
    ("<p>Müller GmbH</p>".encode("latin-1"), "text/html; charset=iso-8859-1", "iso-8859-1"),
])
def test_encoding_detection(body, content_type, expected):
    assert detect_encoding(body, content_type) == expected


def test_per_host_concurrency_holds_across_sources(settings):
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
        capped = settings.model_copy(update={"max_concurrency_per_host": 2})
        sources = [Fetcher(capped), Fetcher(capped)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: sources[i % 2].get(srv.url_for("/p"), params={"i": i}), range(16)))
        assert state["peak"] == 2


def test_compressed_bodies_are_decoded_and_capped_after_decoding(server, settings):
    page = "<p>深圳市华强电子有限公司</p>".encode()
    server.expect_request("/gz").respond_with_data(gzip.compress(page), headers={"Content-Encoding": "gzip"},
                                                   content_type="text/html; charset=utf-8")
    server.expect_request("/bomb").respond_with_data(gzip.compress(b"0" * 5_000_000), headers={"Content-Encoding": "gzip"})
    assert fetcher(settings).get(server.url_for("/gz")).content == page
    with pytest.raises(FetchError, match="body exceeds the cap of 100000 bytes"):
        fetcher(settings.model_copy(update={"max_body_bytes": 100_000})).get(server.url_for("/bomb"))


def test_a_stricter_source_is_not_pushed_past_its_own_cap(settings):
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
        a = Fetcher(settings.model_copy(update={"max_concurrency_per_host": 4}))
        b = Fetcher(settings.model_copy(update={"max_concurrency_per_host": 1}))
        jobs = [(a, "a")] * 12 + [(b, "b")] * 4
        with ThreadPoolExecutor(10) as pool:
            list(pool.map(lambda job: job[0].get(srv.url_for("/p"), params={"who": job[1], "i": id(job)}), jobs))
        assert len(state["b_saw"]) == 4 and state["b_saw"] == [0, 0, 0, 0]
