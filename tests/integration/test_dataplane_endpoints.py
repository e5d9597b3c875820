"""Every model endpoint, routing and fallback, against the real mock provider and real SDKs.

The data plane app runs on loopback with two instances of the mock provider
(`mock1`, `mock2`; `/_mock/next` makes one of them fail while the same body
reaches both) and is driven by the `openai` SDK (chat, completions, embeddings,
responses; also its AzureOpenAI client on `/openai/deployments/...`) and the
`anthropic` SDK (`/v1/messages`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
import anthropic
import openai
import pytest
from yarl import URL

from controlplane.devtools.mock_provider import start_mock_provider
from controlplane.devtools.mock_script import prompt_tokens, reply_words
from dataplane.config.holder import ConfigHolder
from dataplane.http import HttpOptions, create_app
from oggy.contract.compile import compile_snapshot
from oggy.contract.default_prices import DEFAULT_CATALOG_VERSION
from oggy.contract.key_text import hash_secret
from oggy.v1 import (
    key_pb2,
    price_pb2,
    provider_pb2,
    route_pb2,
    snapshot_pb2,
    workspace_pb2,
)
from tests.integration.test_dataplane_http import ListSink, closed_port, serve

WS = "workspaces/acme"
SECRET = "Q" * 43
KEY = f"oggy_live_kendpoints000000_{SECRET}"
Kind = provider_pb2.ProviderCredential
OPTIONS = HttpOptions(
    dataplane_id="dp-endpoints",
    upstream_first_byte_timeout_s=0.5,
    upstream_between_chunks_timeout_s=0.5,
)
# Workspace prices (micro-USD per 1M tokens).
MINI = dict(input=1_000_000, cached=100_000, output=2_000_000, reasoning=3_000_000)
COMPAT_GPT4O = dict(input=7_000_000, output=9_000_000)


def provider(
    name: str, kind: int, base: str, models: list[str], **kw
) -> snapshot_pb2.ProviderMaterial:
    return snapshot_pb2.ProviderMaterial(
        provider=Kind(name=f"{WS}/providers/{name}", kind=kind, base_url=base, models=models, **kw),
        api_key=f"sk-{name}",
    )


def build_snapshot(mock1: str, mock2: str) -> snapshot_pb2.Snapshot:
    return snapshot_pb2.Snapshot(
        revision=3,
        workspaces=[workspace_pb2.Workspace(name=WS)],
        keys=[
            snapshot_pb2.KeyMaterial(
                key=key_pb2.GatewayKey(
                    name=f"{WS}/keys/kendpoints000000",
                    state=key_pb2.GatewayKey.STATE_ACTIVE,
                    environment="live",
                ),
                secret_sha256=hash_secret(SECRET),
            )
        ],
        providers=[
            provider(
                "a-primary",
                Kind.KIND_OPENAI,
                mock1 + "/v1",
                ["gpt-4o", "gpt-4o-mini", "o3-mini", "text-embedding-3-small", "gpt-3.5-*"],
            ),
            provider("b-backup", Kind.KIND_OPENAI_COMPATIBLE, mock2 + "/v1", ["gpt-4o"]),
            provider("c-claude", Kind.KIND_ANTHROPIC, mock1, ["claude-*"]),
            provider(
                "d-azure",
                Kind.KIND_AZURE_OPENAI,
                mock2,
                ["gpt-35-turbo"],
                api_version="2024-10-21",
                deployments={"gpt-35-turbo": "chat35"},
            ),
            provider("e-dead", Kind.KIND_OPENAI, f"http://127.0.0.1:{closed_port()}/v1", []),
        ],
        routes=[
            route_pb2.Route(
                name=f"{WS}/routes/fast",
                model="gpt-fast",
                targets=[
                    route_pb2.RouteTarget(provider=f"{WS}/providers/a-primary", model="gpt-4o-mini")
                ],
            ),
            route_pb2.Route(
                name=f"{WS}/routes/dead-first",
                model="gpt-sturdy",
                targets=[
                    route_pb2.RouteTarget(provider=f"{WS}/providers/e-dead", model="gpt-4o"),
                    route_pb2.RouteTarget(provider=f"{WS}/providers/b-backup", model="gpt-4o"),
                ],
            ),
        ],
        prices=[
            price_pb2.ModelPrice(
                name=f"{WS}/prices/mini",
                provider="openai",
                model="gpt-4o-mini",
                input_per_mtok=MINI["input"],
                cached_input_per_mtok=MINI["cached"],
                output_per_mtok=MINI["output"],
                reasoning_per_mtok=MINI["reasoning"],
            ),
            price_pb2.ModelPrice(
                name=f"{WS}/prices/compat-4o",
                provider="openai_compatible",
                model="gpt-4o",
                input_per_mtok=COMPAT_GPT4O["input"],
                output_per_mtok=COMPAT_GPT4O["output"],
            ),
        ],
    )


@dataclass
class Env:
    base: str
    mock1: str
    mock2: str
    sink: ListSink
    http: aiohttp.ClientSession
    closers: list = field(default_factory=list)

    def openai(self) -> openai.AsyncOpenAI:
        c = openai.AsyncOpenAI(base_url=self.base + "/v1", api_key=KEY, max_retries=0)
        self.closers.append(c)
        return c

    def anthropic(self) -> anthropic.AsyncAnthropic:
        c = anthropic.AsyncAnthropic(base_url=self.base, api_key=KEY, max_retries=0)
        self.closers.append(c)
        return c

    async def recorded(self, mock: str) -> list[dict]:
        async with self.http.get(mock + "/_mock/requests") as r:
            return await r.json()

    async def force(self, mock: str, **spec: int) -> None:
        async with self.http.post(mock + "/_mock/next", json=spec) as r:
            assert r.status == 200


@contextlib.asynccontextmanager
async def running(
    edit: Callable[[snapshot_pb2.Snapshot, str, str], None] | None = None,
) -> AsyncIterator[Env]:
    """The app in front of two mock providers; `edit(snapshot, mock1, mock2)` adds to the
    workspace before it is compiled."""
    r1, p1 = await start_mock_provider()
    r2, p2 = await start_mock_provider()
    mock1, mock2 = f"http://127.0.0.1:{p1}", f"http://127.0.0.1:{p2}"
    snapshot = build_snapshot(mock1, mock2)
    if edit is not None:
        edit(snapshot, mock1, mock2)
    sink = ListSink()
    runner, base = await serve(create_app(ConfigHolder(compile_snapshot(snapshot)), sink, OPTIONS))
    http = aiohttp.ClientSession()
    e = Env(base, mock1, mock2, sink, http)
    try:
        yield e
    finally:
        for c in e.closers:
            await c.close()
        await http.close()
        await runner.cleanup()
        await r1.cleanup()
        await r2.cleanup()


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with running() as e:
        yield e


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def cost(tokens_x_rates: list[tuple[int, int]]) -> int:
    numerator = sum(t * r for t, r in tokens_x_rates)
    return (numerator * 2 + 1_000_000) // 2_000_000


# ---------------------------------------------------------------- chat, priced per token class


async def test_chat_priced_with_cached_and_reasoning_rates(env: Env) -> None:
    text = "price me mock:words=10 mock:cached=3 mock:reasoning=4"
    done = await env.openai().chat.completions.create(model="gpt-4o-mini", messages=user(text))
    assert done.usage is not None and done.usage.completion_tokens == 10
    [ev] = await env.sink.wait_for(1)
    prompt = prompt_tokens({"messages": user(text)})
    assert (ev.prompt_tokens, ev.completion_tokens, ev.total_tokens) == (prompt, 10, prompt + 10)
    assert (ev.cached_tokens, ev.reasoning_tokens, ev.token_source) == (3, 4, "provider")
    expected = cost(
        [
            (prompt - 3, MINI["input"]),
            (3, MINI["cached"]),
            (10 - 4, MINI["output"]),
            (4, MINI["reasoning"]),
        ]
    )
    assert ev.HasField("cost_micro_usd") and ev.cost_micro_usd == expected
    assert ev.price_catalog_version.startswith(DEFAULT_CATALOG_VERSION + "+w-")
    assert ev.provider == f"{WS}/providers/a-primary"
    assert [(a.provider, a.http_status) for a in ev.attempts] == [(ev.provider, 200)]
    assert ev.requested_model == "gpt-4o-mini"


async def test_chat_stream_and_unpriced_model(env: Env) -> None:
    stream = await env.openai().chat.completions.create(
        model="gpt-3.5-anything", messages=user("hi mock:words=5"), stream=True
    )
    chunks = [c async for c in stream]
    assert all(c.choices for c in chunks)  # the usage chunk the gateway asked for is hidden
    [ev] = await env.sink.wait_for(1)
    assert ev.stream and ev.completion_tokens == 5 and ev.token_source == "provider"
    # gpt-3.5-turbo* is priced, gpt-3.5-anything is not: unset, never a silent 0.
    assert not ev.HasField("cost_micro_usd") and ev.price_catalog_version == ""


async def test_provider_without_usage_is_estimated(env: Env) -> None:
    await env.openai().chat.completions.create(
        model="gpt-4o-mini", messages=user("no counts mock:no_usage mock:words=6"), max_tokens=4
    )
    [ev] = await env.sink.wait_for(1)
    assert ev.token_source == "estimated"
    assert ev.prompt_tokens > 0 and 0 < ev.completion_tokens <= 4  # capped at max_tokens
    assert ev.HasField("cost_micro_usd")


# ---------------------------------------------------------------- other OpenAI endpoints


async def test_completions_stream_and_not(env: Env) -> None:
    client = env.openai()
    done = await client.completions.create(model="gpt-4o-mini", prompt="say mock:words=3")
    assert done.choices[0].text == " ".join(reply_words(3))
    stream = await client.completions.create(
        model="gpt-4o-mini", prompt="say mock:words=4", stream=True
    )
    text = "".join([c.choices[0].text async for c in stream if c.choices])
    assert text == " ".join(reply_words(4))
    first, second = await env.sink.wait_for(2)
    assert (first.endpoint, first.completion_tokens, first.stream) == ("/v1/completions", 3, False)
    assert (second.completion_tokens, second.stream, second.token_source) == (4, True, "provider")


async def test_embeddings(env: Env) -> None:
    out = await env.openai().embeddings.create(
        model="text-embedding-3-small", input=["one two three", "four"]
    )
    assert len(out.data) == 2 and out.usage.prompt_tokens == 4
    [ev] = await env.sink.wait_for(1)
    assert (ev.endpoint, ev.prompt_tokens, ev.completion_tokens, ev.total_tokens) == (
        "/v1/embeddings",
        4,
        0,
        4,
    )
    assert ev.cost_micro_usd == cost([(4, 20_000)])  # default list price $0.02 / 1M


async def test_responses_non_stream(env: Env) -> None:
    resp = await env.openai().responses.create(
        model="o3-mini", input="think mock:words=7 mock:cached=2 mock:reasoning=3"
    )
    assert resp.output_text == " ".join(reply_words(7))
    [ev] = await env.sink.wait_for(1)
    assert ev.endpoint == "/v1/responses" and ev.completion_tokens == 7
    assert (ev.cached_tokens, ev.reasoning_tokens) == (2, 3)
    assert ev.total_tokens == ev.prompt_tokens + 7


async def test_responses_stream_usage_from_completed_event(env: Env) -> None:
    stream = await env.openai().responses.create(
        model="o3-mini", input="stream mock:words=5 mock:cached=1 mock:reasoning=2", stream=True
    )
    kinds, text = [], []
    async for event in stream:
        kinds.append(event.type)
        if event.type == "response.output_text.delta":
            text.append(event.delta)
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "".join(text) == " ".join(reply_words(5))
    [ev] = await env.sink.wait_for(1)
    assert ev.stream and ev.token_source == "provider"
    assert (ev.completion_tokens, ev.cached_tokens, ev.reasoning_tokens) == (5, 1, 2)
    assert ev.HasField("cost_micro_usd")


async def test_responses_stall_is_one_error_event_and_an_estimate(env: Env) -> None:
    resp = await env.http.post(
        env.base + "/v1/responses",
        json={"model": "o3-mini", "input": "mock:stall_after=3 mock:words=6", "stream": True},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    text = (await resp.read()).decode()
    assert resp.status == 200 and text.count("upstream_timeout") == 1
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type, ev.token_source) == (
        504,
        "upstream_timeout",
        "estimated",
    )
    assert ev.completion_tokens > 0


# ---------------------------------------------------------------- Anthropic


async def test_anthropic_messages_non_stream(env: Env) -> None:
    msg = await env.anthropic().messages.create(
        model="claude-sonnet-4-6",
        max_tokens=100,
        system="be brief",
        messages=[
            {"role": "user", "content": "hello mock:words=4 mock:cached=5 mock:cache_write=2"}
        ],
    )
    assert msg.content[0].text == " ".join(reply_words(4))
    assert msg.usage.cache_read_input_tokens == 5
    [ev] = await env.sink.wait_for(1)
    assert (ev.endpoint, ev.provider) == ("/v1/messages", f"{WS}/providers/c-claude")
    # prompt = input + cache reads + cache writes (normalised like OpenAI's prompt_tokens).
    assert ev.prompt_tokens == msg.usage.input_tokens + 5 + 2
    assert (ev.cached_tokens, ev.cache_creation_tokens, ev.completion_tokens) == (5, 2, 4)
    # Default list price for claude-sonnet-4*: $3 in, $0.30 read, $3.75 write, $15 out.
    expected = cost(
        [(msg.usage.input_tokens, 3_000_000), (5, 300_000), (2, 3_750_000), (4, 15_000_000)]
    )
    assert ev.cost_micro_usd == expected
    [req] = [r for r in await env.recorded(env.mock1) if r["path"] == "/v1/messages"]
    assert req["headers"]["x-api-key"] == "sk-c-claude"
    assert "authorization" not in req["headers"] and SECRET not in str(req["headers"])
    assert req["headers"]["anthropic-version"]


async def test_anthropic_messages_stream(env: Env) -> None:
    client = env.anthropic()
    async with client.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=50,
        messages=[{"role": "user", "content": "go mock:words=6 mock:cached=1 mock:cache_write=3"}],
    ) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == " ".join(reply_words(6))
    [ev] = await env.sink.wait_for(1)
    assert ev.stream and ev.token_source == "provider"
    assert (ev.completion_tokens, ev.cached_tokens, ev.cache_creation_tokens) == (6, 1, 3)
    assert ev.prompt_tokens == final.usage.input_tokens + 1 + 3
    assert ev.HasField("cost_micro_usd")


async def stream_messages(env: Env, text: str) -> tuple[int, str]:
    """A raw `/v1/messages` stream (no SDK): the status and the SSE text as sent."""
    body = {"model": "claude-haiku-4-5", "max_tokens": 10, "stream": True, "messages": user(text)}
    resp = await env.http.post(env.base + "/v1/messages", json=body, headers={"x-api-key": KEY})
    return resp.status, (await resp.read()).decode()


async def test_anthropic_error_event_in_stream_is_forwarded(env: Env) -> None:
    status, text = await stream_messages(env, "mock:error_in_stream mock:words=5")
    assert status == 200 and "event: error" in text and "overloaded_error" in text
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type) == (200, "overloaded_error")
    assert ev.prompt_tokens > 0  # message_start's usage arrived before the error


async def test_openai_endpoint_does_not_route_to_anthropic(env: Env) -> None:
    with pytest.raises(openai.NotFoundError):
        await env.openai().chat.completions.create(model="claude-haiku-4-5", messages=user("x"))


# ---------------------------------------------------------------- Azure


async def test_azure_sdk_through_deployment_paths(env: Env) -> None:
    client = openai.AsyncAzureOpenAI(
        azure_endpoint=env.base, api_key=KEY, api_version="2024-06-01", max_retries=0
    )
    env.closers.append(client)
    done = await client.chat.completions.create(
        model="gpt-35-turbo", messages=user("azure mock:words=3")
    )
    assert done.choices[0].message.content == " ".join(reply_words(3))
    [ev] = await env.sink.wait_for(1)
    assert (ev.provider, ev.model, ev.completion_tokens) == (
        f"{WS}/providers/d-azure",
        "gpt-35-turbo",
        3,
    )
    [req] = await env.recorded(env.mock2)
    assert req["path"] == "/openai/deployments/chat35/chat/completions"
    assert req["query"] == "api-version=2024-10-21"  # the credential's, not the client's
    assert req["headers"]["api-key"] == "sk-d-azure" and KEY not in str(req["headers"])


# ---------------------------------------------------------------- routing and fallback


async def test_alias_route_rewrites_the_model(env: Env) -> None:
    await env.openai().chat.completions.create(model="gpt-fast", messages=user("hi mock:words=2"))
    [ev] = await env.sink.wait_for(1)
    assert (ev.requested_model, ev.model) == ("gpt-fast", "gpt-4o-mini")
    [req] = await env.recorded(env.mock1)
    assert req["body"]["model"] == "gpt-4o-mini"
    assert ev.cost_micro_usd > 0  # priced as the served model


async def test_429_falls_back_to_next_provider(env: Env) -> None:
    await env.force(env.mock1, status=429)
    done = await env.openai().chat.completions.create(
        model="gpt-4o", messages=user("fall back mock:words=3")
    )
    assert done.choices[0].message.content == " ".join(reply_words(3))
    [ev] = await env.sink.wait_for(1)
    assert ev.provider == f"{WS}/providers/b-backup" and ev.http_status == 200
    assert [(a.provider.rsplit("/", 1)[1], a.http_status, a.error_type) for a in ev.attempts] == [
        ("a-primary", 429, "rate_limit_exceeded"),
        ("b-backup", 200, ""),
    ]
    # Priced at the serving provider's (openai_compatible) workspace rate.
    expected = cost([(ev.prompt_tokens, COMPAT_GPT4O["input"]), (3, COMPAT_GPT4O["output"])])
    assert ev.cost_micro_usd == expected


async def test_first_byte_timeout_falls_back(env: Env) -> None:
    await env.force(env.mock1, delay_ms=3000)
    stream = await env.openai().chat.completions.create(
        model="gpt-4o", messages=user("slow mock:words=2"), stream=True
    )
    assert len([c async for c in stream]) > 0
    [ev] = await env.sink.wait_for(1)
    assert [a.error_type for a in ev.attempts] == ["upstream_timeout", ""]
    assert ev.provider.endswith("b-backup")


async def test_connect_error_falls_back_along_a_route(env: Env) -> None:
    await env.openai().chat.completions.create(model="gpt-sturdy", messages=user("x"))
    [ev] = await env.sink.wait_for(1)
    assert [(a.provider.rsplit("/", 1)[1], a.error_type) for a in ev.attempts] == [
        ("e-dead", "upstream_unavailable"),
        ("b-backup", ""),
    ]


async def test_last_target_error_passes_through(env: Env) -> None:
    await env.force(env.mock1, status=500)
    await env.force(env.mock2, status=503)
    with pytest.raises(openai.InternalServerError):
        await env.openai().chat.completions.create(model="gpt-4o", messages=user("x"))
    [ev] = await env.sink.wait_for(1)
    assert ev.http_status == 503 and [a.http_status for a in ev.attempts] == [500, 503]
    assert ev.provider.endswith("b-backup") and not ev.HasField("cost_micro_usd")


# ---------------------------------------------------------------- keys and pass-through


@pytest.mark.parametrize("header", ["Authorization", "x-api-key", "api-key"])
async def test_gateway_key_headers(env: Env, header: str) -> None:
    value = f"Bearer {KEY}" if header == "Authorization" else KEY
    async with env.http.get(env.base + "/v1/models", headers={header: value}) as r:
        assert r.status == 200
        ids = {m["id"] for m in (await r.json())["data"]}
    assert {"gpt-fast", "gpt-4o", "gpt-35-turbo"} <= ids


async def test_passthrough_other_paths(env: Env) -> None:
    async with env.http.get(
        env.base + "/v1/files?limit=2", headers={"Authorization": f"Bearer {KEY}"}
    ) as r:
        assert r.status == 404  # the mock has no /v1/files: its answer passes through
        assert (await r.json())["error"]["message"].startswith("no route GET /v1/files")
    async with env.http.post(
        env.base + "/v1/moderations",
        json={"model": "gpt-4o-mini", "input": "hi"},
        headers={"Authorization": f"Bearer {KEY}"},
    ) as r:
        assert r.status == 404
    first, second = await env.sink.wait_for(2)
    assert (first.endpoint, first.http_status, first.provider) == (
        "/v1/*",
        404,
        f"{WS}/providers/a-primary",
    )
    assert second.model == "gpt-4o-mini"
    reqs = await env.recorded(env.mock1)
    assert [(r["method"], r["path"], r["query"]) for r in reqs] == [
        ("GET", "/v1/files", "limit=2"),
        ("POST", "/v1/moderations", ""),
    ]
    assert reqs[0]["headers"]["authorization"] == "Bearer sk-a-primary"


async def test_passthrough_rejects_dot_segments(env: Env) -> None:
    url = URL(env.base + "/v1/x/%2e%2e/admin", encoded=True)
    async with env.http.get(url, headers={"Authorization": f"Bearer {KEY}"}) as r:
        assert r.status == 400
    assert not await env.recorded(env.mock1)
