"""A local fake of the demo's three sources (exhibition, association, web search), healthy and
with one fault applied, for the reliability suite.

`FaultSite` serves the demo fixtures under /demo/ (healthy) and under /fault/<fault>/ with the
fault applied to every page of every source; faults a web server cannot fake (a reset
connection, a server that never answers, a body cut short) come from a raw TCP server.
`sources_file` writes a sources file with the three healthy demo sources and a faulty twin of
each (`fault-expo`, `fault-assoc`, `fault-search`: same shapes, the fault's URLs).
"""

from __future__ import annotations

import re
import socket
import struct
import time
from pathlib import Path

import yaml
from werkzeug import Request, Response

from leadrank.paths import DEMO_DIR
from tests.http_fakes import RawTCPServer
from tests.ops_fixtures import SERVED, demo_sources, serve_demo

KINDS = {"exhibition": "demo-expo", "association": "demo-assoc", "websearch": "demo-search"}
START = {"demo-expo": "expo/exhibitors-1.html", "demo-assoc": "association/members.html",
         "demo-search": "search/searxng.json"}
CAP = 1_000_000  # body cap of the faulty sources (the huge body is three times this)


def _content_type(relative: str) -> str:
    return "application/json; charset=utf-8" if relative.endswith(".json") else "text/html; charset=utf-8"


def invalid_utf8(data: bytes) -> bytes:
    """A stray 0xFF byte inside the first Chinese name (or word) of every page."""
    for marker in ("有限公司".encode(), "采购".encode(), b"CO."):
        if marker in data:
            return data.replace(marker, marker[:3] + b"\xff" + marker[3:], 1)
    return data


def wrong_charset(data: bytes) -> bytes:
    """GB18030 bytes, still declared UTF-8 (header and <meta>)."""
    return data.decode("utf-8").encode("gb18030")


def malformed(data: bytes, relative: str) -> bytes:
    """Markup a browser repairs: optional end tags left out, unquoted attributes, upper-case and
    stray closing tags, bare '<' and '&' in text. JSON: the document cut off mid-way."""
    if relative.endswith(".json"):
        return data[: len(data) // 2]
    text = data.decode("utf-8")
    text = re.sub(r"</(td|tr|li|th)>", "", text)
    text = re.sub(r"</p>(?=\s*<(?:p|div|/div)\b)", "", text)  # a <p> ends where a block begins
    text = re.sub(r'class="([\w-]+)"', r"class=\1", text)
    text = text.replace("<h3", "<H3").replace("</h3>", "</H3></b></font>")
    text = text.replace("<body>", "<body>a < b & c</i></span>", 1)
    return text.encode("utf-8")


class RawFaults(RawTCPServer):
    """A TCP server for faults below HTTP: `reset` answers every request with a TCP reset,
    `hang` reads the request and never answers, `truncate` sends a Content-Length it never
    fulfils. The path picks the fault: /reset/…, /hang/…, /truncate/…."""

    backlog = 16

    def __init__(self) -> None:
        self.requests: list[str] = []
        super().__init__()

    def url(self, fault: str, relative: str) -> str:
        return f"http://127.0.0.1:{self.port}/{fault}/{relative}"

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                request = conn.recv(65536).decode("latin-1")
                path = request.split(" ", 2)[1] if " " in request else "/"
                self.requests.append(path)
                fault = path.strip("/").split("/", 1)[0]
                if fault == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                elif fault == "hang":
                    self._closed.wait(30)
                elif fault == "truncate":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                                 b"Content-Length: 90000\r\nConnection: close\r\n\r\n<html><body><div class='exhibitor'>")
            except OSError:
                pass


class FaultSite:
    """The healthy demo and its faulty twins on a pytest-httpserver (plus RawFaults)."""

    def __init__(self, httpserver, raw: RawFaults):  # noqa: ANN001 - pytest-httpserver's HTTPServer
        self.server = httpserver
        self.raw = raw
        self.base = serve_demo(httpserver)
        self.hits: dict[str, list[float]] = {}
        httpserver.expect_request(re.compile(r"^/fault/.*")).respond_with_handler(self._fault)

    def _fault(self, request: Request) -> Response:
        _, _, fault, relative = request.path.split("/", 3)
        self.hits.setdefault(f"{fault}/{relative}", []).append(time.monotonic())
        calls = len(self.hits[f"{fault}/{relative}"])
        if relative not in SERVED:
            return Response("not found", status=404)
        data = (DEMO_DIR / relative).read_bytes()
        kind = _content_type(relative)
        if fault == "http-500":
            return Response("internal error", status=500)
        if fault == "429-retry-after" and calls == 1:
            return Response("slow down", status=429, headers={"Retry-After": "1"})
        if fault == "429-persistent":
            return Response("slow down", status=429, headers={"Retry-After": "0"})
        if fault == "redirect-loop":
            other = "b" if request.args.get("hop") == "a" else "a"
            return Response("", status=302, headers={"Location": f"{request.path}?hop={other}"})
        if fault == "huge-body":
            data = data + b" " * (3 * CAP)
        elif fault == "invalid-utf8":
            data = invalid_utf8(data)
        elif fault == "wrong-charset":
            data = wrong_charset(data)
        elif fault == "malformed":
            data = malformed(data, relative)
        return Response(data, content_type=kind)

    def fault_url(self, fault: str, relative: str) -> str:
        if fault in {"reset", "hang", "truncate"}:
            return self.raw.url(fault, relative)
        return self.server.url_for(f"/fault/{fault}/{relative}")


def sources_file(tmp_path: Path, site: FaultSite, fault: str) -> Path:
    """The demo's three sources read from the fake, plus a faulty twin of each; the twins fail
    fast (short timeouts, one retry, a 1 MB cap). Loopback is allowed explicitly, by address."""
    path = demo_sources(tmp_path, base_url=site.base, allow_private_network=["127.0.0.1"])
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    twins = []
    for source in raw["sources"]:
        twin = dict(source, name=source["name"].replace("demo-", "fault-"))
        key = "endpoint" if "endpoint" in twin else "url"
        twin[key] = site.fault_url(fault, START[source["name"]])
        twin["fetch"] = {"read_timeout": 0.5, "connect_timeout": 0.5, "total_timeout": 5, "max_retries": 1,
                         "backoff_base": 0.01, "max_body_bytes": CAP, "respect_robots": False}
        twins.append(twin)
    raw["sources"] += twins
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
