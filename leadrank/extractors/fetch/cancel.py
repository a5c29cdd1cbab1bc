"""Ending a request early, from another thread: at its deadline (total_timeout, from connect to
last byte) or when nobody waits for its source any more (a Prefect task past its timeout is
abandoned, not killed: its thread would fetch and retry on after the flow ended).

The fetch layer registers the sockets of the request in flight with an Abort; firing it shuts
them down, so that a read blocked on a server that trickles or says nothing returns at once.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar


class Abort:
    """Ends one request early, from another thread: shuts its sockets down, so that a read
    blocked on a server that trickles its headers a byte at a time (every read within the read
    timeout) or says nothing returns at once. `reason` says why, for the error."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            fired = self.reason is not None
        if fired:
            _shut(sock)

    def fire(self, reason: str) -> None:
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    with suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


# The request this thread has in flight (requests is synchronous: the thread that asks is the
# one that connects and reads), so that its connection can hand its socket to the Abort.
in_flight = threading.local()


def watch_socket(sock: socket.socket | None) -> None:
    abort: Abort | None = getattr(in_flight, "abort", None)
    if abort is not None:
        abort.watch(sock)


class Cancellation:
    """Stops the fetches of a thread that nobody waits for any more (a source task past its
    timeout is abandoned, not killed): after `cancel()` the request in flight ends at once and
    no further request or retry starts. See `cancellable`."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._aborts: set[Abort] = set()
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        return self.event.is_set()

    def cancel(self) -> None:
        with self._lock:
            self.event.set()
            aborts = list(self._aborts)
        for abort in aborts:
            abort.fire(CANCELLED)

    @contextmanager
    def covering(self, abort: Abort) -> Iterator[None]:
        with self._lock:
            self._aborts.add(abort)
            if self.event.is_set():
                abort.fire(CANCELLED)
        try:
            yield
        finally:
            with self._lock:
                self._aborts.discard(abort)


CANCELLED = "fetch cancelled: nothing waits for this source any more (its task timed out or ended)"
_cancellation: ContextVar[Cancellation | None] = ContextVar("leadrank_fetch_cancellation", default=None)


def current_cancellation() -> Cancellation | None:
    """The Cancellation of this context (see `cancellable`), if any."""
    return _cancellation.get()


@contextmanager
def cancellable() -> Iterator[Cancellation]:
    """A Cancellation for the fetchers created in this context, including in worker threads
    started from it with the context copied (anyio's to_thread, as Prefect runs sync work)."""
    token = Cancellation()
    reset = _cancellation.set(token)
    try:
        yield token
    finally:
        _cancellation.reset(reset)
