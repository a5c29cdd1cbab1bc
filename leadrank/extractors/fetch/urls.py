"""URLs as the fetch layer handles them: one string per request, origins, and redaction.

Kept apart because the same rules serve logs, errors, the raw store and redirects: a key in a
query string must be masked wherever a URL is written down, and a redirect to another origin
must not carry the caller's credentials.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

_SECRET_PARAMS = re.compile(r"(?i)^(api[_-]?key|key|token|access[_-]?token|secret|password|auth|signature|sig)$")

# Request headers that carry no credential and may follow a redirect to another origin.
PORTABLE_HEADERS = frozenset({"accept", "accept-language", "cache-control"})


def redact_url(url: str) -> str:
    """The URL with credential-like query parameters and userinfo masked, for logs and storage.
    A URL too malformed to split (`http://[bad`) keeps only what precedes any userinfo or query."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"(?<=//)[^/?#]*@", "", url).split("?", 1)[0].split("#", 1)[0]
    netloc = parts.netloc.rsplit("@", 1)[-1] if "@" in parts.netloc else parts.netloc
    if not parts.query and netloc == parts.netloc:
        return url
    pairs = []
    for pair in parts.query.split("&") if parts.query else []:
        name, sep, _ = pair.partition("=")
        pairs.append(f"{name}=***" if sep and _SECRET_PARAMS.match(unquote(name)) else pair)
    return urlunsplit(parts._replace(netloc=netloc, query="&".join(pairs)))


class _RedactUrls(logging.Filter):
    """urllib3 logs each request line (`GET /search?q=…&api_key=…`) at DEBUG, and CacheControl each
    URL it considers storing: with debug logging on, a key in a query string would reach the logs.
    This masks it in their records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(a) if isinstance(a, str) and ("?" in a or "@" in a) else a
                                for a in record.args)
        return True


for _name in ("urllib3.connectionpool", "urllib3.poolmanager", "cachecontrol.controller"):
    logging.getLogger(_name).addFilter(_RedactUrls())


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port (the default one filled in): what a browser calls an origin."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


def with_params(url: str, params: Mapping[str, object] | None) -> str:
    """The URL with `params` appended to its query, so that one string identifies the request."""
    if not params:
        return url
    parts = urlsplit(url)
    extra = urlencode([(k, v) for k, v in params.items() if v is not None])
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))
