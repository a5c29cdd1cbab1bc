"""Stage 1, extract: configured sources → records with provenance (contract EXTRACTED).

`runner.extract_source` runs one source in isolation; `fetch.Fetcher` is the single polite
fetch layer; `pages`, `parsers` and `websearch` know the shapes sources come in.
"""
