"""`leadrank check`: is a sources file right, before a night depends on it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from leadrank.cli.common import DEFAULT_CONFIG, ConfigOpt, console, fail, plain

if TYPE_CHECKING:
    from leadrank.config import Config


def checked_config(config: Path, *, sources: bool = True) -> Config:
    """The loaded config when it is valid and every file it names is there (local source files
    only when `sources`); else exit with every problem listed (never a value: an expanded
    ${VAR} may be a secret)."""
    from leadrank.config import ConfigError, load_config
    from leadrank.config_files import require_files

    try:
        cfg = load_config(config)
        require_files(cfg, sources=sources)
    except ConfigError as exc:
        fail(str(exc))
    return cfg


def check(config: ConfigOpt = DEFAULT_CONFIG) -> None:
    """Check a sources file without fetching anything: every key of every section (an unknown
    or misplaced key is named with its path and the key probably meant), the values' types, and
    that the files it names (financials, outcomes, local source files) are there. Exits 1 on
    any problem. `leadrank run` does the same before it starts, except that a missing local
    source file fails only that source there, as a site that is down does."""
    cfg = checked_config(config)
    names = ", ".join(s.name for s in cfg.sources if s.enabled)
    console.print(f"{plain(config)}: OK: enabled sources: {plain(names) or 'none'}; "
                  f"{len(cfg.financials)} financials and {len(cfg.outcomes)} outcomes file(s)")
