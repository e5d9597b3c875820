"""Numbered schema migrations for SQL usage stores, recorded in `schema_migrations`.

Append new steps; never edit a released one. Each step runs in its own
transaction together with its version record.
"""

from __future__ import annotations

import sqlite3
import time

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """
            CREATE TABLE usage_events (
                event_id TEXT PRIMARY KEY,
                workspace TEXT NOT NULL,
                key TEXT NOT NULL,
                actor TEXT NOT NULL,
                provider TEXT NOT NULL,
                model TEXT NOT NULL,
                endpoint TEXT NOT NULL,
                stream INTEGER NOT NULL,
                http_status INTEGER NOT NULL,
                error_type TEXT NOT NULL,
                prompt_tokens INTEGER NOT NULL,
                completion_tokens INTEGER NOT NULL,
                total_tokens INTEGER NOT NULL,
                cached_tokens INTEGER,
                reasoning_tokens INTEGER,
                token_source TEXT NOT NULL,
                start_us INTEGER NOT NULL,
                latency_ms REAL NOT NULL,
                time_to_first_token_ms REAL NOT NULL,
                dataplane_id TEXT NOT NULL,
                client_ip TEXT NOT NULL,
                request_id TEXT NOT NULL,
                upstream_request_id TEXT NOT NULL
            )
            """,
            # Listing is newest-first per workspace, keyset-paged on (start_us, event_id).
            "CREATE INDEX usage_events_ws_time "
            "ON usage_events (workspace, start_us DESC, event_id DESC)",
            "CREATE INDEX usage_events_ws_key_time ON usage_events (workspace, key, start_us DESC)",
            "CREATE INDEX usage_events_ws_actor_time "
            "ON usage_events (workspace, actor, start_us DESC)",
        ),
    ),
)


def current_version(conn: sqlite3.Connection) -> int:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, applied_us INTEGER NOT NULL)"
    )
    (version,) = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return int(version)


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending migrations (connection in autocommit mode); returns the new version."""
    version = current_version(conn)
    latest = MIGRATIONS[-1][0]
    if version > latest:
        raise RuntimeError(f"usage database schema v{version} is newer than this build (v{latest})")
    for number, statements in MIGRATIONS:
        if number <= version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_us) VALUES (?, ?)",
                (number, time.time_ns() // 1000),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
                conn.execute("ROLLBACK")
            raise
        version = number
    return version
