"""Throughput of the extract stage: fetch (pages/s against a local HTTP server with politeness
off) and parsing (rows/s on the real files).

    .venv/bin/python bench/fetch_throughput.py                 # both
    .venv/bin/python bench/fetch_throughput.py --pages 500 --sources 4
    LEADRANK_REALDATA=/path/to/realdata .venv/bin/python bench/fetch_throughput.py --skip-fetch

Fetch: a threaded local server serves `--pages` exhibitor list pages of `--rows` cards each,
chained by next links; one source walks them all (sequential, as a source does), then
`--sources` sources walk copies of them concurrently in threads (as the nightly flow runs them),
all through the real fetch layer (robots.txt off, no rate limit, private network allowed, raw
responses kept) and the real HTML parser. The local server is in the same process, so the figure
is a floor for the fetch layer, not a network measurement.

Parsing: every source of examples/realdata.yaml through extract_source (file:// read, parse,
mapping, provenance), best of `--repeat` runs; skipped when the real data is absent.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]


def make_server(pages: int, rows: int) -> ThreadingHTTPServer:
    def page(number: int) -> bytes:
        cards = "".join(
            f"<div class='exhibitor'><h3>Company {number}-{i} 有限公司</h3><span class='booth'>A{i}</span>"
            f"<p class='addr'>深圳市南山区科技园{i}号</p><span class='tel'>0755-8{number:03d}{i:04d}</span>"
            f"<a class='web' href='https://c{number}-{i}.example.com/'>web</a></div>"
            for i in range(rows)
        )
        nxt = f"<a class='next' href='?page={number + 1}'>next</a>" if number < pages else ""
        return f"<html><head><meta charset='utf-8'></head><body>{cards}{nxt}</body></html>".encode()

    bodies = {n: page(n) for n in range(1, pages + 1)}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in separate writes

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            query = parse_qs(urlsplit(self.path).query)
            body = bodies.get(int(query.get("page", ["1"])[0]), b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def bench_fetch(pages: int, rows: int, sources: int, raw_dir: Path) -> None:
    from leadrank.config import FetchSettings, SourceConfig
    from leadrank.extractors.runner import extract_source

    server = make_server(pages, rows)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    settings = FetchSettings(rate_limit=0, respect_robots=False, allow_private_network=True,
                             max_concurrency_per_host=max(8, sources), max_retries=0)

    def source(name: str, path: str) -> SourceConfig:
        return SourceConfig.model_validate({
            "name": name, "kind": "exhibition", "url": f"{base}/{path}?page=1", "items": "div.exhibitor",
            "pagination": {"next": "a.next", "max_pages": pages + 1},
            "fields": {"company_name": "h3", "booth": ".booth", "address": ".addr", "phone": ".tel",
                       "website": "a.web@href"}})

    started = time.perf_counter()
    records, _, report = extract_source(source("one", "list"), settings, run_id="bench", raw_dir=raw_dir)
    seconds = time.perf_counter() - started
    assert report.status == "ok" and report.pages == pages, report
    print(f"fetch, 1 source:  {report.pages} pages, {len(records)} rows in {seconds:.2f}s "
          f"= {report.pages / seconds:.0f} pages/s, {len(records) / seconds:.0f} rows/s (fetch + parse + raw store)")

    started = time.perf_counter()
    with ThreadPoolExecutor(sources) as pool:
        results = list(pool.map(lambda i: extract_source(source(f"s{i}", f"list{i}"), settings, run_id="bench",
                                                         raw_dir=raw_dir), range(sources)))
    seconds = time.perf_counter() - started
    total_pages = sum(r[2].pages for r in results)
    total_rows = sum(len(r[0]) for r in results)
    assert all(r[2].status == "ok" for r in results)
    print(f"fetch, {sources} sources in threads, one host: {total_pages} pages, {total_rows} rows in {seconds:.2f}s "
          f"= {total_pages / seconds:.0f} pages/s")
    server.shutdown()


def bench_parse(realdata: Path, repeat: int) -> None:
    from leadrank.config import load_config
    from leadrank.extractors.runner import extract_source

    os.environ["LEADRANK_REALDATA"] = str(realdata.resolve())
    cfg = load_config(ROOT / "examples" / "realdata.yaml")
    settings = cfg.fetch.model_copy(update={"keep_raw": False})
    total_rows = 0
    total_seconds = 0.0
    print(f"{'source':<20} {'rows':>6} {'best s':>8} {'rows/s':>9}")
    for src in cfg.sources:
        times = []
        rows = 0
        for _ in range(repeat):
            started = time.perf_counter()
            records, _, report = extract_source(src, settings, run_id="bench")
            times.append(time.perf_counter() - started)
            rows = len(records)
        best = min(times)
        total_rows += rows
        total_seconds += best
        print(f"{src.name:<20} {rows:>6} {best:>8.3f} {rows / best:>9.0f}   (median {statistics.median(times):.3f}s)")
    print(f"{'all real files':<20} {total_rows:>6} {total_seconds:>8.3f} {total_rows / total_seconds:>9.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--rows", type=int, default=20, help="cards per page")
    parser.add_argument("--sources", type=int, default=4, help="concurrent sources in the second run")
    parser.add_argument("--repeat", type=int, default=5, help="parse runs per real file (best is reported)")
    parser.add_argument("--realdata", default=os.environ.get("LEADRANK_REALDATA", str(ROOT.parent / "shared" / "realdata")))
    parser.add_argument("--skip-fetch", action="store_true")
    parser.add_argument("--skip-parse", action="store_true")
    args = parser.parse_args()
    if not args.skip_fetch:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            bench_fetch(args.pages, args.rows, args.sources, Path(tmp))
    if not args.skip_parse:
        realdata = Path(args.realdata)
        if (realdata / "exhibitions").is_dir():
            bench_parse(realdata, args.repeat)
        else:
            print(f"real data not found at {realdata}: parser throughput skipped (set LEADRANK_REALDATA)")


if __name__ == "__main__":
    main()
