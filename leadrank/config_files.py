"""Whether the files a sources file names are there, checked without fetching anything.

A mistyped `financials:` path used to give 0 statements and a night that exited 0; a local
source file that is missing fails that source only after the night has begun. `missing_files`
lists every such problem at once, for `leadrank check`. `require_files` makes a run refuse to
start on a missing financials or outcomes file, which would silently score without them; a
missing source file stays that source's failure (the others still publish, as when a site is
down), so a run checks sources only when asked. Web URLs are not fetched here: reachability of
sites is the night's business.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from leadrank.config import Config, ConfigError, FetchSettings
from leadrank.config_sources import PageSource, WebSearchSource


def _local_path(url: str) -> Path | None:
    """The file a source URL names when it is local (file://, or a path without a scheme, as
    leadrank.extractors.pages.start_url reads it), else None."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() == "file":
        return Path(unquote(parts.path))
    if not parts.scheme or Path(url).drive:
        return Path(url.strip()).expanduser()
    return None


def _source_files(cfg: Config) -> list[tuple[str, Path]]:
    files = []
    for source in cfg.sources:
        if not source.enabled:
            continue
        settings = FetchSettings.model_validate({**cfg.fetch.model_dump(exclude_unset=True), **source.fetch})
        if not settings.allow_local_files:
            continue  # the fetch layer refuses local files for this source anyway, with its reason
        if isinstance(source, PageSource):
            urls = source.urls or ([source.url] if source.url else [])
        else:
            assert isinstance(source, WebSearchSource)
            urls = [source.endpoint]
        for url in urls:
            path = _local_path(url)
            if path is not None:
                files.append((f"sources: {source.name}", path))
    return files


def missing_files(cfg: Config, *, sources: bool = True) -> list[str]:
    """Every file or folder the config names that is not there, one line each (local source
    files too unless `sources` is False)."""
    problems = []
    for table in cfg.financials:
        if not table.path.exists():
            problems.append(f"financials: {table.name}: {table.path} does not exist")
        elif table.path.is_dir() and not any(table.path.glob(table.pattern)):
            problems.append(f"financials: {table.name}: no {table.pattern} files in {table.path}")
    for table in cfg.outcomes:
        if not table.path.is_file():
            problems.append(f"outcomes: {table.name}: {table.path} is not a file")
    for where, path in _source_files(cfg) if sources else []:
        if not path.is_file():
            problems.append(f"{where}: local file {path} does not exist")
    return problems


def require_files(cfg: Config, *, sources: bool = True) -> None:
    """Raise ConfigError listing every missing file (see missing_files)."""
    problems = missing_files(cfg, sources=sources)
    if problems:
        raise ConfigError(f"{cfg.path}: files named in the config are missing:\n" +
                          "\n".join(f"  {p}" for p in problems))
