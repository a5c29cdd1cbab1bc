"""Faults per source kind: each fault hits a faulty twin of every kind (exhibition, association,
web search) beside the healthy demo sources, in one run through the pipeline steps. The run
completes, the healthy sources publish, each faulty twin is reported with its reason (in the
run's reports and in the warehouse), and every extracted record is accounted for."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pandas as pd
import pytest
from sqlalchemy import text

from leadrank.contracts import PROSPECT_FIELDS
from leadrank.run_files import RunFiles, read_frame
from leadrank.warehouse.engine import make_engine
from leadrank.warehouse.read import ranked_leads
from tests.fault_site import KINDS, START, FaultSite, RawFaults, sources_file
from tests.helpers import run_pipeline
from tests.ops_fixtures import expected_leads
from tests.reliability_log import record

OK = ("ok", None)
# fault -> (status, reason pattern) of the faulty twin, for every kind or per kind.
FAULTS: dict[str, tuple[str, str | None] | dict[str, tuple[str, str | None]]] = {
    "http-500": ("failed", r"^HTTP 500 after 2 attempts"),
    "429-retry-after": OK,  # one 429 with Retry-After: 1, then the page
    "429-persistent": ("failed", r"^HTTP 429 after 2 attempts"),
    "reset": ("failed", r"^connection failed"),
    "hang": ("failed", r"^timed out"),
    "truncate": ("failed", r"^truncated body"),
    "invalid-utf8": OK,
    "wrong-charset": OK,
    "malformed": {"exhibition": OK, "association": OK, "websearch": ("failed", r"not JSON")},
    "huge-body": ("failed", r"exceeds the cap of 1000000 bytes"),
    "redirect-loop": ("failed", r"^redirect loop"),
}


BYTES = re.compile(r"body of \d+ bytes")
DESCRIBED = {
    "http-500": "HTTP 500 on every request", "429-retry-after": "429 with Retry-After: 1, then the page",
    "429-persistent": "429 with Retry-After on every request", "reset": "connection reset (TCP RST)",
    "hang": "read timeout (the server never answers)", "truncate": "truncated body (Content-Length not met)",
    "invalid-utf8": "invalid UTF-8 byte in a page declared UTF-8", "wrong-charset": "GB18030 page declared UTF-8",
    "malformed": "malformed HTML (end tags left out, unquoted attributes, stray tags); JSON cut off",
    "huge-body": "huge body (3 MB over a 1 MB cap)", "redirect-loop": "redirect loop",
}


@pytest.fixture(scope="module")
def raw_faults() -> Iterator[RawFaults]:
    server = RawFaults()
    yield server
    server.close()


def expected(fault: str, kind: str) -> tuple[str, str | None]:
    spec = FAULTS[fault]
    return spec[kind] if isinstance(spec, dict) else spec


def values(run_id: str, source: str) -> pd.DataFrame:
    """A source's extracted values, replacement characters (from undecodable bytes) removed."""
    frame = read_frame(RunFiles(run_id).extracted(source))[PROSPECT_FIELDS]
    return frame.map(lambda v: v.replace("\ufffd", "") if isinstance(v, str) else v)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_faulty_source_of_each_kind_is_reported_and_the_healthy_ones_publish(fault, httpserver, raw_faults,
                                                                               tmp_path):
    site = FaultSite(httpserver, raw_faults)
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    result = run_pipeline(str(sources_file(tmp_path, site, fault)), url)  # completes: raises otherwise
    reports = {r["source"]: r for r in result["sources"]}
    engine = make_engine(url)
    with engine.connect() as conn:
        stored = {row.source: row for row in conn.execute(text(
            "SELECT source, status, reason, records FROM stg_source_runs WHERE run_id = :r"), {"r": result["run_id"]})}
    lost = 0
    for kind, healthy in KINDS.items():
        twin = healthy.replace("demo-", "fault-")
        status, reason = expected(fault, kind)
        assert reports[healthy]["status"] == "ok", reports[healthy]
        assert reports[twin]["status"] == status, reports[twin]
        assert stored[twin].status == status and stored[healthy].status == "ok"
        if reason:
            assert re.search(reason, reports[twin]["reason"]), reports[twin]["reason"]
            assert stored[twin].reason == reports[twin]["reason"]
            assert reports[twin]["records"] == 0
        else:  # survived: the same records as the healthy twin, value for value
            before, after = values(result["run_id"], healthy), values(result["run_id"], twin)
            lost += max(0, len(before) - len(after))
            pd.testing.assert_frame_equal(after, before, obj=f"{twin} ({fault})")
    if fault == "429-retry-after":
        for relative in START.values():
            first, second = site.hits[f"{fault}/{relative}"][:2]
            assert second - first >= 0.95, relative  # Retry-After: 1 was honoured

    records = result["records"]
    assert records["extracted"] == records["published"] + records["merged"] + records["rejected"]
    assert all(counts["lost"] == 0 for counts in records["by_source"].values())
    ranked = ranked_leads(engine)
    assert ranked["lead_id"].is_unique and len(ranked) == expected_leads(set(KINDS.values()))
    outcome = {kind: reports[name.replace("demo-", "fault-")] for kind, name in KINDS.items()}
    said = {kind: r["status"] + (f" ({BYTES.sub('the body', r['reason'].split(' (http')[0])})" if r["reason"] else "")
            for kind, r in outcome.items()}
    record("faults", f"{DESCRIBED[fault]}, on a source of each kind", runs=1, survived=1,
           lost=lost + sum(c["lost"] for c in records["by_source"].values()),
           detail=("all kinds " + next(iter(said.values()))) if len(set(said.values())) == 1
           else "; ".join(f"{kind} {text}" for kind, text in said.items()), warehouse="SQLite")
