"""Charset detection (fetch.encoding): declared charsets are trusted only when the bytes decode under
them, GBK-family labels read as GB18030, compressed bodies decoded before the size cap."""

import gzip

import pytest

from leadrank.extractors.fetch.encoding import detect_encoding
from leadrank.extractors.fetch.result import FetchError
from tests.http_fakes import fetcher


def test_gbk_page_is_decoded(robots_server, fetch_settings):
    body = "<html><head><meta charset='gbk'></head><body>深圳市华强电子有限公司</body></html>".encode("gbk")
    robots_server.expect_request("/gbk").respond_with_data(body, content_type="text/html")
    assert "深圳市华强电子有限公司" in fetcher(fetch_settings).get(robots_server.url_for("/gbk")).text


def test_wrong_declared_charset_falls_back():
    body = "会员名录 统一社会信用代码 中国证券投资基金业协会".encode("gb18030")
    assert detect_encoding(body, "text/html; charset=utf-8") == "gb18030"
    assert detect_encoding("\ufeffabc".encode("utf-8")) == "utf-8-sig"


@pytest.mark.parametrize("body, content_type, expected", [
    ("<meta charset='gb2312'><p>统一社会信用代码 深圳市华强电子有限公司</p>".encode("gb18030"), "text/html", "gb18030"),
    ("<p>上海浦东发展银行股份有限公司 北京市朝阳区 会员名录 电话 联系地址</p>".encode("gbk"), "text/html", "gb18030"),
    ("\ufeff<p>深圳市华强电子有限公司</p>".encode(), "text/html", "utf-8-sig"),
    ("<p>Müller GmbH</p>".encode("latin-1"), "text/html; charset=iso-8859-1", "iso-8859-1"),
])
def test_encoding_detection(body, content_type, expected):
    assert detect_encoding(body, content_type) == expected


def test_compressed_bodies_are_decoded_and_capped_after_decoding(robots_server, fetch_settings):
    page = "<p>深圳市华强电子有限公司</p>".encode()
    robots_server.expect_request("/gz").respond_with_data(gzip.compress(page), headers={"Content-Encoding": "gzip"},
                                                   content_type="text/html; charset=utf-8")
    robots_server.expect_request("/bomb").respond_with_data(gzip.compress(b"0" * 5_000_000), headers={"Content-Encoding": "gzip"})
    assert fetcher(fetch_settings).get(robots_server.url_for("/gz")).content == page
    with pytest.raises(FetchError, match="body exceeds the cap of 100000 bytes"):
        fetcher(fetch_settings.model_copy(update={"max_body_bytes": 100_000})).get(robots_server.url_for("/bomb"))
