"""`--usage-store` URL → a UsageStore."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from controlplane.usage.base import UsageStore
from controlplane.usage.sqlite import SqliteUsageStore


def open_usage_store(url: str) -> UsageStore:
    """`sqlite:///abs/path.db` (or a plain file path) → SqliteUsageStore;
    `postgresql://user@host:port/db` (any libpq URL) → PostgresUsageStore.

    Synchronous on purpose: it runs once at startup, connects, migrates the
    schema and fails fast on a bad URL, path, server or schema.
    """
    if not url:
        raise ValueError("usage store URL is empty")
    if url.startswith(("postgresql://", "postgres://")):
        # Imported here so SQLite-only deployments never load psycopg.
        from controlplane.usage.postgres import PostgresUsageStore

        return PostgresUsageStore(url)
    if url.startswith("sqlite:"):
        parts = urlsplit(url)
        if parts.netloc or not parts.path:
            raise ValueError("sqlite usage store URL must look like sqlite:///absolute/path.db")
        return SqliteUsageStore(unquote(parts.path))
    if "://" in url:
        scheme = url.split("://", 1)[0]
        raise ValueError(f"unsupported usage store scheme {scheme!r}")
    return SqliteUsageStore(url)
