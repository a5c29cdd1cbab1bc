"""No server-side request forgery: no source setting, redirect, pagination link, detail link or
web-search enrichment link makes the fetcher reach loopback, private, link-local or metadata
addresses (in any notation: decimal, octal, hex, short, IPv6, IPv4-mapped, NAT64, 6to4) or
file://, unless the source allows it; and a DNS server cannot answer a public address to the
check and a private one to the connection (DNS rebinding). A victim server listens on 127.0.0.2
and must never hear a request; a spy counts every TCP connection the fetcher opens."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import urllib3.util.connection
from pydantic import ValidationError
from pytest_httpserver import HTTPServer

from leadrank.config import FetchSettings, load_config
from leadrank.extractors.fetch.fetcher import Fetcher
from leadrank.extractors.fetch.result import FetchError
from leadrank.extractors.runner import extract_source
from tests.http_fakes import allow_all_robots
from tests.reliability_log import record

REFUSED = "non-public address"


@pytest.fixture(scope="module")
def internal_service() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.2", port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def victim(internal_service: HTTPServer) -> HTTPServer:
    """An internal service at 127.0.0.2 (every loopback address reaches this machine); its log
    starts empty in every test."""
    internal_service.clear()
    internal_service.expect_request("/latest/meta-data/").respond_with_data("iam credentials")
    internal_service.expect_request("/", method="GET").respond_with_data("internal secret")
    return internal_service


@pytest.fixture
def connections(monkeypatch) -> list[tuple[str, int]]:
    """Every address the fetcher's connections open (host, port)."""
    opened: list[tuple[str, int]] = []
    create = urllib3.util.connection.create_connection

    def spy(address, *args, **kwargs):  # noqa: ANN001, ANN202
        opened.append(address)
        return create(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", spy)
    return opened


@pytest.fixture
def resolver(monkeypatch) -> dict[str, list[str]]:
    """Fake DNS: names in the returned dict resolve to its addresses, in turn (one answer per
    lookup, the last repeated); everything else resolves as usual."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):  # noqa: ANN001, ANN202
        if isinstance(host, str) and host in answers:
            queue = answers[host]
            address = queue.pop(0) if len(queue) > 1 else queue[0]
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 0))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


FORMS = [  # (host as written in a URL, what it is)
    ("127.0.0.2", "loopback"), ("2130706434", "loopback, decimal"), ("0x7f000002", "loopback, hex"),
    ("0177.0.0.2", "loopback, octal"), ("127.2", "loopback, short form"), ("0x7f.0.0.2", "loopback, mixed"),
    ("[::ffff:127.0.0.2]", "loopback, IPv4-mapped IPv6"), ("[::ffff:7f00:2]", "loopback, IPv4-mapped hex"),
    ("[::1]", "IPv6 loopback"), ("localhost", "loopback by name"), ("0.0.0.0", "unspecified (this host)"),
    ("169.254.169.254", "cloud metadata"), ("[::ffff:169.254.169.254]", "metadata, IPv4-mapped"),
    ("[::169.254.169.254]", "metadata, IPv4-compatible"), ("[64:ff9b::a9fe:a9fe]", "metadata via NAT64"),
    ("[2002:a9fe:a9fe::1]", "metadata via 6to4"), ("[fd00:ec2::254]", "AWS IPv6 metadata"),
    ("[fe80::1]", "IPv6 link-local"), ("10.0.0.1", "private"), ("172.16.5.4", "private"),
    ("192.168.1.1", "private"), ("100.64.0.1", "shared (CGNAT)"), ("224.0.0.1", "multicast"),
    ("intranet.example", "a name resolving to a private address"),
]


@pytest.mark.parametrize(("host", "what"), FORMS, ids=[f[0] for f in FORMS])
def test_no_notation_of_a_non_public_address_is_fetched(host, what, victim, connections, resolver):
    resolver["intranet.example"] = ["10.1.2.3"]
    fetcher = Fetcher(FetchSettings(rate_limit=0, max_retries=0))
    with pytest.raises(FetchError, match=REFUSED):
        fetcher.get(f"http://{host}:{victim.port}/latest/meta-data/")
    assert connections == [] and victim.log == []  # refused before any connection
    record("SSRF", f"a URL naming a non-public address, in {len(FORMS)} notations (decimal, octal, hex, short, "
           "IPv4-mapped/-compatible, NAT64, 6to4, metadata, link-local, private, CGNAT, multicast, a name)", runs=1,
           survived=1, lost=0, detail="refused before any connection")


@pytest.fixture
def attacker(httpserver, victim) -> HTTPServer:
    """A public-looking site (at 127.0.0.1, which the sources below allow by address) whose pages,
    redirects and search results point at the victim and the metadata service."""
    allow_all_robots(httpserver)
    inside = [f"http://127.0.0.2:{victim.port}/", f"http://2130706434:{victim.port}/",
              f"http://[::ffff:127.0.0.2]:{victim.port}/", "http://169.254.169.254/latest/meta-data/"]
    cards = "".join(f"<div class=e><h3>Company {i} Ltd</h3><a class=more href='{url}'>more</a></div>"
                    for i, url in enumerate(inside))
    cards += "<div class=e><h3>Local File Ltd</h3><a class=more href='file:///etc/passwd'>more</a></div>"
    httpserver.expect_request("/list").respond_with_data(
        cards + f"<a class=next href='{inside[0]}page2'>next</a>", content_type="text/html")
    httpserver.expect_request("/filelink").respond_with_data(
        "<div class=e><h3>Only Page Ltd</h3></div><a class=next href='file:///etc/passwd'>next</a>",
        content_type="text/html")
    httpserver.expect_request("/redirect").respond_with_data("", status=302, headers={"Location": inside[1]})
    httpserver.expect_request("/redirect-file").respond_with_data("", status=302,
                                                                  headers={"Location": "file:///etc/passwd"})
    results = [{"url": url, "title": f"Internal {i} Co., Ltd.", "content": ""} for i, url in enumerate(inside)]
    httpserver.expect_request("/search").respond_with_json({"results": results})
    return httpserver


def test_links_redirects_and_search_results_never_reach_inside(attacker, victim, tmp_path: Path):
    url = attacker.url_for
    sources = [
        {"name": "paged", "kind": "exhibition", "url": url("/list"), "items": "div.e",
         "fields": {"company_name": "h3", "detail_url": "a.more@href"}, "pagination": {"next": "a.next@href"},
         "detail": {"fields": {"phone": ".tel"}}},
        {"name": "file-next", "kind": "exhibition", "url": url("/filelink"), "items": "div.e",
         "fields": {"company_name": "h3"}, "pagination": {"next": "a.next@href"}},
        {"name": "redirected", "kind": "association", "url": url("/redirect"), "columns": {"company_name": "名称"}},
        {"name": "to-file", "kind": "association", "url": url("/redirect-file"), "columns": {"company_name": "名称"}},
        {"name": "search", "kind": "websearch", "engine": "searxng", "endpoint": url("/search"), "queries": ["x"],
         "enrich": True},
        {"name": "metadata", "kind": "association", "url": "http://169.254.169.254/latest/meta-data/",
         "columns": {"company_name": "名称"}},
        {"name": "local", "kind": "association", "url": "file:///etc/passwd", "columns": {"company_name": "名称"}},
        {"name": "bare-path", "kind": "association", "url": "/etc/passwd", "columns": {"company_name": "名称"}},
    ]
    path = tmp_path / "ssrf.yaml"
    path.write_text(json.dumps({"fetch": {"rate_limit": 0, "max_retries": 0, "allow_private_network": ["127.0.0.1"]},
                                "sources": sources}), encoding="utf-8")
    cfg = load_config(path)
    reports = {}
    for source in cfg.sources:
        records, rejects, report = extract_source(source, cfg.fetch, run_id="r", raw_dir=tmp_path / "raw")
        reports[source.name] = (records, rejects, report)

    records, _, report = reports["paged"]
    assert report.status == "partial" and REFUSED in report.reason and "127.0.0.2" in report.reason  # next page
    assert len(records) == 5  # the first page's companies are kept
    detail_warnings = [w for w in report.warnings if w.startswith("detail page failed")]
    assert len(detail_warnings) == 4 and all(REFUSED in w for w in detail_warnings)
    assert any("not a web page" in w and "file:///etc/passwd" in w for w in report.warnings)
    assert reports["file-next"][2].status == "ok" and reports["file-next"][2].pages == 1  # file:// link not followed
    assert reports["redirected"][2].status == "failed" and REFUSED in reports["redirected"][2].reason
    assert "redirect to a file:// URL refused" in reports["to-file"][2].reason
    records, _, report = reports["search"]
    assert len(records) == 4 and report.status == "ok"  # candidates stay candidates, their sites unread
    assert len([w for w in report.warnings if w.startswith("enrichment of") and REFUSED in w]) == 4
    assert REFUSED in reports["metadata"][2].reason and "169.254.169.254" in reports["metadata"][2].reason
    assert reports["local"][2].status == "failed" and "file:// URLs are not allowed" in reports["local"][2].reason
    assert reports["bare-path"][2].status == "failed" and "only http(s)" in reports["bare-path"][2].reason
    assert victim.log == []
    stored = (tmp_path / "raw").rglob("*.body")
    assert not any("internal secret" in p.read_text(errors="replace") for p in stored)

    # The control: with private networks allowed for the source, the same links do reach the victim.
    opened = cfg.sources[0].model_copy(update={"fetch": {"allow_private_network": True}})
    extract_source(opened, cfg.fetch, run_id="r")
    assert victim.log, "the victim should be reachable when the source allows private networks"
    record("SSRF", "links, redirects, detail pages, pagination, search enrichment and config pointing inside or at "
           "file://", runs=len(sources), survived=len(sources), lost=0,
           detail="victim at 127.0.0.2 got no request; refused with the reason")


def test_dns_rebinding_cannot_swap_the_address_after_the_check(httpserver, resolver, connections):
    """The name resolves to a public address for the check, then to loopback: the connection
    uses the one lookup it checked, so it is refused (before: requests looked up again and
    connected to 127.0.0.1)."""
    httpserver.expect_request("/x").respond_with_data("internal")
    resolver["rebind.example"] = ["93.184.215.14", "127.0.0.1"]
    fetcher = Fetcher(FetchSettings(rate_limit=0, respect_robots=False, max_retries=2))
    with pytest.raises(FetchError, match=f"{REFUSED} 127.0.0.1.*at connect time"):
        fetcher.get(f"http://rebind.example:{httpserver.port}/x")
    assert httpserver.log == [] and connections == []
    assert fetcher.requests_made == 1  # a refusal is not retried
    record("SSRF", "DNS rebinding (public address to the check, loopback to the connection)", runs=1, survived=1,
           lost=0, detail="refused at connect time, nothing sent")


def _tls_files(tmp_path: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA and a certificate for `name` only (not for 127.0.0.1), as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def cert(subject: str, key, issuer: str, issuer_key, ca: bool, san: list[x509.GeneralName]):  # noqa: ANN001, ANN202
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                decipher_only=False), critical=True)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = cert("leadrank test CA", ca_key, "leadrank test CA", ca_key, True, [])
    leaf = cert(name, key, "leadrank test CA", ca_key, False, [x509.DNSName(name)])
    paths = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def test_a_pinned_connection_keeps_the_host_name_for_host_header_sni_and_certificate(resolver, connections,
                                                                                    tmp_path, monkeypatch):
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # they would override the session's CA
        monkeypatch.delenv(variable, raising=False)
    ca, cert, key = _tls_files(tmp_path, "shop.example")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    seen: list[str] = []
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request("/x").respond_with_handler(
        lambda request: seen.append(request.headers["Host"]) or __import__("werkzeug").Response("shop"))
    server.start()
    try:
        resolver["shop.example"] = ["127.0.0.1"]
        settings = FetchSettings(rate_limit=0, respect_robots=False, max_retries=0, allow_private_network=["127.0.0.1"])
        session = requests.Session()
        session.verify = str(ca)
        fetched = Fetcher(settings, session=session).get(f"https://shop.example:{server.port}/x")
        assert fetched.text == "shop" and seen == [f"shop.example:{server.port}"]
        assert [ipaddress.ip_address(host) for host, _ in connections] == [ipaddress.ip_address("127.0.0.1")]
        with pytest.raises(FetchError):  # the certificate is for the name, not the address: verification is on
            Fetcher(settings, session=session).get(f"https://127.0.0.1:{server.port}/x")
    finally:
        server.clear()
        server.stop()


def test_allowed_networks_are_addresses_not_names():
    assert FetchSettings(allow_private_network=["127.0.0.1", "10.2.0.0/16", "fd00::/8"]).allow_private_network
    with pytest.raises(ValidationError, match="not an IP address or network"):
        FetchSettings(allow_private_network=["intranet.example"])
