"""Sources files and receivers for the operations tests: the demo's sources, served from files or
from a local HTTP server, with chosen sources broken, and the same demo's expected leads."""

from __future__ import annotations

import mimetypes
from pathlib import Path

import pandas as pd
import yaml

from leadrank.paths import DEMO_CONFIG, DEMO_DIR

SERVED = ["expo/exhibitors-1.html", "expo/exhibitors-2.html", "expo/exhibitors-3.html",
          "association/members.html", "search/searxng.json"]


def demo_sources(tmp_path: Path, *, base_url: str | None = None, broken: dict[str, str] | None = None,
                 name: str = "sources.yaml", **fetch: object) -> Path:
    """The demo sources file written to `tmp_path`, reading the demo fixtures from `base_url`
    (default: the demo directory as file://). `broken` maps a source name to the URL it should
    read instead (its url, or its endpoint for web search)."""
    raw = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    base = (base_url or DEMO_DIR.as_uri()).rstrip("/")
    for source in raw["sources"]:
        key = "endpoint" if "endpoint" in source else "url"
        source[key] = source[key].replace("${CONFIG_URL}", base)
        if broken and source["name"] in broken:
            source[key] = broken[source["name"]]
    for table in [*raw.get("financials", []), *raw.get("outcomes", [])]:
        table["path"] = str(DEMO_DIR / table["path"])
    raw["fetch"].update(fetch)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def serve_demo(httpserver) -> str:  # noqa: ANN001 - pytest-httpserver's HTTPServer
    """Serve the demo fixtures (and a robots.txt that allows everything); returns the base URL."""
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n", content_type="text/plain")
    for relative in SERVED:
        content_type = mimetypes.guess_type(relative)[0] or "application/octet-stream"
        httpserver.expect_request(f"/demo/{relative}").respond_with_data(
            (DEMO_DIR / relative).read_bytes(), content_type=f"{content_type}; charset=utf-8")
    return httpserver.url_for("/demo")


def requests_to(httpserver, prefix: str) -> int:  # noqa: ANN001
    return sum(1 for request, _ in httpserver.log if request.path.startswith(prefix))


def expected_leads(sources: set[str]) -> int:
    """How many companies the demo lists in these sources (its truth table)."""
    truth = pd.read_csv(DEMO_DIR / "truth.csv")
    return truth.loc[truth["source"].isin(sources), "company_id"].nunique()
