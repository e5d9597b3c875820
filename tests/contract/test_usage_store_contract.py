"""One behavioural suite for every UsageStore implementation.

Each test runs against every backend in `BACKENDS`: SQLite (a temporary file)
and PostgreSQL (a throwaway schema; skipped when the server is unreachable,
failed instead when the CI environment variable is set).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.usage import InvalidArgument, SqliteUsageStore, UsageStore, open_usage_store
from controlplane.usage.budgets import Crossing
from controlplane.usage.migrations import LATEST
from controlplane.usage.postgres import PostgresUsageStore
from oggy.v1 import admin_service_pb2, usage_pb2
from tests.support import postgres


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Backend(Protocol):
    def open(self, *, clock: Callable[[], float], schema_version: int = LATEST) -> Any: ...

    def raw(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run SQL (`?` placeholders) on an independent connection, outside the store."""
        ...


class SqliteBackend:
    def __init__(self, path: Path) -> None:
        self.path = path

    def open(self, *, clock: Callable[[], float], schema_version: int = LATEST) -> Any:
        return SqliteUsageStore(self.path, clock=clock, schema_version=schema_version)

    def raw(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(self.path, isolation_level=None)) as conn:
            return conn.execute(sql, tuple(params)).fetchall()


class PostgresBackend:
    def __init__(self, schema: str) -> None:
        self.schema = schema

    def open(self, *, clock: Callable[[], float], schema_version: int = LATEST) -> Any:
        return PostgresUsageStore(
            postgres.POSTGRES_URL, schema=self.schema, clock=clock, schema_version=schema_version
        )

    def raw(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with postgres.connect() as conn:
            conn.execute(f"SET search_path TO {self.schema}")
            cur = conn.execute(sql.replace("?", "%s"), tuple(params))
            return cur.fetchall() if cur.description else []


@contextlib.contextmanager
def _sqlite_backend(tmp_path: Path) -> Iterator[Backend]:
    yield SqliteBackend(tmp_path / "usage.db")


@contextlib.contextmanager
def _postgres_backend(tmp_path: Path) -> Iterator[Backend]:
    with postgres.temp_schema() as schema:
        yield PostgresBackend(schema)


BACKENDS: dict[str, Callable[[Path], contextlib.AbstractContextManager[Backend]]] = {
    "sqlite": _sqlite_backend,
    "postgresql": _postgres_backend,
}

W = "workspaces/acme"
DAY = 86_400
T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


NOW = T0 + 10 * DAY


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with BACKENDS[request.param](tmp_path) as b:
        yield b


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def store(backend: Backend, clock: FakeClock) -> AsyncIterator[UsageStore]:
    s = backend.open(clock=clock)
    try:
        yield s
    finally:
        await s.close()


def event(
    event_id: str,
    *,
    seconds: int = T0,
    micros: int = 0,
    workspace: str = W,
    key: str = f"{W}/keys/k1",
    actor: str = f"{W}/actors/alice",
    model: str = "gpt-4o-mini",
    provider: str = f"{W}/providers/openai",
    error_type: str = "",
    prompt: int = 10,
    completion: int = 5,
    cached: int | None = None,
    reasoning: int | None = None,
) -> usage_pb2.UsageEvent:
    e = usage_pb2.UsageEvent(
        event_id=event_id,
        workspace=workspace,
        key=key,
        actor=actor,
        provider=provider,
        model=model,
        endpoint="/v1/chat/completions",
        stream=True,
        http_status=200 if not error_type else 502,
        error_type=error_type,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        token_source="provider",
        start_time=Timestamp(seconds=seconds, nanos=micros * 1000),
        latency_ms=12.5,
        time_to_first_token_ms=3.25,
        dataplane_id="dp-1",
        client_ip="10.0.0.1",
        request_id=f"req-{event_id}",
        upstream_request_id=f"up-{event_id}",
    )
    if cached is not None:
        e.cached_tokens = cached
    if reasoning is not None:
        e.reasoning_tokens = reasoning
    return e


def flt(**kwargs: object) -> admin_service_pb2.UsageFilter:
    kwargs.setdefault("workspace", W)
    return admin_service_pb2.UsageFilter(**kwargs)


async def list_all(store: UsageStore, f: admin_service_pb2.UsageFilter, size: int) -> list[str]:
    ids: list[str] = []
    token = ""
    while True:
        events, token = await store.list_events(f, size, token)
        ids += [e.event_id for e in events]
        if not token:
            return ids


# -- insert ------------------------------------------------------------------------------


async def test_insert_round_trips_every_field(store: UsageStore) -> None:
    original = event("e1", micros=123_456, cached=7, reasoning=0)
    bare = event("e2", seconds=T0 - 1)  # cached/reasoning unset stay unset
    assert await store.insert([original, bare]) == (2, 0)
    events, _ = await store.list_events(flt(), 10, "")
    assert events == [original, bare]
    assert events[0].HasField("reasoning_tokens") and events[0].reasoning_tokens == 0
    assert not events[1].HasField("cached_tokens")


async def test_insert_is_idempotent_on_event_id(store: UsageStore) -> None:
    assert await store.insert([event("a"), event("b")]) == (2, 0)
    # A replayed batch (spool resend) changes nothing, even with different content.
    assert await store.insert([event("a", prompt=999), event("b")]) == (0, 2)
    assert await store.insert([event("b"), event("c")]) == (1, 1)
    events, _ = await store.list_events(flt(), 10, "")
    assert sorted(e.event_id for e in events) == ["a", "b", "c"]
    assert next(e for e in events if e.event_id == "a").prompt_tokens == 10


async def test_duplicates_within_one_batch_count_once(store: UsageStore) -> None:
    assert await store.insert([event("x"), event("x"), event("y")]) == (2, 1)


async def test_empty_insert(store: UsageStore) -> None:
    assert await store.insert([]) == (0, 0)


# -- list ------------------------------------------------------------------------------


async def test_list_newest_first_with_stable_paging(store: UsageStore) -> None:
    # Several events share a start time so the event_id tie-break matters.
    events = [event(f"e{i:02d}", seconds=T0 + i // 3) for i in range(20)]
    await store.insert(events)
    expected = [
        e.event_id
        for e in sorted(events, key=lambda e: (e.start_time.seconds, e.event_id), reverse=True)
    ]
    for size in (1, 3, 7, 20, 50):
        assert await list_all(store, flt(), size) == expected


async def test_paging_is_stable_under_concurrent_inserts(store: UsageStore) -> None:
    await store.insert([event(f"old{i}", seconds=T0 + i) for i in range(6)])
    first, token = await store.list_events(flt(), 3, "")
    # Newer events arriving between pages must not shift the next page.
    await store.insert([event(f"new{i}", seconds=T0 + 100 + i) for i in range(5)])
    second, token = await store.list_events(flt(), 3, token)
    assert [e.event_id for e in first + second] == [f"old{i}" for i in range(5, -1, -1)]
    assert token == ""


async def test_list_default_page_size_and_last_page(store: UsageStore) -> None:
    await store.insert([event("only")])
    events, token = await store.list_events(flt(), 0, "")
    assert [e.event_id for e in events] == ["only"]
    assert token == ""


@pytest.mark.parametrize(
    ("filter_kwargs", "expected"),
    [
        pytest.param({}, ["e5", "e4", "e3", "e2", "e1"], id="workspace-only"),
        pytest.param({"key": f"{W}/keys/k2"}, ["e2"], id="key"),
        pytest.param({"actor": f"{W}/actors/bob"}, ["e3"], id="actor"),
        pytest.param({"model": "claude"}, ["e4"], id="model"),
        pytest.param({"provider": f"{W}/providers/anthropic"}, ["e4"], id="provider"),
        pytest.param({"errors_only": True}, ["e5"], id="errors-only"),
        pytest.param(
            {"start_time": Timestamp(seconds=T0 + 2)}, ["e5", "e4", "e3"], id="start-inclusive"
        ),
        pytest.param({"end_time": Timestamp(seconds=T0 + 2)}, ["e2", "e1"], id="end-exclusive"),
        pytest.param(
            {"start_time": Timestamp(seconds=T0 + 1), "end_time": Timestamp(seconds=T0 + 4)},
            ["e4", "e3", "e2"],
            id="window",
        ),
        pytest.param({"key": f"{W}/keys/k2", "model": "claude"}, [], id="conjunction"),
    ],
)
async def test_list_filters(store: UsageStore, filter_kwargs: dict, expected: list[str]) -> None:
    await store.insert(
        [
            event("e1", seconds=T0),
            event("e2", seconds=T0 + 1, key=f"{W}/keys/k2"),
            event("e3", seconds=T0 + 2, actor=f"{W}/actors/bob"),
            event("e4", seconds=T0 + 3, model="claude", provider=f"{W}/providers/anthropic"),
            event("e5", seconds=T0 + 4, error_type="upstream_timeout"),
            event("other", seconds=T0 + 2, workspace="workspaces/other"),
        ]
    )
    assert await list_all(store, flt(**filter_kwargs), 2) == expected


async def test_list_requires_workspace(store: UsageStore) -> None:
    with pytest.raises(InvalidArgument):
        await store.list_events(admin_service_pb2.UsageFilter(), 10, "")


@pytest.mark.parametrize("token", ["%%%", "bm90LWpzb24", "WzEsMiwzXQ", "W10"])
async def test_list_rejects_malformed_token(store: UsageStore, token: str) -> None:
    with pytest.raises(InvalidArgument):
        await store.list_events(flt(), 10, token)


async def test_list_rejects_token_from_another_filter(store: UsageStore) -> None:
    await store.insert([event(f"e{i}", seconds=T0 + i) for i in range(3)])
    _, token = await store.list_events(flt(), 1, "")
    assert token
    with pytest.raises(InvalidArgument):
        await store.list_events(flt(model="gpt-4o-mini"), 1, token)


async def test_list_rejects_negative_page_size(store: UsageStore) -> None:
    with pytest.raises(InvalidArgument):
        await store.list_events(flt(), -1, "")


# -- summarize ---------------------------------------------------------------------------


async def _seed_summary(store: UsageStore) -> None:
    await store.insert(
        [
            event("a1", seconds=T0, prompt=10, completion=1, cached=4),
            event("a2", seconds=T0 + DAY, prompt=20, completion=2, reasoning=3),
            event("b1", seconds=T0, actor=f"{W}/actors/bob", model="claude", error_type="x"),
            event("late", seconds=T0 + 2 * DAY - 1),
            event("other", workspace="workspaces/other", prompt=1000),
        ]
    )


async def test_summarize_total_row(store: UsageStore) -> None:
    await _seed_summary(store)
    rows = await store.summarize(flt(), [])
    assert rows == [
        usage_pb2.UsageSummaryRow(
            group=[],
            requests=4,
            errors=1,
            prompt_tokens=50,
            completion_tokens=13,
            total_tokens=63,
            cached_tokens=4,
            reasoning_tokens=3,
            unpriced_requests=4,  # none of the seeded events has a cost
        )
    ]


async def test_summarize_empty_gives_zero_total(store: UsageStore) -> None:
    rows = await store.summarize(flt(), [])
    assert [(r.requests, r.errors, r.total_tokens) for r in rows] == [(0, 0, 0)]


async def test_summarize_by_actor_and_model(store: UsageStore) -> None:
    await _seed_summary(store)
    rows = await store.summarize(
        flt(), [usage_pb2.USAGE_GROUP_BY_ACTOR, usage_pb2.USAGE_GROUP_BY_MODEL]
    )
    assert [(list(r.group), r.requests, r.errors, r.prompt_tokens) for r in rows] == [
        ([f"{W}/actors/alice", "gpt-4o-mini"], 3, 0, 40),
        ([f"{W}/actors/bob", "claude"], 1, 1, 10),
    ]


async def test_summarize_by_utc_day(store: UsageStore) -> None:
    await _seed_summary(store)
    rows = await store.summarize(flt(), [usage_pb2.USAGE_GROUP_BY_DAY])
    assert [(list(r.group), r.requests) for r in rows] == [
        (["2023-11-14"], 2),
        (["2023-11-15"], 1),
        (["2023-11-16"], 1),
    ]


async def test_summarize_by_key_and_provider_with_filter(store: UsageStore) -> None:
    await _seed_summary(store)
    rows = await store.summarize(
        flt(errors_only=True),
        [usage_pb2.USAGE_GROUP_BY_KEY, usage_pb2.USAGE_GROUP_BY_PROVIDER],
    )
    assert [(list(r.group), r.requests) for r in rows] == [
        ([f"{W}/keys/k1", f"{W}/providers/openai"], 1)
    ]


async def test_summarize_rejects_unspecified_group(store: UsageStore) -> None:
    with pytest.raises(InvalidArgument):
        await store.summarize(flt(), [usage_pb2.USAGE_GROUP_BY_UNSPECIFIED])


async def test_summarize_requires_workspace(store: UsageStore) -> None:
    with pytest.raises(InvalidArgument):
        await store.summarize(admin_service_pb2.UsageFilter(), [])


# -- every field, prompt text apart ----------------------------------------------------


def full_event(event_id: str, *, seconds: int = T0, expire_s: int | None = NOW + DAY) -> Any:
    """An event with every UsageEvent field set to a non-default value."""
    e = event(event_id, seconds=seconds, micros=654_321, cached=7, reasoning=3, error_type="x")
    e.cache_creation_tokens = 11
    e.cost_micro_usd = 1234
    e.price_catalog_version = "2025-01-01.3"
    e.team = "payments"
    e.app = "checkout"
    e.environment = "prod"
    e.workflow = "refund-agent"
    e.labels.update({"ticket": "T-1", "ünïcode": "✓ 'quoted' \"x\""})
    e.policy_reason = "model_not_allowed"
    e.shadow_reason = "budget_exceeded"
    e.attempts.add(
        provider=f"{W}/providers/openai",
        model="gpt-4o-mini",
        http_status=429,
        error_type="rate_limited",
        latency_ms=12.125,
    )
    e.attempts.add(provider=f"{W}/providers/azure", model="gpt-4o", http_status=200, latency_ms=0.1)
    e.prompt.message_count = 3
    e.prompt.context_tokens = 4096
    e.prompt.requested_max_tokens = 512
    e.prompt.tool_count = 2
    e.prompt.request_bytes = 10_000
    e.prompt.response_bytes = 2_000
    e.prompt.finish_reason = "tool_calls"
    e.prompt_text.request_text = "my card is [REDACTED:card]"
    e.prompt_text.response_text = "ok"
    e.prompt_text.redactions.update({"card": 1, "email": 2})
    if expire_s is not None:
        e.prompt_text.expire_time.seconds = expire_s
    e.requested_model = "fast"
    e.anomalies.extend(["usage_malformed", "value_out_of_range"])
    return e


def _every_field_is_set(e: usage_pb2.UsageEvent) -> None:
    present = {f.name for f, _ in e.ListFields()}
    assert present == {f.name for f in usage_pb2.UsageEvent.DESCRIPTOR.fields}


def without_text(e: usage_pb2.UsageEvent) -> usage_pb2.UsageEvent:
    copy = usage_pb2.UsageEvent()
    copy.CopyFrom(e)
    copy.ClearField("prompt_text")
    return copy


async def test_every_field_round_trips_and_text_stays_apart(
    store: UsageStore, backend: Backend
) -> None:
    original = full_event("full")
    _every_field_is_set(original)
    assert await store.insert([original]) == (1, 0)
    events, _ = await store.list_events(flt(), 10, "")
    assert events == [without_text(original)]
    logs, token = await store.list_prompt_logs(flt(), 10, "")
    assert token == ""
    assert logs == [
        admin_service_pb2.PromptLog(
            event_id="full",
            workspace=W,
            key=original.key,
            actor=original.actor,
            model=original.model,
            time=original.start_time,
            text=original.prompt_text,
        )
    ]
    # The usage row itself holds no prompt text.
    (row,) = backend.raw("SELECT * FROM usage_events")
    assert not any(isinstance(v, str) and "REDACTED" in v for v in row)


async def test_unset_and_zero_values_stay_distinct(store: UsageStore) -> None:
    zero = event("zero", cached=0)
    zero.cost_micro_usd = 0  # priced at zero (free model): not "unknown"
    zero.cache_creation_tokens = 0
    zero.prompt.SetInParent()  # metadata present, all zero
    bare = event("bare", seconds=T0 - 1)
    await store.insert([zero, bare])
    events, _ = await store.list_events(flt(), 10, "")
    assert events == [zero, bare]
    assert events[0].HasField("cost_micro_usd") and events[0].HasField("prompt")
    assert not events[1].HasField("cost_micro_usd")
    assert not events[1].HasField("prompt")
    assert not events[1].HasField("cache_creation_tokens")


async def test_nul_characters_do_not_poison_a_batch(store: UsageStore) -> None:
    e = event("nul", error_type="bad\x00type")
    e.labels["k"] = "v\x00"
    assert await store.insert([e]) == (1, 0)
    (got,), _ = await store.list_events(flt(), 10, "")
    assert got.error_type in ("bad\x00type", "bad\ufffdtype")  # PostgreSQL TEXT has no NUL
    assert got.labels["k"] == "v\x00"  # JSON escapes it


# -- prompt logs -------------------------------------------------------------------------


async def test_prompt_logs_filter_and_page_newest_first(store: UsageStore) -> None:
    events = [full_event(f"p{i}", seconds=T0 + i) for i in range(5)]
    events[1].team = "other-team"
    events.append(event("no-text", seconds=T0 + 10))
    await store.insert(events)
    ids: list[str] = []
    token = ""
    while True:
        logs, token = await store.list_prompt_logs(flt(), 2, token)
        ids += [log.event_id for log in logs]
        if not token:
            break
    assert ids == ["p4", "p3", "p2", "p1", "p0"]
    # Filters on usage columns the prompt log does not have go through the join.
    logs, _ = await store.list_prompt_logs(flt(team="other-team"), 10, "")
    assert [log.event_id for log in logs] == ["p1"]
    logs, _ = await store.list_prompt_logs(flt(start_time=Timestamp(seconds=T0 + 3)), 10, "")
    assert [log.event_id for log in logs] == ["p4", "p3"]


async def test_prompt_log_page_token_is_not_an_event_token(store: UsageStore) -> None:
    await store.insert([full_event(f"p{i}", seconds=T0 + i) for i in range(3)])
    _, token = await store.list_events(flt(), 1, "")
    with pytest.raises(InvalidArgument):
        await store.list_prompt_logs(flt(), 1, token)


async def test_purge_deletes_only_expired_text(store: UsageStore, clock: FakeClock) -> None:
    await store.insert(
        [
            full_event("soon", expire_s=NOW + 10),
            full_event("later", expire_s=NOW + DAY),
            full_event("never", expire_s=None),
        ]
    )
    assert await store.purge_expired((NOW + 9) * 1_000_000) == 0
    assert await store.purge_expired((NOW + 10) * 1_000_000) == 1  # expire time is inclusive
    logs, _ = await store.list_prompt_logs(flt(), 10, "")
    assert sorted(log.event_id for log in logs) == ["later", "never"]
    # Usage rows are untouched by retention.
    events, _ = await store.list_events(flt(), 10, "")
    assert len(events) == 3
    # A replay of the batch after the purge must not bring the purged text back.
    clock.now = NOW + 11
    assert await store.insert([full_event("soon", expire_s=NOW + 10)]) == (0, 1)
    logs, _ = await store.list_prompt_logs(flt(), 10, "")
    assert sorted(log.event_id for log in logs) == ["later", "never"]


async def test_text_already_expired_on_arrival_is_not_stored(
    store: UsageStore, clock: FakeClock
) -> None:
    assert await store.insert([full_event("stale", expire_s=NOW - 1)]) == (1, 0)
    logs, _ = await store.list_prompt_logs(flt(), 10, "")
    assert logs == []


# -- summaries with pricing and attribution ----------------------------------------------


def priced(event_id: str, cost: int | None, **kwargs: Any) -> usage_pb2.UsageEvent:
    attrs = {
        k: kwargs.pop(k)
        for k in ("team", "app", "workflow", "environment", "policy_reason")
        if k in kwargs
    }
    cache_creation = kwargs.pop("cache_creation", None)
    e = event(event_id, **kwargs)
    for k, v in attrs.items():
        setattr(e, k, v)
    if cost is not None:
        e.cost_micro_usd = cost
    if cache_creation is not None:
        e.cache_creation_tokens = cache_creation
    return e


async def _seed_attribution(store: UsageStore) -> None:
    await store.insert(
        [
            priced("a", 100, team="pay", app="web", workflow="w1", environment="prod"),
            priced(
                "b", 50, team="pay", app="api", workflow="w1", environment="dev", cache_creation=9
            ),
            priced("c", None, team="ml", app="web", environment="prod", model="llama-local"),
            priced(
                "d",
                None,
                team="ml",
                policy_reason="model_not_allowed",
                prompt=0,
                completion=0,
                error_type="model_not_allowed",
            ),
            priced("e", 0, team="ml", app="web", model="free-model"),
        ]
    )


async def test_summary_totals_cost_and_unpriced(store: UsageStore) -> None:
    await _seed_attribution(store)
    (row,) = await store.summarize(flt(), [])
    assert (row.requests, row.cost_micro_usd, row.unpriced_requests) == (5, 150, 1)
    assert row.cache_creation_tokens == 9


@pytest.mark.parametrize(
    ("dim", "expected"),
    [
        (usage_pb2.USAGE_GROUP_BY_TEAM, [(["ml"], 3, 0), (["pay"], 2, 150)]),
        (usage_pb2.USAGE_GROUP_BY_APP, [([""], 1, 0), (["api"], 1, 50), (["web"], 3, 100)]),
        (usage_pb2.USAGE_GROUP_BY_WORKFLOW, [([""], 3, 0), (["w1"], 2, 150)]),
        (
            usage_pb2.USAGE_GROUP_BY_ENVIRONMENT,
            [([""], 2, 0), (["dev"], 1, 50), (["prod"], 2, 100)],
        ),
        (usage_pb2.USAGE_GROUP_BY_ERROR_TYPE, [([""], 4, 150), (["model_not_allowed"], 1, 0)]),
        (usage_pb2.USAGE_GROUP_BY_ENDPOINT, [(["/v1/chat/completions"], 5, 150)]),
        (usage_pb2.USAGE_GROUP_BY_POLICY_REASON, [([""], 4, 150), (["model_not_allowed"], 1, 0)]),
    ],
)
async def test_summarize_new_dimensions(
    store: UsageStore, dim: int, expected: list[tuple[list[str], int, int]]
) -> None:
    await _seed_attribution(store)
    rows = await store.summarize(flt(), [dim])
    assert [(list(r.group), r.requests, r.cost_micro_usd) for r in rows] == expected


@pytest.mark.parametrize(
    ("filter_kwargs", "expected"),
    [
        pytest.param({"team": "pay"}, ["b", "a"], id="team"),
        pytest.param({"app": "web"}, ["e", "c", "a"], id="app"),
        pytest.param({"workflow": "w1"}, ["b", "a"], id="workflow"),
        pytest.param({"blocked_only": True}, ["d"], id="blocked-only"),
        pytest.param({"policy_reason": "model_not_allowed"}, ["d"], id="policy-reason"),
        pytest.param({"team": "ml", "app": "web"}, ["e", "c"], id="conjunction"),
    ],
)
async def test_new_filters(store: UsageStore, filter_kwargs: dict, expected: list[str]) -> None:
    await _seed_attribution(store)
    assert await list_all(store, flt(**filter_kwargs), 2) == sorted(expected, reverse=True)
    (row,) = await store.summarize(flt(**filter_kwargs), [])
    assert row.requests == len(expected)


async def test_list_unpriced_models(store: UsageStore) -> None:
    await _seed_attribution(store)
    await store.insert(
        [
            priced("c2", None, model="llama-local", prompt=100, completion=0),
            priced("x", None, model="mystery", provider=f"{W}/providers/vllm", prompt=1),
            priced("other", None, workspace="workspaces/other", model="nope"),
        ]
    )
    models = await store.list_unpriced_models(flt())
    assert [(m.provider, m.model, m.requests, m.total_tokens) for m in models] == [
        (f"{W}/providers/openai", "llama-local", 2, 115),
        (f"{W}/providers/vllm", "mystery", 1, 6),
    ]
    assert await store.list_unpriced_models(flt(team="pay")) == []


async def test_key_activity(store: UsageStore) -> None:
    k1, k2, k3 = f"{W}/keys/k1", f"{W}/keys/k2", f"{W}/keys/k3"
    other = "workspaces/other/keys/k9"
    await store.insert(
        [
            event("a", seconds=T0, key=k1),
            event("b", seconds=T0 + 5, micros=7, key=k1),
            event("c", seconds=T0 + 1, key=k2),
            event("d", seconds=T0 + 9, key=other, workspace="workspaces/other"),
        ]
    )
    activity = await store.key_activity([k1, k2, k3, other, k1, "not-a-key-name"])
    assert activity == {
        k1: ((T0 + 5) * 1_000_000 + 7, 2),
        k2: ((T0 + 1) * 1_000_000, 1),
        other: ((T0 + 9) * 1_000_000, 1),
    }
    assert await store.key_activity([]) == {}


# -- schema versions ---------------------------------------------------------------------


async def test_existing_v1_database_upgrades_in_place(backend: Backend, clock: FakeClock) -> None:
    old = backend.open(clock=clock, schema_version=1)
    await old.close()
    # A row written by the v1 build (only v1 columns exist).
    backend.raw(
        "INSERT INTO usage_events (event_id, workspace, key, actor, provider, model, endpoint, "
        "stream, http_status, error_type, prompt_tokens, completion_tokens, total_tokens, "
        "cached_tokens, reasoning_tokens, token_source, start_us, latency_ms, "
        "time_to_first_token_ms, dataplane_id, client_ip, request_id, upstream_request_id) "
        "VALUES ('v1', ?, 'k', 'a', 'p', 'm', '/v1/chat/completions', 1, 200, '', 1, 2, 3, "
        "NULL, 4, 'provider', ?, 1.5, 0.5, 'dp', '127.0.0.1', 'r', 'u')",
        (W, T0 * 1_000_000),
    )
    assert backend.raw("SELECT version FROM schema_migrations ORDER BY version") == [(1,)]
    store = backend.open(clock=clock)
    try:
        assert backend.raw("SELECT version FROM schema_migrations ORDER BY version") == [
            (v,) for v in range(1, LATEST + 1)
        ]
        (got,), _ = await store.list_events(flt(), 10, "")
        assert (got.event_id, got.total_tokens, got.reasoning_tokens) == ("v1", 3, 4)
        assert list(got.anomalies) == []  # an old row has none (v3 column default)
        assert not got.HasField("cost_micro_usd") and not got.HasField("prompt")
        assert dict(got.labels) == {} and list(got.attempts) == []
        (row,) = await store.summarize(flt(), [])
        assert (row.requests, row.unpriced_requests) == (1, 1)
        assert await store.insert([full_event("v2")]) == (1, 0)
    finally:
        await store.close()
    # Reopening an up-to-date database applies nothing.
    await backend.open(clock=clock).close()
    assert len(backend.raw("SELECT version FROM schema_migrations")) == LATEST


# -- SQLite specifics --------------------------------------------------------------------


async def test_sqlite_data_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    first = open_usage_store(f"sqlite://{path}")
    await first.insert([event("persisted")])
    await first.close()
    second = open_usage_store(str(path))
    try:
        assert await second.insert([event("persisted")]) == (0, 1)
    finally:
        await second.close()


async def test_sqlite_is_wal(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    await SqliteUsageStore(path).close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


# -- PostgreSQL specifics / factory ------------------------------------------------------


async def test_open_usage_store_postgresql_url() -> None:
    with postgres.temp_schema() as schema:
        url = f"{postgres.POSTGRES_URL}?options=-csearch_path%3D{schema}"
        store = open_usage_store(url)
        try:
            assert isinstance(store, PostgresUsageStore)
            assert "postgres@" not in repr(store)  # no user/password in reprs
            assert await store.insert([event("pg")]) == (1, 0)
        finally:
            await store.close()
        with postgres.connect() as conn:
            count = conn.execute(f"SELECT count(*) FROM {schema}.usage_events").fetchone()
        assert count == (1,)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("mysql://db/oggy", ValueError),
        ("sqlite://relative.db", ValueError),
        ("", ValueError),
    ],
)
def test_open_usage_store_rejects(url: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        open_usage_store(url)


# -- budgets -------------------------------------------------------------------------------


async def test_scope_spend_groups_priced_cost_by_scope_dimensions(store: UsageStore) -> None:
    priced = []
    for i, (actor, model, cost) in enumerate(
        [("alice", "gpt-4o", 100), ("alice", "gpt-4o", 50), ("bob", "gpt-4o-mini", 7)]
    ):
        e = event(f"s{i}", seconds=T0 + i, actor=f"{W}/actors/{actor}", model=model)
        e.cost_micro_usd, e.team = cost, f"{W}/actors/ml"
        priced.append(e)
    aliased = event("s3", seconds=T0 + 3, model="gpt-4o-2024")
    aliased.cost_micro_usd, aliased.requested_model = 1, "gpt-4o"
    refused = event("s4", seconds=T0 + 4)  # no cost: refused by policy, or unpriced
    refused.policy_reason = "budget_exceeded"
    before = event("s5", seconds=T0 - 10)
    before.cost_micro_usd = 1000
    await store.insert([*priced, aliased, refused, before])
    rows = await store.scope_spend(W, T0 * 1_000_000, None)
    got = sorted((r.actor.rsplit("/", 1)[1], r.team, r.model, r.cost_micro_usd) for r in rows)
    assert got == [
        ("alice", "", "gpt-4o", 1),  # the model the client named
        ("alice", f"{W}/actors/ml", "gpt-4o", 150),
        ("bob", f"{W}/actors/ml", "gpt-4o-mini", 7),
    ]
    assert all(r.key == f"{W}/keys/k1" and r.provider == f"{W}/providers/openai" for r in rows)
    first_second = await store.scope_spend(W, T0 * 1_000_000, (T0 + 1) * 1_000_000)
    assert [r.cost_micro_usd for r in first_second] == [100]
    assert await store.scope_spend("workspaces/other", 0, None) == []


def crossing_at(threshold: int, cross_s: int, member: str = "", budget: str = "b1") -> Crossing:
    return Crossing(
        W,
        f"{W}/budgets/{budget}",
        member,
        T0 * 1_000_000,
        threshold,
        cross_s * 1_000_000,
        threshold * 10,
        1000,
    )


async def test_budget_crossings_are_recorded_once(store: UsageStore) -> None:
    assert await store.record_budget_crossings([crossing_at(50, T0 + 1)]) == 1
    # A second control plane (after a leader change) noticing the same crossing later.
    again = [crossing_at(50, T0 + 9), crossing_at(80, T0 + 10)]
    assert await store.record_budget_crossings(again) == 1
    found, token = await store.list_budget_crossings(W, f"{W}/budgets/b1", 10, "")
    assert token == ""
    assert [(c.threshold_percent, c.cross_us) for c in found] == [
        (80, (T0 + 10) * 1_000_000),
        (50, (T0 + 1) * 1_000_000),
    ]


async def test_budget_crossings_page_newest_first(store: UsageStore) -> None:
    recorded = [
        crossing_at(t, T0 + (i % 3), member=m, budget=b)
        for i, (t, m, b) in enumerate(
            (t, m, b) for t in (50, 80, 100) for m in ("", f"{W}/actors/a") for b in ("b1", "b2")
        )
    ]
    await store.record_budget_crossings(recorded)
    seen: list[Crossing] = []
    token = ""
    while True:
        page, token = await store.list_budget_crossings(W, "", 5, token)
        seen += page
        if not token:
            break
    assert seen == sorted(recorded, key=lambda c: c.cursor(), reverse=True)
    only_b2, _ = await store.list_budget_crossings(W, f"{W}/budgets/b2", 100, "", member="")
    assert {(c.budget, c.member) for c in only_b2} == {(f"{W}/budgets/b2", "")}
    with pytest.raises(InvalidArgument):
        await store.list_budget_crossings(W, f"{W}/budgets/b1", 5, "garbage!")
