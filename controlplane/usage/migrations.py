"""Numbered schema migrations for SQL usage stores, recorded in `schema_migrations`.

Append new steps; never edit a released one. Statements are templates with
`{int}`, `{real}` and `{text}` type slots filled per dialect. Each step runs in
its own transaction together with its version record; the version is re-read
inside that transaction (under an advisory lock on PostgreSQL), so several
control planes starting at once apply each step exactly once.

`migrate` takes a synchronous DB-API style connection in autocommit mode
(sqlite3 with isolation_level=None, or psycopg with autocommit=True).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Protocol

from controlplane.usage.dialect import Dialect

# pg_advisory_xact_lock key: "oggy" + usage-schema.
_PG_LOCK_KEY = 0x6F676779_0001


class Connection(Protocol):
    def execute(self, sql: str, params: Any = ..., /) -> Any: ...


_V1 = (
    """
    CREATE TABLE usage_events (
        event_id {text} PRIMARY KEY,
        workspace {text} NOT NULL,
        key {text} NOT NULL,
        actor {text} NOT NULL,
        provider {text} NOT NULL,
        model {text} NOT NULL,
        endpoint {text} NOT NULL,
        stream {int} NOT NULL,
        http_status {int} NOT NULL,
        error_type {text} NOT NULL,
        prompt_tokens {int} NOT NULL,
        completion_tokens {int} NOT NULL,
        total_tokens {int} NOT NULL,
        cached_tokens {int},
        reasoning_tokens {int},
        token_source {text} NOT NULL,
        start_us {int} NOT NULL,
        latency_ms {real} NOT NULL,
        time_to_first_token_ms {real} NOT NULL,
        dataplane_id {text} NOT NULL,
        client_ip {text} NOT NULL,
        request_id {text} NOT NULL,
        upstream_request_id {text} NOT NULL
    )
    """,
    # Listing is newest-first per workspace, keyset-paged on (start_us, event_id).
    "CREATE INDEX usage_events_ws_time ON usage_events (workspace, start_us DESC, event_id DESC)",
    "CREATE INDEX usage_events_ws_key_time ON usage_events (workspace, key, start_us DESC)",
    "CREATE INDEX usage_events_ws_actor_time ON usage_events (workspace, actor, start_us DESC)",
)

# Issue 4: pricing, attribution, policy outcome, attempts, prompt metadata; prompt
# text in its own table so retention can purge it without touching usage rows.
_V2_COLUMNS = (
    "cache_creation_tokens {int}",
    # NULL = unknown price, never 0.
    "cost_micro_usd {int}",
    "price_catalog_version {text} NOT NULL DEFAULT ''",
    "team {text} NOT NULL DEFAULT ''",
    "app {text} NOT NULL DEFAULT ''",
    "environment {text} NOT NULL DEFAULT ''",
    "workflow {text} NOT NULL DEFAULT ''",
    # JSON object text.
    "labels {text} NOT NULL DEFAULT '{{}}'",
    "policy_reason {text} NOT NULL DEFAULT ''",
    "shadow_reason {text} NOT NULL DEFAULT ''",
    # JSON array text of UpstreamAttempt objects.
    "attempts {text} NOT NULL DEFAULT '[]'",
    # PromptMetadata; all NULL when the event had none.
    "message_count {int}",
    "context_tokens {int}",
    "requested_max_tokens {int}",
    "tool_count {int}",
    "request_bytes {int}",
    "response_bytes {int}",
    "finish_reason {text}",
    "requested_model {text} NOT NULL DEFAULT ''",
)
_V2 = (
    *(f"ALTER TABLE usage_events ADD COLUMN {column}" for column in _V2_COLUMNS),
    "CREATE INDEX usage_events_ws_team_time ON usage_events (workspace, team, start_us DESC)",
    """
    CREATE TABLE prompt_logs (
        event_id {text} PRIMARY KEY,
        workspace {text} NOT NULL,
        key {text} NOT NULL,
        actor {text} NOT NULL,
        model {text} NOT NULL,
        time_us {int} NOT NULL,
        request_text {text} NOT NULL,
        response_text {text} NOT NULL,
        redactions {text} NOT NULL,
        expire_us {int}
    )
    """,
    "CREATE INDEX prompt_logs_ws_time ON prompt_logs (workspace, time_us DESC, event_id DESC)",
    "CREATE INDEX prompt_logs_expire ON prompt_logs (expire_us)",
)

# Issue 15 (hostile input): what was wrong with the data an event was built from
# (UsageEvent.anomalies), as a JSON array of kinds.
_V3 = ("ALTER TABLE usage_events ADD COLUMN anomalies {text} NOT NULL DEFAULT '[]'",)

# Issue 11 (budgets): threshold crossings, recorded once per budget, member, period
# and threshold whichever control plane notices (the primary key makes it so).
_V4 = (
    """
    CREATE TABLE budget_crossings (
        workspace {text} NOT NULL,
        budget {text} NOT NULL,
        member {text} NOT NULL,
        period_start_us {int} NOT NULL,
        threshold_percent {int} NOT NULL,
        cross_us {int} NOT NULL,
        spent_micro_usd {int} NOT NULL,
        amount_micro_usd {int} NOT NULL,
        PRIMARY KEY (budget, member, period_start_us, threshold_percent)
    )
    """,
    "CREATE INDEX budget_crossings_ws_time ON budget_crossings (workspace, cross_us DESC)",
)

_RECORD_VERSION_SQL = "INSERT INTO schema_migrations (version, applied_us) VALUES (?, ?)"

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = ((1, _V1), (2, _V2), (3, _V3), (4, _V4))
LATEST = MIGRATIONS[-1][0]


def _begin(conn: Connection, dialect: Dialect) -> None:
    if dialect.name == "sqlite":
        conn.execute("BEGIN IMMEDIATE")
    else:
        conn.execute("BEGIN")
        conn.execute(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")


def _rollback(conn: Connection) -> None:
    if getattr(conn, "in_transaction", True):  # SQLite may already have rolled back
        # If the connection is gone, the server rolled back already.
        with contextlib.suppress(Exception):
            conn.execute("ROLLBACK")


def _version(conn: Connection, dialect: Dialect) -> int:
    conn.execute(
        dialect.ddl(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version {int} PRIMARY KEY, applied_us {int} NOT NULL)"
        )
    )
    (version,) = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return int(version)


def migrate(conn: Connection, dialect: Dialect, target: int = LATEST) -> int:
    """Apply pending migrations up to `target`; returns the schema version reached."""
    version = 0
    for number, statements in MIGRATIONS:
        if number > target:
            break
        _begin(conn, dialect)
        try:
            version = _version(conn, dialect)
            if version > LATEST:
                raise RuntimeError(
                    f"usage database schema v{version} is newer than this build (v{LATEST})"
                )
            if version < number:
                for statement in statements:
                    conn.execute(dialect.ddl(statement))
                conn.execute(dialect.sql(_RECORD_VERSION_SQL), (number, time.time_ns() // 1000))
                version = number
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
    return version
