"""What differs between the SQL usage stores: column types, placeholders, the UTC-day expression.

Shared SQL (controlplane.usage.query) is written with `?` placeholders and
`{int}` / `{real}` / `{text}` type slots in migrations; a Dialect fills them in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    # Column type of each `{int}` / `{real}` / `{text}` slot in migration templates.
    column_types: Mapping[str, str]
    # `?` (sqlite3) or `%s` (psycopg).
    placeholder: str
    # SQL expression for the UTC day (YYYY-MM-DD) of `start_us`.
    day_sql: str
    # PostgreSQL TEXT cannot hold NUL; such characters are replaced on write.
    strip_nul: bool

    def sql(self, statement: str) -> str:
        """Shared `?`-style SQL → this dialect's placeholders (the SQL has no literal `?`/`%`)."""
        if self.placeholder == "?":
            return statement
        return statement.replace("%", "%%").replace("?", self.placeholder)

    def ddl(self, template: str) -> str:
        return template.format_map(self.column_types)


SQLITE = Dialect(
    name="sqlite",
    column_types={"int": "INTEGER", "real": "REAL", "text": "TEXT"},
    placeholder="?",
    # Floor to whole seconds first so pre-1970 times round down, not toward zero.
    day_sql=(
        "strftime('%Y-%m-%d', "
        "(start_us - (((start_us % 1000000) + 1000000) % 1000000)) / 1000000, 'unixepoch')"
    ),
    strip_nul=False,
)

POSTGRES = Dialect(
    name="postgresql",
    column_types={
        "int": "BIGINT",
        "real": "DOUBLE PRECISION",
        # Byte order, like SQLite's BINARY collation: paging and group order match across stores.
        "text": 'TEXT COLLATE "C"',
    },
    placeholder="%s",
    day_sql=("to_char(to_timestamp(floor(start_us / 1000000.0)) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
    strip_nul=True,
)
