"""A copy of every raw response (and of every failure) on disk, so that a run can be re-parsed
without refetching and a failed night read back request by request.

One `<hash>.body` + `<hash>.json` per requested URL (the hash of the redacted URL, so that a key
in a query string never reaches a file name), and `index.jsonl`, one line per request in order.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from leadrank.extractors.fetch.result import FetchError, FetchResult
from leadrank.extractors.fetch.urls import redact_url


class RawStore:
    """The raw responses of one source in one run, in `directory`."""

    def __init__(self, directory: Path):
        self.directory = directory

    def _stem(self, url: str) -> Path:
        return self.directory / hashlib.sha1(redact_url(url).encode()).hexdigest()[:20]

    def store(self, url: str, result: FetchResult | None, error: FetchError | None) -> Path | None:
        """Keep the answer to `url` (its response, or the error and the error response if any);
        the path of the stored body, if there is one."""
        stem = self._stem(url)
        stem.parent.mkdir(parents=True, exist_ok=True)
        body: Path | None = None
        if result is not None:
            body = stem.with_suffix(".body")
            body.write_bytes(result.content)
        meta = {
            "requested_url": redact_url(url),
            "url": redact_url(result.url) if result else None,
            "status": result.status if result else (error.status if error else None),
            "content_type": result.headers.get("Content-Type") if result else None,
            "encoding": result.encoding if result else None,
            "fetched_at": (result.fetched_at if result else datetime.now(UTC)).isoformat(),
            "error": error.reason if error else None,
        }
        stem.with_suffix(".json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        with (self.directory / "index.jsonl").open("a", encoding="utf-8") as index:
            index.write(json.dumps({**meta, "file": stem.name}, ensure_ascii=False) + "\n")
        return body

    def replay(self, url: str) -> FetchResult:
        """The stored answer to `url`: its response, or the same error as when it was fetched."""
        stem = self._stem(url)
        try:
            meta = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
            if meta.get("error"):
                raise FetchError(url, f"{meta['error']} (replayed)", status=meta.get("status"))
            content = stem.with_suffix(".body").read_bytes()
        except OSError:
            raise FetchError(url, "not in the raw store of this run") from None
        return FetchResult(
            meta["url"],
            meta["status"],
            {"Content-Type": meta.get("content_type") or ""},
            content,
            meta["encoding"],
            datetime.fromisoformat(meta["fetched_at"]),
            stem.with_suffix(".body"),
        )
