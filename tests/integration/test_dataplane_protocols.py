"""Through the real app, the mock provider and the official SDKs: the gateway's own errors in
the caller's protocol (Anthropic's on /v1/messages), client request ids kept, W3C trace
context propagated upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import openai
import orjson
import pytest

from oggy.v1 import policy_pb2, snapshot_pb2
from tests.integration.test_dataplane_endpoints import (
    KEY,
    WS,
    Env,
    Kind,
    provider,
    running,
    stream_messages,
    user,
)
from tests.integration.test_dataplane_http import UUID7, closed_port

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACESTATE = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
UNKNOWN_KEY = f"oggy_live_knobody00000000_{'Q' * 43}"


def _edit(snapshot: snapshot_pb2.Snapshot, mock1: str, mock2: str) -> None:
    """An Anthropic provider nobody answers for, and a policy denying Claude Opus."""
    dead = f"http://127.0.0.1:{closed_port()}"
    snapshot.providers.append(provider("f-claude-dead", Kind.KIND_ANTHROPIC, dead, []))
    snapshot.routes.add(
        name=f"{WS}/routes/claude-dead",
        model="claude-dead",
        targets=[{"provider": f"{WS}/providers/f-claude-dead", "model": "claude-dead"}],
    )
    snapshot.policies.append(
        policy_pb2.Policy(name=f"{WS}/policies/no-opus", target=WS, denied_models=["claude-opus*"])
    )


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with running(_edit) as e:
        yield e


def claude(env: Env, api_key: str = KEY) -> anthropic.AsyncAnthropic:
    c = anthropic.AsyncAnthropic(base_url=env.base, api_key=api_key, max_retries=0)
    env.closers.append(c)
    return c


async def ask_claude(
    env: Env, model: str = "claude-haiku-4-5", text: str = "hi", api_key: str = KEY, **kw: object
) -> object:
    return await claude(env, api_key).messages.create(
        model=model, max_tokens=20, messages=user(text), **kw
    )


def anthropic_error(exc: anthropic.APIStatusError, kind: str) -> str:
    """The body's shape is exactly Anthropic's; returns its message."""
    body = exc.body
    assert isinstance(body, dict) and set(body) == {"type", "error", "request_id"}, body
    assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
    assert body["error"]["type"] == exc.type == kind
    return body["error"]["message"]


# ---------------------------------------------------------------- Anthropic's error shape


async def test_auth_failure_is_an_anthropic_authentication_error(env: Env) -> None:
    with pytest.raises(anthropic.AuthenticationError) as caught:
        await ask_claude(env, api_key=UNKNOWN_KEY)
    assert caught.value.status_code == 401
    message = anthropic_error(caught.value, "authentication_error")
    assert message == "Missing or invalid gateway API key."
    assert message in str(caught.value) and UNKNOWN_KEY not in str(caught.value.body)
    [ev] = await env.sink.wait_for(1)
    assert (ev.endpoint, ev.http_status, ev.policy_reason) == (
        "/v1/messages",
        401,
        "invalid_api_key",
    )
    assert caught.value.body["request_id"] == ev.request_id  # type: ignore[index]


async def test_policy_deny_is_a_permission_error(env: Env) -> None:
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        await ask_claude(env, model="claude-opus-4-1")
    assert caught.value.status_code == 403
    assert "claude-opus-4-1" in anthropic_error(caught.value, "permission_error")
    [ev] = await env.sink.wait_for(1)
    assert (ev.policy_reason, ev.requested_model) == ("model_not_allowed", "claude-opus-4-1")
    assert not [r for r in await env.recorded(env.mock1) if r["path"] == "/v1/messages"]


async def test_bad_body_is_an_invalid_request_error(env: Env) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await claude(env).messages.create(model="claude-haiku-4-5", max_tokens=5, messages=[])
    assert caught.value.status_code == 400
    message = anthropic_error(caught.value, "invalid_request_error")
    assert message == "`messages` must be a non-empty array."


async def test_unserved_model_is_a_not_found_error(env: Env) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        await ask_claude(env, model="gpt-4o")  # served, but not on Anthropic's wire
    assert caught.value.status_code == 404
    assert "'gpt-4o'" in anthropic_error(caught.value, "not_found_error")


async def test_upstream_unreachable_is_an_api_error(env: Env) -> None:
    with pytest.raises(anthropic.InternalServerError) as caught:
        await ask_claude(env, model="claude-dead")
    assert caught.value.status_code == 502
    anthropic_error(caught.value, "api_error")
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type) == (502, "upstream_unavailable")


async def test_upstream_silent_before_the_first_byte_is_a_timeout_error(env: Env) -> None:
    await env.force(env.mock1, delay_ms=3000)
    with pytest.raises(anthropic.InternalServerError) as caught:
        await ask_claude(env)
    assert caught.value.status_code == 504
    anthropic_error(caught.value, "timeout_error")


async def test_error_after_the_stream_started_is_one_anthropic_error_event(env: Env) -> None:
    client = claude(env)
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with client.messages.stream(
            model="claude-haiku-4-5",
            max_tokens=50,
            messages=user("go mock:words=8 mock:stall_after=3"),
        ) as stream:
            async for event in stream:
                seen.append(event.type)
    assert seen and seen[0] == "message_start"  # the stream had started
    assert caught.value.type == "timeout_error"
    assert caught.value.body["error"]["message"] == "The upstream stream stalled."  # type: ignore[index]
    [ev] = await env.sink.wait_for(1)
    assert (ev.http_status, ev.error_type, ev.stream) == (504, "upstream_timeout", True)


async def test_raw_stream_error_event_is_anthropic_sse(env: Env) -> None:
    status, text = await stream_messages(env, "mock:stall_after=2 mock:words=5")
    assert status == 200 and text.count("event: error\n") == 1
    last = text.rstrip("\n").rsplit("\n\n", 1)[1]
    name, data = last.split("\n")
    assert name == "event: error"
    assert orjson.loads(data.removeprefix("data: "))["error"]["type"] == "timeout_error"


async def test_openai_routes_keep_the_openai_shape(env: Env) -> None:
    c = openai.AsyncOpenAI(base_url=env.base + "/v1", api_key=UNKNOWN_KEY, max_retries=0)
    env.closers.append(c)
    with pytest.raises(openai.AuthenticationError) as caught:
        await c.chat.completions.create(model="gpt-4o", messages=user("x"))
    assert caught.value.code == "invalid_api_key"
    assert set(caught.value.body) == {"message", "type", "param", "code"}  # type: ignore[arg-type]


# ---------------------------------------------------------------- request ids


async def test_client_request_id_is_kept_returned_and_recorded(env: Env) -> None:
    raw = await env.openai().chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=user("hi mock:words=2"),
        extra_headers={"X-Request-Id": "client-7.a:b_c"},
    )
    assert raw.headers["x-request-id"] == "client-7.a:b_c"
    [ev] = await env.sink.wait_for(1)
    assert ev.request_id == "client-7.a:b_c"
    assert UUID7.fullmatch(ev.event_id)  # the store's id stays the gateway's own


async def test_reused_client_request_id_still_gives_distinct_events(env: Env) -> None:
    for _ in range(2):
        await env.openai().chat.completions.create(
            model="gpt-4o-mini", messages=user("x"), extra_headers={"X-Request-Id": "same"}
        )
    first, second = await env.sink.wait_for(2)
    assert first.request_id == second.request_id == "same"
    assert first.event_id != second.event_id


@pytest.mark.parametrize("bad", ["two words", "x" * 129, "semi;colon", "ünï"])
async def test_malformed_request_id_is_replaced(env: Env, bad: str) -> None:
    async with env.http.get(
        env.base + "/v1/models",
        headers={"Authorization": f"Bearer {KEY}", "X-Request-Id": bad.encode().decode("latin-1")},
    ) as r:
        assert r.status == 200
        rid = r.headers["x-request-id"]
    [ev] = await env.sink.wait_for(1)
    assert rid == ev.request_id == ev.event_id and UUID7.fullmatch(rid)


async def test_request_id_on_refusals_and_streams(env: Env) -> None:
    with pytest.raises(anthropic.AuthenticationError) as caught:
        await ask_claude(env, api_key=UNKNOWN_KEY, extra_headers={"X-Request-Id": "mine-401"})
    assert caught.value.response.headers["x-request-id"] == "mine-401"
    assert caught.value.body["request_id"] == "mine-401"  # type: ignore[index]
    resp = await env.http.post(
        env.base + "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": user("mock:words=3"), "stream": True},
        headers={"Authorization": f"Bearer {KEY}", "X-Request-Id": "mine-sse"},
    )
    await resp.read()
    assert resp.headers["x-request-id"] == "mine-sse"
    first, second = await env.sink.wait_for(2)
    assert (first.request_id, second.request_id) == ("mine-401", "mine-sse")


# ---------------------------------------------------------------- trace context


async def test_trace_context_goes_upstream_on_every_route(env: Env) -> None:
    trace = {"traceparent": TRACEPARENT, "tracestate": TRACESTATE}
    await env.openai().chat.completions.create(
        model="gpt-4o-mini", messages=user("x"), extra_headers=trace
    )
    await ask_claude(env, extra_headers=trace)
    async with env.http.get(
        env.base + "/v1/files", headers={"Authorization": f"Bearer {KEY}", **trace}
    ) as r:
        assert r.status == 404  # the mock's own answer, passed through
    recorded = await env.recorded(env.mock1)
    assert [r["path"] for r in recorded] == ["/v1/chat/completions", "/v1/messages", "/v1/files"]
    for r in recorded:
        assert (r["headers"]["traceparent"], r["headers"]["tracestate"]) == (
            TRACEPARENT,
            TRACESTATE,
        )


async def test_every_fallback_attempt_carries_the_trace(env: Env) -> None:
    await env.force(env.mock1, status=429)
    await env.openai().chat.completions.create(
        model="gpt-4o", messages=user("x"), extra_headers={"traceparent": TRACEPARENT}
    )
    for mock in (env.mock1, env.mock2):
        [r] = await env.recorded(mock)
        assert r["headers"]["traceparent"] == TRACEPARENT and "tracestate" not in r["headers"]


@pytest.mark.parametrize(
    ("traceparent", "tracestate", "forwarded"),
    [
        (TRACEPARENT.upper(), TRACESTATE, {}),
        ("00-" + "0" * 32 + "-00f067aa0ba902b7-01", TRACESTATE, {}),
        (TRACEPARENT + "-x", TRACESTATE, {}),
        ("garbage", TRACESTATE, {}),
        (TRACEPARENT, "Bad=1", {"traceparent": TRACEPARENT}),
    ],
)
async def test_malformed_trace_context_is_dropped(
    env: Env, traceparent: str, tracestate: str, forwarded: dict[str, str]
) -> None:
    await env.openai().chat.completions.create(
        model="gpt-4o-mini",
        messages=user("x"),
        extra_headers={"traceparent": traceparent, "tracestate": tracestate},
    )
    [r] = await env.recorded(env.mock1)
    got = {k: v for k, v in r["headers"].items() if k in ("traceparent", "tracestate")}
    assert got == forwarded
