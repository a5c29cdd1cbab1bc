"""The SQL files under leadrank/sql/: which file serves a dialect, and the statements in it.

Migrations and views share one rule: NAME.sql serves every dialect unless a twin
NAME.postgresql.sql or NAME.sqlite.sql replaces it on that dialect (the few statements the two
databases spell differently).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

DIALECTS = ("sqlite", "postgresql")
_TWIN = re.compile(r"^(?P<stem>.+)\.(?P<dialect>sqlite|postgresql)\.sql$")


class SqlText:
    """The text of a SQL file (`self.path`) and its checksum: a migration's or a view's."""

    path: Path

    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    def checksum(self) -> str:
        return hashlib.sha256(self.sql().encode()).hexdigest()[:16]


def for_dialect(directory: Path, dialect: str) -> dict[str, Path]:
    """stem -> the file serving `dialect`, stems sorted."""
    found: dict[str, Path] = {}
    for path in sorted(directory.glob("*.sql")):
        twin = _TWIN.match(path.name)
        if twin:
            if twin.group("dialect") == dialect:
                found[twin.group("stem")] = path
        else:
            found.setdefault(path.name.removesuffix(".sql"), path)
    return dict(sorted(found.items()))


def split_statements(sql: str) -> list[str]:
    """Statements of a SQL file: `--` comments dropped, split at semicolons that end a line."""
    body = "\n".join(line.split("--", 1)[0] if "--" in line and "'" not in line else line for line in sql.splitlines())
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def without_comments(sql: str) -> str:
    """The SQL with every `--` comment removed (for reading what a statement refers to)."""
    return re.sub(r"--[^\n]*", "", sql)
