"""Stage 1, extract: configured sources → records with provenance (contract EXTRACTED).

`runner.extract_source` runs one source in isolation; `fetch` is the single polite fetch layer
(a package, one module per concern: urls, guard, throttle, robots, cache, raw store, fetcher);
`pages` walks start URLs, pagination and detail pages; `parsers` and `fields` know
the document shapes (HTML items and tables, JSON, CSV/XLSX) and the field grammars; `websearch`
and `enrich` turn search results into candidates and complete them from their own sites.
"""
