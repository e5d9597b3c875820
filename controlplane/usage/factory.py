"""`--usage-store` URL → a UsageStore."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from controlplane.usage.base import UsageStore
from controlplane.usage.errors import UsageStoreConfigError
from controlplane.usage.sqlite import SqliteUsageStore


def open_usage_store(url: str) -> UsageStore:
    """`sqlite:///abs/path.db` (or a plain file path) → SqliteUsageStore;
    `postgresql://user@host:port/db` (any libpq URL) → PostgresUsageStore.

    Synchronous on purpose: it runs once at startup, connects, migrates the
    schema and fails fast on a bad URL, path, server or schema.
    """
    if not url:
        raise UsageStoreConfigError("usage store URL is empty")
    if url.startswith(("postgresql://", "postgres://")):
        return _postgres_store(url)
    if url.startswith("sqlite:"):
        parts = urlsplit(url)
        if parts.netloc or not parts.path:
            raise UsageStoreConfigError(
                "sqlite usage store URL must look like sqlite:///absolute/path.db"
            )
        return SqliteUsageStore(unquote(parts.path))
    if "://" in url:
        scheme = url.split("://", 1)[0]
        raise UsageStoreConfigError(f"unsupported usage store scheme {scheme!r}")
    return SqliteUsageStore(url)


def _postgres_store(url: str) -> UsageStore:
    # Imported here so SQLite-only deployments never load (or need) psycopg.
    try:
        from controlplane.usage.postgres import PostgresUsageStore
    except ImportError as exc:
        if exc.name is None or not exc.name.startswith("psycopg"):
            raise
        raise UsageStoreConfigError(
            f"a postgresql:// usage store needs {exc.name}, which is not installed: "
            "pip install 'oggy[postgres]'"
        ) from None
    return PostgresUsageStore(url)
