"""What differs between the SQL usage stores: column types, placeholders, the UTC-day expression.

Shared SQL (controlplane.usage.query) is written with `?` placeholders and
`{int}` / `{real}` / `{text}` type slots in migrations; a Dialect fills them in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    # Column types for migration templates.
    int_type: str
    real_type: str
    text_type: str
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
        return template.format(int=self.int_type, real=self.real_type, text=self.text_type)


SQLITE = Dialect(
    name="sqlite",
    int_type="INTEGER",
    real_type="REAL",
    text_type="TEXT",
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
    int_type="BIGINT",
    real_type="DOUBLE PRECISION",
    # Byte order, like SQLite's BINARY collation: paging and group order match across stores.
    text_type='TEXT COLLATE "C"',
    placeholder="%s",
    day_sql=("to_char(to_timestamp(floor(start_us / 1000000.0)) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
    strip_nul=True,
)
