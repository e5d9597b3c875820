"""A throwaway schema in the test PostgreSQL, for usage-store tests.

The server is `OGGY_TEST_POSTGRES_URL` (default postgresql://postgres@127.0.0.1:5432/test,
trust auth). Each test gets its own `oggy_test_<random>` schema, dropped at the end,
so parallel runs never collide. When the server is unreachable the test FAILS if
the `CI` environment variable is set and is skipped (with the reason) otherwise.
"""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import conninfo

POSTGRES_URL = os.environ.get("OGGY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def redacted_url() -> str:
    """POSTGRES_URL without its password, for messages."""
    info = conninfo.conninfo_to_dict(POSTGRES_URL)
    info.pop("password", None)
    return conninfo.make_conninfo(**info)


def via(host: str, port: int) -> str:
    """POSTGRES_URL's conninfo, pointed at another host and port (e.g. a proxy)."""
    info = conninfo.conninfo_to_dict(POSTGRES_URL)
    info.update(host=host, port=str(port))
    return conninfo.make_conninfo(**info)


def server_address() -> tuple[str, int]:
    """(host, port) of the test server (TCP only)."""
    info = conninfo.conninfo_to_dict(POSTGRES_URL)
    return str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432)


@functools.cache
def _unreachable_reason() -> str | None:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {redacted_url()} is unreachable ({type(exc).__name__}: {exc})"
    return None


def require_postgres() -> None:
    """Fail (under CI) or skip the calling test when the test server is unreachable."""
    reason = _unreachable_reason()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so PostgreSQL tests must run", pytrace=False)
    pytest.skip(f"{reason}; set OGGY_TEST_POSTGRES_URL or start PostgreSQL")


def connect() -> psycopg.Connection:
    return psycopg.connect(POSTGRES_URL, autocommit=True)


@contextlib.contextmanager
def temp_schema() -> Iterator[str]:
    """Create `oggy_test_<random>`; yield its name; drop it (CASCADE) afterwards."""
    require_postgres()
    name = f"oggy_test_{uuid.uuid4().hex[:12]}"
    with connect() as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    try:
        yield name
    finally:
        with connect() as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def terminate_backends(application_name: str) -> int:
    """pg_terminate_backend every connection of `application_name` to this database."""
    with connect() as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND application_name = %s",
            (application_name,),
        ).fetchall()
    return sum(1 for (ok,) in rows if ok)
