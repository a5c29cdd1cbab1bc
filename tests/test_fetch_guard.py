"""What a source may reach (fetch.guard): loopback and local files only with explicit permission,
and every redirect hop checked as the first request was. (DNS and address notations:
tests/test_reliability_ssrf.py.)"""


import pytest
from werkzeug import Response

from leadrank.config import FetchSettings
from leadrank.extractors.fetch.fetcher import Fetcher
from leadrank.extractors.fetch.result import FetchError
from tests.http_fakes import fetcher


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


def test_redirect_to_forbidden_scheme(robots_server, fetch_settings):
    robots_server.expect_request("/r").respond_with_response(Response("", status=301, headers={"Location": "ftp://x.example/f"}))
    with pytest.raises(FetchError, match="scheme 'ftp' is not allowed"):
        fetcher(fetch_settings).get(robots_server.url_for("/r"))


def test_redirect_to_a_local_file_is_refused_even_when_files_are_allowed(robots_server, fetch_settings, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read", encoding="utf-8")
    robots_server.expect_request("/r").respond_with_response(Response("", status=302, headers={"Location": secret.as_uri()}))
    with pytest.raises(FetchError, match="redirect to a file:// URL refused"):
        fetcher(fetch_settings.model_copy(update={"allow_local_files": True})).get(robots_server.url_for("/r"))
