"""robots.txt (fetch.robots): a disallowed path is not fetched unless the source opts out.
(Crawl-delay and Request-rate pacing: tests/test_http_cache.py.)"""


import pytest

from leadrank.extractors.fetch.result import FetchError
from tests.http_fakes import fetcher


def test_robots_disallow(robots_server, fetch_settings):
    robots_server.expect_request("/private/list").respond_with_data("secret")
    with pytest.raises(FetchError, match="disallowed by robots.txt"):
        fetcher(fetch_settings).get(robots_server.url_for("/private/list"))
    opted_out = fetch_settings.model_copy(update={"respect_robots": False})
    assert fetcher(opted_out).get(robots_server.url_for("/private/list")).text == "secret"
