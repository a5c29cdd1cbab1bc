"""Local servers for fetch tests: what pytest-httpserver cannot fake (a body cut short of its
Content-Length, a response that trickles), a threaded server for concurrency, settings that
keep the suite fast (tiny backoffs and timeouts) and a fetcher that records its waits."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pytest_httpserver import HTTPServer

from leadrank.config import FetchSettings
from leadrank.extractors.fetch.fetcher import Fetcher

# Local servers are private addresses; politeness is off except where a test turns it on.
FAST = FetchSettings(allow_private_network=True, allow_local_files=True, rate_limit=0, max_retries=2,
                     backoff_base=0.001, backoff_max=1.0, connect_timeout=1.0, read_timeout=1.0, total_timeout=5.0)


def fetcher(settings: FetchSettings, sleeps: list[float] | None = None, **kw: Any) -> Fetcher:
    """A Fetcher that appends each wait to `sleeps` instead of sleeping, so that a test sees the
    backoffs and Retry-After delays without spending them."""
    record = sleeps if sleeps is not None else []
    return Fetcher(settings, sleep=record.append, **kw)


class RawTCPServer:
    """A bare TCP server on a free local port: each connection is handed to `_answer` on its
    own thread. For what pytest-httpserver cannot send: broken HTTP, resets, silence."""

    backlog = 8

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(self.backlog)
        self.port = self.sock.getsockname()[1]
        self._closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._closed.set()
        self.sock.close()


class RawServer(RawTCPServer):
    """Answers every connection with the same bytes, written in `chunks` with `pause` seconds
    between them, then closes: for truncated and trickling responses."""

    def __init__(self, chunks: list[bytes], pause: float = 0.0):
        self.chunks = chunks
        self.pause = pause
        self.connections = 0
        super().__init__()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _answer(self, conn: socket.socket) -> None:
        self.connections += 1
        with conn:
            try:
                conn.recv(65536)
                for chunk in self.chunks:
                    conn.sendall(chunk)
                    if self.pause:
                        time.sleep(self.pause)
            except OSError:
                pass


@contextmanager
def raw_server(chunks: list[bytes], pause: float = 0.0) -> Iterator[RawServer]:
    server = RawServer(chunks, pause)
    try:
        yield server
    finally:
        server.close()


@contextmanager
def extra_server(threaded: bool = False) -> Iterator[HTTPServer]:
    """Another local HTTP server (another host:port): a second site, or a threaded one."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=threaded)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        if server.is_running():
            server.stop()


def allow_all_robots(server: HTTPServer) -> None:
    server.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
