"""One behavioural suite for every UsageStore implementation.

Add a store by adding a factory to `STORE_FACTORIES` (e.g. a PostgreSQL one
that skips when no server is configured); every test then runs against it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.usage import InvalidArgument, SqliteUsageStore, UsageStore, open_usage_store
from oggy.v1 import admin_service_pb2, usage_pb2

StoreFactory = Callable[[Path], Awaitable[UsageStore]]


async def _sqlite(tmp_path: Path) -> UsageStore:
    return SqliteUsageStore(tmp_path / "usage.db")


STORE_FACTORIES: dict[str, StoreFactory] = {"sqlite": _sqlite}

W = "workspaces/acme"
DAY = 86_400
T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


@pytest.fixture(params=sorted(STORE_FACTORIES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[UsageStore]:
    s = await STORE_FACTORIES[request.param](tmp_path)
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


async def test_sqlite_schema_is_versioned_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    store = SqliteUsageStore(path)
    await store.close()
    await SqliteUsageStore(path).close()  # reopening an up-to-date database applies nothing
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT version FROM schema_migrations").fetchall() == [(1,)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("postgresql://db/oggy", NotImplementedError),
        ("mysql://db/oggy", ValueError),
        ("sqlite://relative.db", ValueError),
        ("", ValueError),
    ],
)
def test_open_usage_store_rejects(url: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        open_usage_store(url)
