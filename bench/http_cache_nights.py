"""Two nights of the real sources served over HTTP: how much of the second night the HTTP cache
answers with 304 Not Modified (issue 18's goal: >= 90 % for an unchanged site).

    LEADRANK_REALDATA=../shared/realdata .venv/bin/python bench/http_cache_nights.py

Python's http.server serves the real-data folder (it sends Last-Modified and answers
If-Modified-Since with 304, as a static web server does); every source of
examples/realdata.yaml is pointed at it instead of the local files and extracted twice through
the real fetch layer, with a fresh data directory (so an empty cache) before the first night.
Prints per night: requests, answers by status, body bytes sent, records, and whether the
second night's records equal the first's.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections import Counter
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def serve(folder: Path) -> tuple[ThreadingHTTPServer, Counter, Counter]:
    statuses: Counter = Counter()
    sent: Counter = Counter()

    class Handler(SimpleHTTPRequestHandler):
        def log_request(self, code: object = "-", size: object = "-") -> None:
            kind = "robots.txt" if self.path.endswith("/robots.txt") else "page"
            statuses[(kind, int(code))] += 1  # type: ignore[call-overload]

        def log_message(self, *args: object) -> None:
            pass

        def copyfile(self, source, outputfile) -> None:  # count the body bytes actually sent
            data = source.read()
            sent["body"] += len(data)
            outputfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, statuses, sent


def main() -> int:
    realdata = Path(os.environ.get("LEADRANK_REALDATA", ROOT.parent / "shared" / "realdata")).resolve()
    if not realdata.is_dir():
        print(f"no real data at {realdata}: skipped")
        return 0
    os.environ["LEADRANK_REALDATA"] = str(realdata)
    os.environ["LEADRANK_DATA_DIR"] = tempfile.mkdtemp(prefix="leadrank-cache-nights-")
    from leadrank.config import load_config
    from leadrank.extractors.runner import extract_source

    server, statuses, sent = serve(realdata)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    cfg = load_config(ROOT / "examples" / "realdata.yaml")
    fetch = cfg.fetch.model_copy(update={"allow_local_files": False, "allow_private_network": ["127.0.0.1"]})
    nights = []
    for night in (1, 2):
        statuses.clear()
        sent.clear()
        frames = []
        for source in cfg.sources:
            url = base + Path(source.options()["url"]).resolve().relative_to(realdata).as_posix()
            source = source.model_copy(update={"url": url}) if "url" in type(source).model_fields else \
                type(source).model_validate({**source.model_dump(), "url": url})
            records, _, report = extract_source(source, fetch, run_id=f"night-{night}")
            assert report.status == "ok", (source.name, report.reason)
            frames.append(records[["source", "company_name", "address", "website", "raw"]])
        nights.append(frames)
        pages = sum(n for (kind, _), n in statuses.items() if kind == "page")
        print(f"night {night}: answers {dict(sorted(statuses.items()))}, {sent['body']:,} body bytes sent, "
              f"{sum(len(f) for f in frames):,} records; pages answered 304: {statuses[('page', 304)] / pages:.1%}, "
              f"all requests: {statuses[('page', 304)] / sum(statuses.values()):.1%}")
    same = all(a.equals(b) for a, b in zip(*nights, strict=True))
    print(f"second night's records equal the first's: {same}")
    server.shutdown()
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
