"""The raw store (fetch.raw_store): every response and every failure kept on disk, without
secrets, and replayed as it was fetched."""

import json

import pytest

from leadrank.extractors.fetch.fetcher import Fetcher
from leadrank.extractors.fetch.result import FetchError
from tests.http_fakes import fetcher


def test_plain_get_keeps_raw_copy(robots_server, fetch_settings, tmp_path):
    robots_server.expect_request("/list").respond_with_data("<p>ok</p>", content_type="text/html; charset=utf-8")
    result = fetcher(fetch_settings, raw_dir=tmp_path).get(robots_server.url_for("/list"), params={"page": 2})
    assert result.status == 200 and result.text == "<p>ok</p>"
    assert result.raw_path is not None and result.raw_path.read_bytes() == b"<p>ok</p>"
    replayed = Fetcher(fetch_settings, raw_dir=tmp_path, replay=True).get(robots_server.url_for("/list"), params={"page": 2})
    assert replayed.text == "<p>ok</p>"


def test_failures_are_kept_in_the_raw_store_and_replayed(robots_server, fetch_settings, tmp_path):
    robots_server.expect_request("/down").respond_with_data("maintenance until 6am", status=500)
    robots_server.expect_request("/up").respond_with_data("ok")
    live = fetcher(fetch_settings.model_copy(update={"max_retries": 0}), raw_dir=tmp_path)
    live.get(robots_server.url_for("/up"), params={"api_key": "SECRET123"})
    with pytest.raises(FetchError):
        live.get(robots_server.url_for("/down"))
    index = [json.loads(line) for line in (tmp_path / "index.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(e["status"], e["error"]) for e in index if "robots" not in e["requested_url"]] == [
        (200, None), (500, "HTTP 500 after 1 attempts")]
    down = next(e for e in index if e["status"] == 500)
    assert (tmp_path / f"{down['file']}.body").read_text() == "maintenance until 6am"  # inspectable
    assert "SECRET123" not in "".join(p.read_text(errors="ignore") for p in tmp_path.iterdir())
    replay = Fetcher(fetch_settings, raw_dir=tmp_path, replay=True)
    with pytest.raises(FetchError, match=r"HTTP 500 after 1 attempts \(replayed\)"):
        replay.get(robots_server.url_for("/down"))
    assert replay.get(robots_server.url_for("/up"), params={"api_key": "SECRET123"}).text == "ok"
