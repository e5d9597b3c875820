"""The data plane HTTP app end to end: real sockets, the scripted mock provider, the openai SDK."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import openai
import orjson
import pytest
from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.devtools.mock_provider import STATE, MockState, start_mock_provider
from controlplane.devtools.mock_script import reply_words
from dataplane.config.holder import ConfigHolder
from dataplane.http import HttpOptions, create_app
from dataplane.http.site import start_site
from oggy.contract.compile import compile_snapshot
from oggy.contract.key_text import hash_secret
from oggy.v1 import (
    actor_pb2,
    key_pb2,
    policy_pb2,
    provider_pb2,
    snapshot_pb2,
    usage_pb2,
    workspace_pb2,
)

WS = "workspaces/acme"
SECRET = "A" * 20 + "b" * 23  # 43 base62 chars
KEY = f"oggy_live_kactive000000000_{SECRET}"
REVOKED = f"oggy_live_krevoked00000000_{SECRET}"
EXPIRED = f"oggy_live_kexpired00000000_{SECRET}"
PROVIDER_KEY = "sk-upstream-secret"
UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


class ListSink:
    """UsageSink fake: keeps events in a list; tests await a count instead of sleeping."""

    def __init__(self) -> None:
        self.events: list[usage_pb2.UsageEvent] = []
        self._changed = asyncio.Condition()

    def emit(self, event: usage_pb2.UsageEvent) -> None:
        self.events.append(event)
        asyncio.get_running_loop().create_task(self._notify())

    def note(self, event: usage_pb2.UsageEvent) -> None:
        return None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def queue_depth(self) -> int:
        return len(self.events)

    async def wait_for(self, n: int) -> list[usage_pb2.UsageEvent]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.events) >= n), 10)
        return self.events


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def build_snapshot(upstream_url: str) -> snapshot_pb2.Snapshot:
    def key(key_id: str, **kw: object) -> snapshot_pb2.KeyMaterial:
        return snapshot_pb2.KeyMaterial(
            key=key_pb2.GatewayKey(
                **{
                    "name": f"{WS}/keys/{key_id}",
                    "state": key_pb2.GatewayKey.STATE_ACTIVE,
                    "environment": "live",
                    **kw,
                }
            ),
            secret_sha256=hash_secret(SECRET),
        )

    return snapshot_pb2.Snapshot(
        revision=7,
        workspaces=[workspace_pb2.Workspace(name=WS)],
        actors=[actor_pb2.Actor(name=f"{WS}/actors/alice", kind=actor_pb2.Actor.KIND_USER)],
        keys=[
            key("kactive000000000", actor=f"{WS}/actors/alice"),
            key("krevoked00000000", state=key_pb2.GatewayKey.STATE_REVOKED),
            key("kexpired00000000", expire_time=Timestamp(seconds=1_000_000)),
        ],
        providers=[
            snapshot_pb2.ProviderMaterial(
                provider=provider_pb2.ProviderCredential(
                    name=f"{WS}/providers/fake",
                    kind=provider_pb2.ProviderCredential.KIND_OPENAI_COMPATIBLE,
                    base_url=upstream_url + "/v1",
                    models=["gpt-4o-mini", "gpt-4o", "gpt-4o-secret", "fake-*"],
                ),
                api_key=PROVIDER_KEY,
            ),
            snapshot_pb2.ProviderMaterial(
                provider=provider_pb2.ProviderCredential(
                    name=f"{WS}/providers/dead",
                    kind=provider_pb2.ProviderCredential.KIND_OPENAI,
                    base_url=f"http://127.0.0.1:{closed_port()}/v1",
                    models=["dead-model"],
                ),
                api_key="sk-dead",
            ),
        ],
        policies=[
            policy_pb2.Policy(
                name=f"{WS}/policies/no-secret", target=WS, denied_models=["*-secret*"]
            )
        ],
    )


@dataclass
class Env:
    base: str
    mock: MockState
    sink: ListSink
    holder: ConfigHolder
    http: aiohttp.ClientSession
    clients: list[openai.AsyncOpenAI] = field(default_factory=list)

    def client(self, api_key: str = KEY) -> openai.AsyncOpenAI:
        c = openai.AsyncOpenAI(base_url=self.base + "/v1", api_key=api_key, max_retries=0)
        self.clients.append(c)
        return c

    async def post(self, body: object, api_key: str | None = KEY, **kw: object):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return await self.http.post(
            self.base + "/v1/chat/completions", data=data, headers=headers, **kw
        )


OPTIONS = HttpOptions(
    dataplane_id="dp-test",
    max_body_bytes=64 * 1024,
    upstream_first_byte_timeout_s=0.5,
    upstream_between_chunks_timeout_s=0.5,
)


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """As the data plane serves it (dataplane/http/site.py)."""
    runner, port = await start_site(app, "127.0.0.1", 0, shutdown_timeout_s=1.0)
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    mock_runner, mock_port = await start_mock_provider()
    sink = ListSink()
    holder = ConfigHolder(compile_snapshot(build_snapshot(f"http://127.0.0.1:{mock_port}")))
    runner, base = await serve(create_app(holder, sink, OPTIONS))
    http = aiohttp.ClientSession()
    e = Env(base, mock_runner.app[STATE], sink, holder, http)
    try:
        yield e
    finally:
        for c in e.clients:
            await c.close()
        await http.close()
        await mock_runner.cleanup()
        await runner.cleanup()


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


# ---------------------------------------------------------------- happy paths


async def test_non_stream_through_openai_sdk(env: Env) -> None:
    raw = await env.client().chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=user("hello there mock:words=3")
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == " ".join(reply_words(3))
    assert completion.usage is not None and completion.usage.completion_tokens == 3

    [ev] = await env.sink.wait_for(1)
    assert UUID7.fullmatch(ev.event_id)
    assert raw.headers["x-request-id"] == ev.request_id
    assert (ev.workspace, ev.key, ev.actor) == (
        WS,
        f"{WS}/keys/kactive000000000",
        f"{WS}/actors/alice",
    )
    assert ev.provider == f"{WS}/providers/fake"
    assert (ev.model, ev.endpoint, ev.stream, ev.http_status) == (
        "gpt-4o-mini",
        "/v1/chat/completions",
        False,
        200,
    )
    assert (ev.prompt_tokens, ev.completion_tokens, ev.total_tokens) == (7, 3, 10)
    assert ev.token_source == "provider" and ev.error_type == ""
    assert not ev.HasField("cached_tokens")
    assert ev.dataplane_id == "dp-test" and ev.client_ip == "127.0.0.1"
    assert ev.upstream_request_id == "req_mock_1"
    assert ev.latency_ms > 0 and ev.start_time.seconds > 0
    # Provider-identifying headers stay at the gateway.
    assert "openai-organization" not in raw.headers and "set-cookie" not in raw.headers
    assert raw.headers["x-ratelimit-remaining-requests"] == "99"


async def test_forwarded_request_is_sanitised(env: Env) -> None:
    await env.client().chat.completions.create(
        model="gpt-4o",
        messages=user("hi"),
        extra_body={
            "api_base": "http://evil.example",
            "base_url": "http://evil.example",
            "api_key": "sk-stolen",
            "organization": "org-x",
        },
        extra_headers={"X-Custom": "1", "Cookie": "a=b", "OpenAI-Beta": "assistants=v2"},
    )
    [req] = env.mock.requests
    assert req["path"] == "/v1/chat/completions"
    for f in ("api_base", "base_url", "api_key", "organization"):
        assert f not in req["body"]
    headers = req["headers"]  # lower-cased by the mock
    assert headers["authorization"] == f"Bearer {PROVIDER_KEY}"
    assert "x-custom" not in headers and "cookie" not in headers
    assert headers["openai-beta"] == "assistants=v2"
    assert KEY not in str(req["headers"])


async def test_stream_hides_usage_chunk_unless_asked(env: Env) -> None:
    stream = await env.client().chat.completions.create(
        model="fake-model", messages=user("one two mock:words=4"), stream=True
    )
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == " ".join(reply_words(4))
    assert all(c.choices for c in chunks), "usage-only chunk must not reach this client"
    # Upstream was asked for usage anyway.
    assert env.mock.requests[0]["body"]["stream_options"] == {"include_usage": True}

    [ev] = await env.sink.wait_for(1)
    assert ev.stream and ev.http_status == 200 and ev.error_type == ""
    assert (ev.prompt_tokens, ev.completion_tokens, ev.total_tokens) == (7, 4, 11)
    assert ev.time_to_first_token_ms > 0 and ev.latency_ms >= ev.time_to_first_token_ms


@pytest.mark.parametrize("split", ["", " mock:split"])
async def test_stream_with_client_usage_and_token_details(env: Env, split: str) -> None:
    stream = await env.client().chat.completions.create(
        model="gpt-4o-mini",
        messages=user(f"count mock:words=6 mock:cached=2 mock:reasoning=3{split}"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 6
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == " ".join(reply_words(6))

    [ev] = await env.sink.wait_for(1)
    assert ev.completion_tokens == 6 and ev.cached_tokens == 2 and ev.reasoning_tokens == 3


async def test_split_stream_without_client_usage(env: Env) -> None:
    stream = await env.client().chat.completions.create(
        model="gpt-4o-mini", messages=user("x mock:words=9 mock:split"), stream=True
    )
    chunks = [c async for c in stream]
    assert all(c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == " ".join(reply_words(9))
    [ev] = await env.sink.wait_for(1)
    assert ev.completion_tokens == 9


# ---------------------------------------------------------------- auth, policy, routing


@pytest.mark.parametrize(
    ("api_key", "code", "attributed"),
    [
        (None, "invalid_api_key", False),
        ("sk-not-a-gateway-key", "invalid_api_key", False),
        (f"oggy_live_kunknown00000000_{SECRET}", "invalid_api_key", False),
        (f"oggy_live_kactive000000000_{'Z' * 43}", "invalid_api_key", True),
        (REVOKED, "key_revoked", True),
        (EXPIRED, "key_expired", True),
    ],
)
async def test_auth_failures(env: Env, api_key: str | None, code: str, attributed: bool) -> None:
    resp = await env.post({"model": "gpt-4o", "messages": user("hi")}, api_key=api_key)
    assert resp.status == 401
    body = await resp.json()
    assert body["error"]["code"] == code
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert SECRET not in await resp.text()
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type) == (401, code)
    assert ev.request_id == resp.headers["x-request-id"]
    assert bool(ev.key) is attributed and (ev.workspace == WS) is attributed
    assert not env.mock.requests


async def test_auth_failure_through_sdk(env: Env) -> None:
    with pytest.raises(openai.AuthenticationError) as exc:
        await env.client(REVOKED).chat.completions.create(model="gpt-4o", messages=user("hi"))
    assert exc.value.code == "key_revoked"


async def test_unknown_model_is_404(env: Env) -> None:
    with pytest.raises(openai.NotFoundError) as exc:
        await env.client().chat.completions.create(model="claude-9", messages=user("hi"))
    assert exc.value.code == "model_not_found"
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type, ev.model, ev.provider) == (
        404,
        "model_not_found",
        "claude-9",
        "",
    )


async def test_denied_model_is_403(env: Env) -> None:
    with pytest.raises(openai.PermissionDeniedError) as exc:
        await env.client().chat.completions.create(model="gpt-4o-secret", messages=user("hi"))
    assert exc.value.code == "model_not_allowed"
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type) == (403, "model_not_allowed")
    assert not env.mock.requests


async def test_models_lists_concrete_allowed_models(env: Env) -> None:
    page = await env.client().models.list()
    assert sorted(m.id for m in page.data) == ["dead-model", "gpt-4o", "gpt-4o-mini"]
    [ev] = await env.sink.wait_for(1)
    assert (ev.endpoint, ev.http_status) == ("/v1/models", 200)


# ---------------------------------------------------------------- request limits


async def test_body_too_large_is_413(env: Env) -> None:
    big = {"model": "gpt-4o", "messages": user("x" * (OPTIONS.max_body_bytes + 1))}
    resp = await env.post(big)
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "request_too_large"
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type) == (413, "request_too_large")


async def test_chunked_body_too_large_is_413(env: Env) -> None:
    async def gen() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 4096

    resp = await env.http.post(
        env.base + "/v1/chat/completions",
        data=gen(),
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert resp.status == 413


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2]", b'{"model": 3, "messages": []}', b'{"model": "gpt-4o"}']
)
async def test_invalid_body_is_400(env: Env, body: bytes) -> None:
    resp = await env.post(body)
    assert resp.status == 400
    assert (await resp.json())["error"]["type"] == "invalid_request_error"
    [ev] = await env.sink.wait_for(1)
    assert ev.http_status == 400


# ---------------------------------------------------------------- upstream failures


@pytest.mark.parametrize(("status", "code"), [(500, "server_error"), (429, "rate_limit_exceeded")])
async def test_upstream_error_passes_through(env: Env, status: int, code: str) -> None:
    resp = await env.post({"model": "gpt-4o", "messages": user(f"mock:status={status}")})
    assert resp.status == status
    body = await resp.read()
    assert orjson.loads(body)["error"]["message"] == f"mock status {status}"
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type) == (status, code)


async def test_upstream_error_on_stream_passes_through(env: Env) -> None:
    with pytest.raises(openai.InternalServerError):
        await env.client().chat.completions.create(
            model="gpt-4o", messages=user("mock:status=503"), stream=True
        )
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.stream) == (503, True)


async def test_connect_failure_is_502(env: Env) -> None:
    resp = await env.post({"model": "dead-model", "messages": user("hi")})
    assert resp.status == 502
    assert (await resp.json())["error"]["code"] == "upstream_unavailable"
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type, ev.provider) == (
        502,
        "upstream_unavailable",
        f"{WS}/providers/dead",
    )


async def test_no_headers_in_time_is_504(env: Env) -> None:
    resp = await env.post({"model": "gpt-4o", "messages": user("mock:delay_ms=5000")})
    assert resp.status == 504
    assert (await resp.json())["error"]["code"] == "upstream_timeout"
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type) == (504, "upstream_timeout")


async def test_stalled_stream_ends_with_error_event(env: Env) -> None:
    resp = await env.post(
        {"model": "gpt-4o", "messages": user("mock:stall_after=2 mock:words=5"), "stream": True}
    )
    assert resp.status == 200
    text = (await resp.read()).decode()
    events = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    assert orjson.loads(events[-1])["error"]["code"] == "upstream_timeout"
    assert "[DONE]" not in text
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type, ev.stream) == (504, "upstream_timeout", True)
    assert ev.token_source == "estimated" and ev.completion_tokens >= 2
    await asyncio.wait_for(env.mock.hung_up.wait(), 5)


async def test_error_event_inside_stream_is_recorded(env: Env) -> None:
    resp = await env.post(
        {"model": "gpt-4o", "messages": user("mock:error_in_stream"), "stream": True}
    )
    text = (await resp.read()).decode()
    events = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    # Two words, then the provider's error event, passed through as the last event.
    assert len(events) == 3
    assert orjson.loads(events[-1])["error"]["message"] == "mock error_in_stream"
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type) == (200, "server_error")


async def test_client_disconnect_mid_stream(env: Env) -> None:
    resp = await env.post(
        {
            "model": "gpt-4o",
            # Events keep coming (every 50 ms, well within the idle timeout) after we
            # hang up, so the data plane finds out by writing to us.
            "messages": user("mock:chunk_delay_ms=50 mock:words=40"),
            "stream": True,
        }
    )
    assert resp.status == 200
    await resp.content.readuntil(b"\n\n")  # the first event reached us
    resp.close()  # hang up mid-stream
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type, ev.stream) == (499, "client_disconnected", True)
    assert ev.time_to_first_token_ms > 0
    # The provider's usage never came: tiktoken estimates it (DESIGN invariant 7).
    assert ev.token_source == "estimated"
    assert ev.prompt_tokens > 0 and ev.completion_tokens > 0
    assert ev.total_tokens == ev.prompt_tokens + ev.completion_tokens
    await asyncio.wait_for(env.mock.hung_up.wait(), 5)


# ---------------------------------------------------------------- ops endpoints


async def test_readyz_healthz_and_metrics() -> None:
    holder = ConfigHolder()
    sink = ListSink()
    runner, base = await serve(create_app(holder, sink, OPTIONS))
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/healthz") as r:
                assert r.status == 200
            async with http.get(base + "/readyz") as r:
                assert r.status == 503
                assert (await r.json())["error"]["code"] == "not_ready"
            async with http.post(base + "/v1/chat/completions", data=b"{}") as r:
                assert r.status == 503
            holder.apply(compile_snapshot(build_snapshot("http://127.0.0.1:9")))
            async with http.get(base + "/readyz") as r:
                assert r.status == 200 and (await r.json())["revision"] == 7
            async with http.get(base + "/nope") as r:
                assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
            async with http.get(base + "/metrics") as r:
                text = await r.text()
            assert 'oggy_requests_total{endpoint="/v1/chat/completions",status="503"} 1' in text
            assert "oggy_request_duration_seconds_bucket" in text
            assert "oggy_usage_queue_depth 1" in text
    finally:
        await runner.cleanup()
