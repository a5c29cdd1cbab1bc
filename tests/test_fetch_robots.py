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


def test_sources_of_one_run_read_a_hosts_robots_txt_once(robots_server, tmp_path):
    """Two sources on one host: one robots.txt request a run (each source read it before), and
    its rules still bind both; the next run reads it afresh."""
    from leadrank.config import load_config
    from leadrank.extractors.runner import extract_source

    for path in ("/a", "/b"):
        robots_server.expect_request(path).respond_with_data("<div class='e'><h3>Acme Trading Ltd</h3></div>",
                                                             content_type="text/html")
    config = tmp_path / "sources.yaml"
    config.write_text(f"""
fetch: {{rate_limit: 0, allow_private_network: true, http_cache: false}}
sources:
  - {{name: a, kind: exhibition, url: "{robots_server.url_for('/a')}", items: div.e, fields: {{company_name: h3}}}}
  - {{name: b, kind: exhibition, url: "{robots_server.url_for('/b')}", items: div.e, fields: {{company_name: h3}}}}
  - {{name: hidden, kind: exhibition, url: "{robots_server.url_for('/private/c')}", items: div.e,
      fields: {{company_name: h3}}}}
""", encoding="utf-8")
    cfg = load_config(config)

    def robots_requests() -> int:
        return sum(1 for request, _ in robots_server.log if request.path == "/robots.txt")

    reports = {s.name: extract_source(s, cfg.fetch, run_id="run-1")[2] for s in cfg.sources}
    assert [reports[n].records for n in ("a", "b")] == [1, 1] and robots_requests() == 1
    assert reports["hidden"].status == "failed" and "disallowed by robots.txt" in reports["hidden"].reason
    extract_source(cfg.sources[0], cfg.fetch, run_id="run-2")
    assert robots_requests() == 2
