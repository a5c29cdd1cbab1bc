"""Which network addresses a source may reach (no SSRF), checked by name and at connect time.

A URL from a config, a page or a redirect must not make the crawler reach this machine, the
private network or the cloud metadata service, in any notation of the address (decimal, octal,
IPv6 wrappings) or by a DNS answer that changes between the check and the connection. This is
the one place that decides, so that every way in is held to the same rule.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import requests.adapters
import urllib3
import urllib3.connection
import urllib3.util.connection

from leadrank.extractors.fetch.cancel import watch_socket
from leadrank.extractors.fetch.result import FetchError

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _wrapped_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d,
    NAT64 64:ff9b::a.b.c.d): a connection to it reaches that IPv4 address."""
    if addr.ipv4_mapped:
        return addr.ipv4_mapped
    if any(addr in net for net in _NAT64) or (addr in _IPV4_COMPATIBLE and int(addr) > 1):
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def non_public(addr: IPAddress) -> bool:
    """Whether an address is anything but public unicast: loopback, private, link-local (the cloud
    metadata service 169.254.169.254 and fd00:ec2::254 among them), shared (CGNAT), reserved,
    unspecified (0.0.0.0 reaches this machine) or multicast, also when carried inside IPv6
    (IPv4-mapped and -compatible, NAT64, 6to4, Teredo)."""
    if isinstance(addr, ipaddress.IPv6Address):
        wrapped = _wrapped_ipv4(addr)
        if wrapped is not None:
            return non_public(wrapped)
        tunnelled = addr.sixtofour or (addr.teredo[1] if addr.teredo else None)
        if tunnelled is not None and non_public(tunnelled):
            return True
    return not addr.is_global or addr.is_multicast


class AddressRefused(Exception):
    """A host resolves to an address this source may not reach. Not an OSError on purpose: it
    passes through urllib3 and requests untouched (no retry, no wrapping) to the fetcher."""

    def __init__(self, host: str, address: str):
        super().__init__(f"host {host} resolves to non-public address {address}; set allow_private_network on the "
                         "source to allow it (true, or a list of networks such as [10.2.0.0/16])")


class AddressPolicy:
    """Which addresses a source may connect to: public ones, plus what its `allow_private_network`
    allows (true: every address; a list: those networks)."""

    def __init__(self, allow: bool | list[str]):
        self.allow_all = allow is True
        self.networks = [ipaddress.ip_network(str(n), strict=False) for n in allow] if isinstance(allow, list) else []

    def permits(self, addr: IPAddress) -> bool:
        if self.allow_all or not non_public(addr):
            return True
        wrapped = _wrapped_ipv4(addr) if isinstance(addr, ipaddress.IPv6Address) else None
        return any(candidate in net for net in self.networks for candidate in (addr, wrapped)
                   if candidate is not None and candidate.version == net.version)

    def addresses(self, host: str, port: int | None = None) -> list[str]:
        """Resolve `host` once and return its addresses, every one of them permitted; raises
        AddressRefused naming the first that is not (socket.gaierror when it does not resolve).
        Numeric forms (2130706433, 0x7f.1, 0177.0.0.1) resolve to the address they denote."""
        found: list[str] = []
        for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
            address = str(info[4][0])
            if not self.permits(ipaddress.ip_address(address.split("%")[0])):
                raise AddressRefused(host, address)
            if address not in found:
                found.append(address)
        return found


class _GuardedConnection:
    """Mixed into urllib3's connection classes: connect to an address the policy checked, from
    the one resolution that was checked. Resolving again to connect (as urllib3 does) would let
    a DNS server answer a public address to the check and a private one to the connection (DNS
    rebinding). The Host header, TLS SNI and certificate checks still use the host name."""

    policy: AddressPolicy  # set on the per-source subclasses (see GuardedAdapter)

    def _new_conn(self) -> socket.socket:
        try:
            addresses = self.policy.addresses(self._dns_host, self.port)  # type: ignore[attr-defined]
        except socket.gaierror as exc:
            raise urllib3.exceptions.NameResolutionError(self.host, self, exc) from exc  # type: ignore[attr-defined]
        error: Exception = urllib3.exceptions.NewConnectionError(self, f"no address for {self.host}")  # type: ignore[attr-defined,arg-type]
        for address in addresses:
            try:
                sock = urllib3.util.connection.create_connection(
                    (address, self.port), self.timeout,  # type: ignore[attr-defined]
                    source_address=self.source_address, socket_options=self.socket_options)  # type: ignore[attr-defined]
                watch_socket(sock)
                return sock
            except TimeoutError:
                error = urllib3.exceptions.ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})")  # type: ignore[attr-defined]
            except OSError as exc:
                error = urllib3.exceptions.NewConnectionError(self, f"Failed to establish a new connection: {exc}")  # type: ignore[arg-type]
        raise error

    def getresponse(self) -> Any:
        """Hand the socket (reused from the pool, or TLS-wrapped) to the request's Abort
        before blocking on the status line and headers."""
        watch_socket(self.sock)  # type: ignore[attr-defined]
        return super().getresponse()  # type: ignore[misc]


class GuardedPools:
    """Mixed into requests' adapters: connections that only reach addresses the source's policy
    permits. (Through a proxy the proxy connects, so it must police its own egress; the URL check
    still refuses private targets by name before any request.)"""

    policy: AddressPolicy
    poolmanager: Any

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)  # type: ignore[misc]
        extra = {"policy": self.policy}
        http = type("GuardedHTTPConnection", (_GuardedConnection, urllib3.connection.HTTPConnection), extra)
        https = type("GuardedHTTPSConnection", (_GuardedConnection, urllib3.connection.HTTPSConnection), extra)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("GuardedHTTPPool", (urllib3.HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("GuardedHTTPSPool", (urllib3.HTTPSConnectionPool,), {"ConnectionCls": https}),
        }


class GuardedAdapter(GuardedPools, requests.adapters.HTTPAdapter):
    """requests' plain HTTP adapter, guarded (see CachingAdapter for the one with an HTTP cache)."""

    def __init__(self, policy: AddressPolicy):
        self.policy = policy
        super().__init__()


def check_url(url: str, policy: AddressPolicy, *, allow_local_files: bool) -> None:
    """Refuse a URL before any request to it: malformed, a scheme but http(s) (file:// only with
    allow_local_files), no host, or a host that resolves to an address `policy` does not permit."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        raise FetchError(url, "malformed URL (cannot be parsed)", retry=False) from None
    scheme = parts.scheme.lower()
    if scheme == "file":
        if not allow_local_files:
            raise FetchError(url, "file:// URLs are not allowed for this source (allow_local_files: false)")
        return
    if scheme not in {"http", "https"}:
        raise FetchError(url, f"scheme {scheme or '(none)'!r} is not allowed; only http(s)")
    if not parts.hostname:
        raise FetchError(url, "URL has no host")
    if policy.allow_all:
        return
    try:  # early and by name; the connection checks again what it connects to (_GuardedConnection)
        policy.addresses(parts.hostname)
    except AddressRefused as exc:
        raise FetchError(url, str(exc), retry=False) from None
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(url, f"cannot resolve host {parts.hostname!r}: {getattr(exc, 'strerror', None) or exc}",
                         retry=False) from None
