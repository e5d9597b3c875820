"""A client that leaves while the upstream is silent is noticed at once, not at the next write.

The upstream call is aborted within a second (the mock stamps `hung_up` on the
request) and the usage event is a client disconnect, not an upstream timeout.
The timeouts here are long (30 s), so only noticing the client can end the call;
a provider's own timeouts (ProviderCredential.timeouts) beat them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import orjson
import pytest

from controlplane.devtools.mock_provider import STATE, MockState, start_mock_provider
from dataplane.config.holder import ConfigHolder
from dataplane.http import HttpOptions, create_app
from oggy.contract.compile import compile_snapshot
from tests.integration.test_dataplane_http import KEY, ListSink, build_snapshot, serve, user

pytestmark = pytest.mark.timeout(30)

LONG = HttpOptions(
    dataplane_id="dp-test",
    upstream_first_byte_timeout_s=30.0,
    upstream_between_chunks_timeout_s=30.0,
)


@dataclass
class Env:
    base: str
    mock_url: str
    mock: MockState
    sink: ListSink
    http: aiohttp.ClientSession


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    mock_runner, mock_port = await start_mock_provider()
    mock_url = f"http://127.0.0.1:{mock_port}"
    sink = ListSink()
    snapshot = build_snapshot(mock_url)
    # A second credential for the same models, with its own first-byte timeout.
    quick = snapshot.providers.add()
    quick.CopyFrom(snapshot.providers[0])
    quick.provider.name = "workspaces/acme/providers/quick"
    quick.provider.models[:] = ["quick-model"]
    quick.provider.timeouts.first_byte.FromMilliseconds(300)
    holder = ConfigHolder(compile_snapshot(snapshot))
    runner, base = await serve(create_app(holder, sink, LONG))
    http = aiohttp.ClientSession()
    try:
        yield Env(base, mock_url, mock_runner.app[STATE], sink, http)
    finally:
        await http.close()
        await runner.cleanup()
        await mock_runner.cleanup()


async def post(env: Env, body: dict) -> aiohttp.ClientResponse:
    return await env.http.post(
        env.base + "/v1/chat/completions",
        data=orjson.dumps(body),
        headers={"Authorization": f"Bearer {KEY}"},
    )


async def until_upstream_called(env: Env) -> None:
    for _ in range(500):
        if env.mock.requests:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the upstream was never called")


async def hung_up_after(env: Env, left: float) -> float:
    """Seconds from `left` (the client hanging up) to the mock seeing the gateway hang up."""
    async with env.http.get(env.mock_url + "/_mock/requests") as r:
        [req] = await r.json()
    assert "hung_up" in req, "the gateway is still holding the upstream request"
    return req["hung_up"] - left


async def test_client_gone_before_upstream_headers(env: Env) -> None:
    call = asyncio.create_task(
        post(env, {"model": "gpt-4o", "messages": user("mock:delay_ms=20000")})
    )
    await until_upstream_called(env)
    call.cancel()  # the client hangs up while the provider has sent nothing
    left = time.time()
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type) == (499, "client_disconnected")
    assert [a.error_type for a in ev.attempts] == ["client_disconnected"]
    await asyncio.sleep(0.3)  # the mock looks every 0.1 s
    assert await hung_up_after(env, left) < 1.0


async def test_client_gone_while_the_stream_stalls(env: Env) -> None:
    body = {"model": "gpt-4o", "messages": user("mock:stall_after=2 mock:words=5"), "stream": True}
    resp = await post(env, body)
    assert resp.status == 200
    await resp.content.readuntil(b"\n\n")  # the first event reached us; then silence
    resp.close()
    left = time.time()
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type, ev.stream) == (499, "client_disconnected", True)
    assert ev.token_source == "estimated" and ev.completion_tokens > 0
    await asyncio.sleep(0.3)
    assert await hung_up_after(env, left) < 1.0


async def test_a_providers_first_byte_timeout_beats_the_data_planes(env: Env) -> None:
    started = time.monotonic()
    resp = await post(env, {"model": "quick-model", "messages": user("mock:delay_ms=5000")})
    assert resp.status == 504, "the data plane's 30 s default applied"
    assert time.monotonic() - started < 2.0
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type) == (504, "upstream_timeout")
    assert ev.provider == "workspaces/acme/providers/quick"
