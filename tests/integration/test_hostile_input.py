"""Hostile input through the real HTTP app: integers past every field, a provider's absurd
usage, oversized credential headers, a client that gives up mid-body. Each request is
answered in the caller's protocol, echoes nothing, and is metered exactly once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aiohttp import web

from controlplane.devtools.mock_provider import STATE, start_mock_provider
from dataplane.config.holder import ConfigHolder
from dataplane.http import create_app
from dataplane.http.wire import GatewayRunner
from oggy.contract.compile import compile_snapshot
from tests.integration.test_dataplane_http import KEY, OPTIONS, Env, ListSink, build_snapshot, user

BIG = 2**63


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    """The app under the data plane's own runner, as dataplane.server starts it."""
    mock_runner, mock_port = await start_mock_provider()
    sink = ListSink()
    holder = ConfigHolder(compile_snapshot(build_snapshot(f"http://127.0.0.1:{mock_port}")))
    runner = GatewayRunner(create_app(holder, sink, OPTIONS))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    http = aiohttp.ClientSession()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield Env(base, mock_runner.app[STATE], sink, holder, http)
    finally:
        await http.close()
        await runner.cleanup()
        await mock_runner.cleanup()


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/chat/completions", {"max_tokens": BIG}, "max_tokens"),
        ("/v1/chat/completions", {"max_completion_tokens": 2**64 - 1}, "max_completion_tokens"),
        ("/v1/chat/completions", {"n": 10**6}, "n"),
        ("/v1/chat/completions", {"seed": BIG}, "seed"),
        ("/v1/chat/completions", {"top_logprobs": BIG}, "top_logprobs"),
        ("/v1/completions", {"prompt": "x", "best_of": BIG}, "best_of"),
        ("/v1/completions", {"prompt": "x", "logprobs": BIG}, "logprobs"),
        ("/v1/embeddings", {"input": "x", "dimensions": BIG}, "dimensions"),
        ("/v1/responses", {"input": "x", "max_output_tokens": BIG}, "max_output_tokens"),
    ],
)
async def test_an_integer_past_its_range_gets_400_naming_it(
    env: Env, path: str, body: dict[str, object], param: str
) -> None:
    payload = {"model": "gpt-4o-mini", "messages": user("hi"), **body}
    resp = await env.http.post(
        env.base + path, data=orjson.dumps(payload), headers={"Authorization": f"Bearer {KEY}"}
    )
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type) == (400, "invalid_request_error")
    assert not env.mock.requests  # nothing went upstream


async def test_anthropic_max_tokens_past_its_range_gets_anthropic_400(env: Env) -> None:
    body = {"model": "claude-x", "max_tokens": 2**64 - 1, "messages": user("hi")}
    resp = await env.http.post(
        env.base + "/v1/messages", data=orjson.dumps(body), headers={"x-api-key": KEY}
    )
    assert resp.status == 400
    got = await resp.json()
    assert got["type"] == "error" and got["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in got["error"]["message"]
    [ev] = await env.sink.wait_for(1)
    assert ev.http_status == 400


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("knob", ["usage_strings", "usage_huge", "usage_negative"])
async def test_absurd_provider_usage_still_yields_one_estimated_flagged_event(
    env: Env, knob: str, stream: bool
) -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": user(f"hello there mock:words=5 mock:{knob}"),
        "max_tokens": 3,
        "stream": stream,
    }
    resp = await env.post(body)
    assert resp.status == 200
    await resp.read()
    [ev] = await env.sink.wait_for(1)
    await asyncio.sleep(0.05)
    assert len(env.sink.events) == 1
    assert ev.token_source == "estimated" and "usage_malformed" in ev.anomalies
    # Never the silent 0 nor the absurd value: the tokenizer's count, capped at max_tokens.
    assert 0 < ev.prompt_tokens < 100 and 0 < ev.completion_tokens <= 3
    assert ev.total_tokens == ev.prompt_tokens + ev.completion_tokens
    metrics = await (await env.http.get(env.base + "/metrics")).text()
    assert 'oggy_usage_anomalies_total{kind="usage_malformed"} 1.0' in metrics


async def test_oversized_key_header_is_a_401_that_echoes_nothing(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "oggy_live_kactive000000000_" + "Z" * 10_000
    resp = await env.http.post(
        env.base + "/v1/chat/completions",
        data=orjson.dumps({"model": "gpt-4o-mini", "messages": user("hi")}),
        headers={"Authorization": f"Bearer {secret}"},
    )
    text = await resp.text()
    assert resp.status == 401 and resp.content_type == "application/json"
    assert (await resp.json())["error"]["code"] == "invalid_api_key"
    assert "ZZZZZZZZ" not in text and "ZZZZZZZZ" not in caplog.text
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type) == (401, "invalid_api_key")


async def test_oversized_actor_token_is_a_401_that_echoes_nothing(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "eyJhbGciOiJFZERTQSJ9." + "Q" * 8 * 1024 + ".sig"
    resp = await env.http.post(
        env.base + "/v1/chat/completions",
        data=orjson.dumps({"model": "gpt-4o-mini", "messages": user("hi")}),
        headers={"Authorization": f"Bearer {KEY}", "X-Oggy-Actor": token},
    )
    text = await resp.text()
    assert resp.status == 401 and resp.content_type == "application/json"
    assert (await resp.json())["error"]["code"] == "actor_token_invalid"
    assert "QQQQQQQQ" not in text and "QQQQQQQQ" not in caplog.text
    [ev] = await env.sink.wait_for(1)
    assert ev.http_status == 401 and ev.key.endswith("/keys/kactive000000000")


@pytest.mark.parametrize("header", ["Authorization", "X-Oggy-Actor", "X-Other"])
async def test_a_header_past_every_limit_gets_json_and_no_echo(
    env: Env, header: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    value = "Bearer oggy_live_kactive000000000_" + "S" * 100_000
    resp = await env.http.post(
        env.base + "/v1/chat/completions", data=b"{}", headers={header: value}
    )
    text = await resp.text()
    assert resp.status == 431 and resp.content_type == "application/json"
    assert orjson.loads(text)["error"]["code"] == "request_header_fields_too_large"
    assert "SSSSSSSS" not in text and "kactive" not in text
    assert "SSSSSSSS" not in caplog.text and "kactive" not in caplog.text
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type) == (431, "request_header_fields_too_large")


async def test_a_client_that_gives_up_mid_body_is_a_disconnect_not_a_500(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    host, port = env.base.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {KEY}\r\n".encode()
        + b"Content-Type: application/json\r\nContent-Length: 50000\r\n\r\n"
        + b'{"model": '
    )
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.close()
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type) == (499, "client_disconnected")
    assert ev.key.endswith("/keys/kactive000000000")
    await asyncio.sleep(0.1)
    assert "Traceback" not in caplog.text and "internal_error" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
