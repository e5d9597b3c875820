"""The mock provider through the official `openai` SDK: JSON, SSE, usage, scripted faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import openai
import pytest

from controlplane.devtools.mock_provider import SPLIT_BYTES, STATE, start_mock_provider
from controlplane.devtools.mock_script import reply_words


@pytest.fixture
async def mock_url() -> AsyncIterator[str]:
    runner, port = await start_mock_provider()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def client(mock_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    c = openai.AsyncOpenAI(base_url=f"{mock_url}/v1", api_key="sk-test", max_retries=0)
    try:
        yield c
    finally:
        await c.close()


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


async def recorded(mock_url: str) -> list[dict]:
    async with aiohttp.ClientSession() as s, s.get(f"{mock_url}/_mock/requests") as r:
        return await r.json()


async def test_completion_with_deterministic_usage(client: openai.AsyncOpenAI) -> None:
    reply = await client.chat.completions.create(
        model="gpt-4o-mini", messages=user("say hello please")
    )
    assert reply.model == "gpt-4o-mini"
    assert reply.choices[0].message.content == " ".join(reply_words(12))
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (3 + 4, 12)
    assert reply.usage.total_tokens == 19


async def test_stream_with_include_usage(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o",
        messages=user("count mock:words=5 mock:cached=2 mock:reasoning=1"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == " ".join(reply_words(5))
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 5
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (4 + 4, 5)
    assert last.usage.prompt_tokens_details.cached_tokens == 2
    assert last.usage.completion_tokens_details.reasoning_tokens == 1


async def test_stream_without_include_usage_has_no_usage(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(model="gpt-4o", messages=user("hi"), stream=True)
    chunks = [c async for c in stream]
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_scripted_status_reaches_the_sdk(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as exc:
        await client.chat.completions.create(model="gpt-4o", messages=user("mock:status=503"))
    assert exc.value.status_code == 503
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="gpt-4o", messages=user("mock:status=429"))


async def test_scripted_status_by_header(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(
            model="gpt-4o", messages=user("hi"), extra_headers={"x-mock-status": "400"}
        )


async def test_delay_before_headers(client: openai.AsyncOpenAI) -> None:
    started = time.monotonic()
    await client.chat.completions.create(model="gpt-4o", messages=user("mock:delay_ms=300"))
    assert time.monotonic() - started >= 0.3


async def test_error_in_stream(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=user("mock:error_in_stream"), stream=True
    )
    with pytest.raises(openai.APIError, match="mock error_in_stream"):
        async for _ in stream:
            pass


async def test_stall_after_chunks(mock_url: str) -> None:
    c = openai.AsyncOpenAI(
        base_url=f"{mock_url}/v1", api_key="sk", max_retries=0, timeout=openai.Timeout(5, read=0.5)
    )
    got: list[str] = []
    stream = await c.chat.completions.create(
        model="gpt-4o", messages=user("mock:stall_after=3"), stream=True
    )
    with pytest.raises(openai.APITimeoutError):
        async for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    await c.close()
    assert len(got) == 3


async def test_models_and_recorded_requests(client: openai.AsyncOpenAI, mock_url: str) -> None:
    models = await client.models.list()
    assert [m.id for m in models.data] == ["gpt-4o-mini", "gpt-4o", "o3-mini"]
    await client.chat.completions.create(
        model="o3-mini", messages=user("x"), extra_headers={"x-custom": "1"}
    )
    requests = await recorded(mock_url)
    post = [r for r in requests if r["method"] == "POST"][-1]
    assert post["path"] == "/v1/chat/completions"
    assert post["headers"]["authorization"] == "Bearer sk-test"
    assert post["headers"]["x-custom"] == "1"
    assert post["body"]["model"] == "o3-mini"
    async with aiohttp.ClientSession() as s:
        await s.delete(f"{mock_url}/_mock/requests")
    assert await recorded(mock_url) == []


async def test_bad_request_is_openai_shaped(mock_url: str) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{mock_url}/v1/chat/completions", json={"messages": []}) as r,
    ):
        assert r.status == 400
        data = await r.json()
    assert set(data["error"]) == {"message", "type", "param", "code"}


async def test_shutdown_does_not_wait_for_a_stalled_stream() -> None:
    runner, port = await start_mock_provider()
    c = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk", max_retries=0)
    stream = await c.chat.completions.create(
        model="gpt-4o", messages=user("mock:stall_after=1"), stream=True
    )
    await stream.__anext__()
    started = time.monotonic()
    await asyncio.wait_for(runner.cleanup(), timeout=5)
    assert time.monotonic() - started < 3
    await c.close()


async def test_split_stream_arrives_in_small_pieces_and_still_parses(mock_url: str) -> None:
    body = {"model": "gpt-4o", "messages": user("mock:split mock:words=5"), "stream": True}
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{mock_url}/v1/chat/completions", json=body) as r,
    ):
        pieces = [piece async for piece in r.content.iter_any()]
    raw = b"".join(pieces)
    assert raw.endswith(b"data: [DONE]\n\n")
    assert len(pieces) > raw.count(b"\n\n")  # not one read per event
    assert max(len(p) for p in pieces) < 10 * SPLIT_BYTES


async def test_openai_replies_carry_provider_headers(client: openai.AsyncOpenAI) -> None:
    raw = await client.chat.completions.with_raw_response.create(model="gpt-4o", messages=user("x"))
    assert raw.headers["x-request-id"].startswith("req_mock_")
    assert raw.headers["openai-organization"] == "org-mock"
    assert raw.headers["x-ratelimit-remaining-requests"] == "99"
    assert "set-cookie" in raw.headers


async def test_a_client_hanging_up_mid_stream_is_noticed() -> None:
    runner, port = await start_mock_provider()
    state = runner.app[STATE]
    body = {"model": "gpt-4o", "messages": user("mock:chunk_delay_ms=50 mock:words=40")}
    try:
        async with aiohttp.ClientSession() as s:
            started = time.monotonic()
            r = await s.post(
                f"http://127.0.0.1:{port}/v1/chat/completions", json={**body, "stream": True}
            )
            await r.content.readuntil(b"\n\n")
            await r.content.readuntil(b"\n\n")
            assert time.monotonic() - started >= 0.05  # the second event waited
            assert not state.hung_up.is_set()
            r.close()
            await asyncio.wait_for(state.hung_up.wait(), 5)
    finally:
        await runner.cleanup()
