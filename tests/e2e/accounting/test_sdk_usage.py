"""Every model endpoint through the official `openai` and `anthropic` SDKs: the reply is the
mock's, and the one usage event of each request carries the mock's own token counts and a
cost priced per token class at the workspace's explicit rates (DESIGN invariants 1 and 7).
A client that hangs up mid-stream still gets a tiktoken estimate of what was generated."""

from __future__ import annotations

import http.client
import json
import secrets
import socket
import struct
import time
import urllib.parse
from typing import Any

import anthropic
import openai
import orjson
import pytest

from controlplane.devtools import mock_script
from dataplane.tokens import load_encoding
from oggy.v1 import usage_pb2
from tests.e2e.accounting.support import (
    AZURE_API_VERSION,
    AZURE_DEPLOYMENT,
    AZURE_MODEL,
    CHAT_MODEL,
    CLAUDE_MODEL,
    EMBED_MODEL,
    AcctTenant,
    expected_cost,
)
from tests.e2e.conftest import Stack
from tests.support.oggy_clients import http_request, openai_client, wait_for_requests

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


@pytest.fixture(scope="module")
def oai(stack: Stack, acct: AcctTenant) -> openai.OpenAI:
    with openai_client(stack.dp.url, acct.key_text) as c:
        yield c


def event_of(stack: Stack, acct: AcctTenant, headers: Any) -> usage_pb2.UsageEvent:
    rid = headers.get("x-request-id", "")
    return wait_for_requests(stack.admin, acct.workspace, [rid], endpoint=None)[rid]


def optional(ev: usage_pb2.UsageEvent, name: str) -> int | None:
    return getattr(ev, name) if ev.HasField(name) else None


def assert_metered(
    ev: usage_pb2.UsageEvent,
    acct: AcctTenant,
    *,
    provider: str,
    kind: str,
    model: str,
    endpoint: str,
    stream: bool,
    prompt: int,
    completion: int,
    cached: int | None = None,
    reasoning: int | None = None,
    cache_write: int | None = None,
) -> None:
    """Counts exactly the mock's; cost from RATES, computed here per token class."""
    assert (ev.endpoint, ev.stream, ev.http_status, ev.error_type) == (endpoint, stream, 200, "")
    assert (ev.workspace, ev.key) == (acct.workspace, acct.key_name)
    assert (ev.provider, ev.model) == (acct.providers[provider], model)
    assert ev.token_source == "provider"
    assert (ev.prompt_tokens, ev.completion_tokens, ev.total_tokens) == (
        prompt,
        completion,
        prompt + completion,
    )
    assert optional(ev, "cached_tokens") == cached
    assert optional(ev, "reasoning_tokens") == reasoning
    assert optional(ev, "cache_creation_tokens") == cache_write
    assert ev.HasField("cost_micro_usd"), "a priced model came out unpriced"
    assert ev.cost_micro_usd == expected_cost(
        kind,
        model,
        prompt=prompt,
        completion=completion,
        cached=cached or 0,
        reasoning=reasoning or 0,
        cache_write=cache_write or 0,
    )
    assert ev.price_catalog_version


def recorded(stack: Stack, marker: str) -> dict[str, Any]:
    """The one request the mock received carrying `marker`."""
    seen = [
        r
        for r in http_request("GET", f"{stack.mock.url}/_mock/requests").json()
        if marker in json.dumps(r)
    ]
    assert len(seen) == 1, f"mock saw {len(seen)} requests carrying {marker}"
    return seen[0]


def mark() -> str:
    return f"m{secrets.token_hex(5)}"


# ------------------------------------------------------------------ OpenAI SDK


def test_chat_non_streaming_cached_and_reasoning_priced_apart(
    stack: Stack, acct: AcctTenant, oai: openai.OpenAI
) -> None:
    messages = [
        {"role": "system", "content": "you are a careful accountant"},
        {"role": "user", "content": "sum it up mock:words=17 mock:cached=9 mock:reasoning=6"},
    ]
    raw = oai.chat.completions.with_raw_response.create(model=CHAT_MODEL, messages=messages)
    reply = raw.parse()
    prompt = mock_script.prompt_tokens({"messages": messages})
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (prompt, 17)
    assert reply.choices[0].message.content == " ".join(mock_script.reply_words(17))
    assert_metered(
        event_of(stack, acct, raw.headers),
        acct,
        provider="mock",
        kind="openai_compatible",
        model=CHAT_MODEL,
        endpoint="/v1/chat/completions",
        stream=False,
        prompt=prompt,
        completion=17,
        cached=9,
        reasoning=6,
    )


@pytest.mark.parametrize("client_wants_usage", [False, True])
def test_chat_streaming(
    stack: Stack, acct: AcctTenant, oai: openai.OpenAI, client_wants_usage: bool
) -> None:
    messages = [{"role": "user", "content": "stream please mock:words=23 mock:cached=4"}]
    extra = {"stream_options": {"include_usage": True}} if client_wants_usage else {}
    raw = oai.chat.completions.with_raw_response.create(
        model=CHAT_MODEL, messages=messages, stream=True, **extra
    )
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == " ".join(mock_script.reply_words(23))
    assert any(c.usage is not None for c in chunks) is client_wants_usage
    assert_metered(
        event_of(stack, acct, raw.headers),
        acct,
        provider="mock",
        kind="openai_compatible",
        model=CHAT_MODEL,
        endpoint="/v1/chat/completions",
        stream=True,
        prompt=mock_script.prompt_tokens({"messages": messages}),
        completion=23,
        cached=4,
    )


@pytest.mark.parametrize("stream", [False, True])
def test_legacy_completions(
    stack: Stack, acct: AcctTenant, oai: openai.OpenAI, stream: bool
) -> None:
    prompt_text = "once upon a time mock:words=11 mock:reasoning=3"
    raw = oai.completions.with_raw_response.create(
        model=CHAT_MODEL, prompt=prompt_text, stream=stream, max_tokens=50
    )
    parsed = raw.parse()
    if stream:
        text = "".join(c.choices[0].text for c in parsed if c.choices)
    else:
        text = parsed.choices[0].text
        assert parsed.usage is not None and parsed.usage.completion_tokens == 11
    assert text == " ".join(mock_script.reply_words(11))
    assert_metered(
        event_of(stack, acct, raw.headers),
        acct,
        provider="mock",
        kind="openai_compatible",
        model=CHAT_MODEL,
        endpoint="/v1/completions",
        stream=stream,
        prompt=mock_script.prompt_tokens({"prompt": prompt_text}),
        completion=11,
        reasoning=3,
    )


def test_embeddings(stack: Stack, acct: AcctTenant, oai: openai.OpenAI) -> None:
    inputs = ["the first text to embed", "and a second one"]
    raw = oai.embeddings.with_raw_response.create(
        model=EMBED_MODEL, input=inputs, encoding_format="float"
    )
    parsed = raw.parse()
    assert len(parsed.data) == 2 and len(parsed.data[0].embedding) == 8
    words = sum(len(t.split()) for t in inputs)
    assert parsed.usage.prompt_tokens == words
    assert_metered(
        event_of(stack, acct, raw.headers),
        acct,
        provider="mock",
        kind="openai_compatible",
        model=EMBED_MODEL,
        endpoint="/v1/embeddings",
        stream=False,
        prompt=words,
        completion=0,
    )


@pytest.mark.parametrize("stream", [False, True])
def test_responses_api(stack: Stack, acct: AcctTenant, oai: openai.OpenAI, stream: bool) -> None:
    text_in = "reason about this mock:words=14 mock:cached=5 mock:reasoning=8"
    raw = oai.responses.with_raw_response.create(model=CHAT_MODEL, input=text_in, stream=stream)
    parsed = raw.parse()
    if stream:
        events = list(parsed)
        deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
        assert "".join(deltas) == " ".join(mock_script.reply_words(14))
        assert events[-1].type == "response.completed"
        usage = events[-1].response.usage
    else:
        assert parsed.output_text == " ".join(mock_script.reply_words(14))
        usage = parsed.usage
    prompt = mock_script.prompt_tokens({"input": text_in})
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (prompt, 14)
    assert_metered(
        event_of(stack, acct, raw.headers),
        acct,
        provider="mock",
        kind="openai_compatible",
        model=CHAT_MODEL,
        endpoint="/v1/responses",
        stream=stream,
        prompt=prompt,
        completion=14,
        cached=5,
        reasoning=8,
    )


def test_models_list_is_metered_without_tokens(
    stack: Stack, acct: AcctTenant, oai: openai.OpenAI
) -> None:
    raw = oai.models.with_raw_response.list()
    ids = {m.id for m in raw.parse()}
    assert {CHAT_MODEL, EMBED_MODEL, AZURE_MODEL} <= ids, ids
    ev = event_of(stack, acct, raw.headers)
    assert (ev.endpoint, ev.http_status, ev.key) == ("/v1/models", 200, acct.key_name)
    assert ev.total_tokens == 0
    assert not ev.HasField("cost_micro_usd")


@pytest.mark.parametrize("stream", [False, True])
def test_azure_openai_client(stack: Stack, acct: AcctTenant, stream: bool) -> None:
    marker = mark()
    messages = [{"role": "user", "content": f"{marker} azure mock:words=7 mock:cached=2"}]
    with openai.AzureOpenAI(
        azure_endpoint=stack.dp.url,
        api_key=acct.key_text,
        api_version="2024-06-01",
        max_retries=0,
        timeout=30,
    ) as client:
        raw = client.chat.completions.with_raw_response.create(
            model=AZURE_MODEL, messages=messages, stream=stream
        )
        parsed = raw.parse()
        if stream:
            text = "".join(c.choices[0].delta.content or "" for c in parsed if c.choices)
        else:
            text = parsed.choices[0].message.content
    assert text == " ".join(mock_script.reply_words(7))

    seen = recorded(stack, marker)
    assert seen["path"] == f"/openai/deployments/{AZURE_DEPLOYMENT}/chat/completions"
    assert urllib.parse.parse_qs(seen["query"]) == {"api-version": [AZURE_API_VERSION]}
    azure_key = acct.provider_api_keys[acct.providers["azure"]]
    assert seen["headers"].get("api-key") == azure_key
    assert acct.key_text.rsplit("_", 1)[1] not in json.dumps(seen)
    assert_metered(
        event_of(stack, acct, raw.headers),
        acct,
        provider="azure",
        kind="azure_openai",
        model=AZURE_MODEL,
        endpoint="/v1/chat/completions",
        stream=stream,
        prompt=mock_script.prompt_tokens({"messages": messages}),
        completion=7,
        cached=2,
    )


# ------------------------------------------------------------------ Anthropic SDK


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_messages(stack: Stack, acct: AcctTenant, stream: bool) -> None:
    marker = mark()
    system = "answer like a ledger would"
    messages = [
        {
            "role": "user",
            "content": f"{marker} what changed mock:words=9 mock:cached=4 mock:cache_write=6",
        }
    ]
    with anthropic.Anthropic(
        base_url=stack.dp.url, api_key=acct.key_text, max_retries=0, timeout=30
    ) as client:
        raw = client.messages.with_raw_response.create(
            model=CLAUDE_MODEL, max_tokens=200, system=system, messages=messages, stream=stream
        )
        parsed = raw.parse()
        if stream:
            events = list(parsed)
            text = "".join(
                e.delta.text
                for e in events
                if e.type == "content_block_delta" and e.delta.type == "text_delta"
            )
            output = [e.usage.output_tokens for e in events if e.type == "message_delta"]
            assert output == [9]
        else:
            text = "".join(b.text for b in parsed.content if b.type == "text")
            assert parsed.usage.output_tokens == 9
            assert parsed.usage.cache_read_input_tokens == 4
            assert parsed.usage.cache_creation_input_tokens == 6
    assert text == " ".join(mock_script.reply_words(9))

    seen = recorded(stack, marker)
    assert seen["path"] == "/v1/messages"
    claude_key = acct.provider_api_keys[acct.providers["claude"]]
    assert seen["headers"].get("x-api-key") == claude_key
    # Normalised the OpenAI way: the prompt is plain input + cache reads + cache writes.
    prompt = mock_script.prompt_tokens({"messages": messages, "system": system})
    assert_metered(
        event_of(stack, acct, raw.headers),
        acct,
        provider="claude",
        kind="anthropic",
        model=CLAUDE_MODEL,
        endpoint="/v1/messages",
        stream=stream,
        prompt=prompt,
        completion=9,
        cached=4,
        cache_write=6,
    )


# ------------------------------------------------------------------ hang-up estimate


def read_some_then_hang_up(url: str, key_text: str, body: dict[str, Any]) -> str:
    """POST a streaming chat, read a little of the SSE body, reset the connection; returns
    the x-request-id."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(
            "POST",
            "/v1/chat/completions",
            body=json.dumps(body),
            headers={"authorization": f"Bearer {key_text}", "content-type": "application/json"},
        )
        response = conn.getresponse()
        assert response.status == 200, response.read()
        assert response.read1(512).startswith(b"data:")
        request_id = response.getheader("x-request-id", "")
        assert conn.sock is not None
        # Linger 0: close() sends a reset at once, like a client that crashed.
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        response.close()
        return request_id
    finally:
        conn.close()


def generated_text(forwarded: dict[str, Any], received_bytes: int) -> str:
    """The text of the mock's SSE events that fit whole in the first `received_bytes` of
    its stream: the mock's chunks are deterministic except `created` (always 10 digits)."""
    script = mock_script.parse_script({}, forwarded)
    chunks = mock_script.stream_chunks(forwarded, script, "chatcmpl-mock00000000", int(time.time()))
    text, offset = [], 0
    for chunk in chunks:
        offset += len(b"data: " + orjson.dumps(chunk) + b"\n\n")
        if offset > received_bytes:
            break
        text.extend(c["delta"].get("content", "") for c in chunk["choices"])
    return "".join(text)


def test_client_hang_up_estimate_within_two_percent_of_tiktoken(
    stack: Stack, acct: AcctTenant
) -> None:
    marker = mark()
    body = {
        "model": CHAT_MODEL,
        "messages": [
            {"role": "system", "content": "tell long stories"},
            {"role": "user", "content": f"{marker} a very long one mock:words=5000"},
        ],
        "stream": True,
    }
    rid = read_some_then_hang_up(stack.dp.url, acct.key_text, body)
    ev = wait_for_requests(stack.admin, acct.workspace, [rid])[rid]
    assert (ev.http_status, ev.error_type) == (499, "client_disconnected")
    assert ev.token_source == "estimated"

    enc = load_encoding("o200k_base")
    # OpenAI's recipe: content tokens + 4 per message + 3.
    prompt = 3 + sum(4 + len(enc.encode_ordinary(m["content"])) for m in body["messages"])
    assert ev.prompt_tokens == prompt
    received = ev.prompt.response_bytes
    assert received > 0, "the event does not say how much of the stream the gateway received"
    text = generated_text(recorded(stack, marker)["body"], received)
    expected = len(enc.encode_ordinary(text))
    assert expected > 0
    assert abs(ev.completion_tokens - expected) <= 0.02 * expected, (
        f"estimated {ev.completion_tokens} completion tokens; tiktoken counts {expected} in "
        f"the {received} bytes the gateway received"
    )
    assert ev.total_tokens == ev.prompt_tokens + ev.completion_tokens
    # An estimate is still priced.
    assert ev.cost_micro_usd == expected_cost(
        "openai_compatible", CHAT_MODEL, prompt=ev.prompt_tokens, completion=ev.completion_tokens
    )
