"""Chat completions through the gateway with the official OpenAI client: the reply is the
provider's, and every request becomes exactly one usage event carrying the provider's own
token counts and full attribution (DESIGN invariants 1 and 7)."""

from __future__ import annotations

import json
import secrets

import openai
import pytest

from tests.e2e.conftest import Stack
from tests.support.oggy_clients import (
    MODEL,
    Tenant,
    expected_prompt_tokens,
    http_request,
    wait_for_requests,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def direct_reply(stack: Stack, messages: list[dict[str, str]]) -> dict:
    """What the mock answers when called directly, bypassing the gateway."""
    response = http_request(
        "POST", f"{stack.mock.url}/v1/chat/completions", {"model": MODEL, "messages": messages}
    )
    assert response.status == 200, response.body
    return response.json()


def assert_attributed(event, stack: Stack, tenant: Tenant, *, stream: bool) -> None:
    assert event.workspace == tenant.workspace
    assert event.key == tenant.key_name
    assert event.provider == tenant.provider
    assert event.model == MODEL
    assert event.endpoint == "/v1/chat/completions"
    assert event.stream is stream
    assert event.http_status == 200
    assert event.error_type == ""
    assert event.token_source == "provider"
    assert event.dataplane_id == stack.dp.node_id
    assert event.client_ip == "127.0.0.1"
    assert event.start_time.seconds > 0
    assert event.latency_ms > 0
    assert len(event.event_id) == 36, event.event_id  # UUID text
    assert event.event_id[14] == "7", f"not a UUIDv7: {event.event_id}"


def test_non_streaming_reply_and_usage_event(
    stack: Stack, tenant: Tenant, client: openai.OpenAI
) -> None:
    messages = [
        {"role": "system", "content": "you are terse"},
        {"role": "user", "content": "hello there gateway mock:cached=7 mock:reasoning=5"},
    ]
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=messages)
    completion = raw.parse()

    expected = direct_reply(stack, messages)
    assert completion.choices[0].message.content == expected["choices"][0]["message"]["content"]
    prompt = expected_prompt_tokens(messages)
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (prompt, 12)

    request_id = raw.headers.get("x-request-id", "")
    event = wait_for_requests(stack.admin, tenant.workspace, [request_id])[request_id]
    assert_attributed(event, stack, tenant, stream=False)
    assert (event.prompt_tokens, event.completion_tokens, event.total_tokens) == (
        prompt,
        12,
        prompt + 12,
    )
    assert event.HasField("cached_tokens") and event.cached_tokens == 7
    assert event.HasField("reasoning_tokens") and event.reasoning_tokens == 5


def test_provider_gets_its_own_key_never_the_gateway_key(
    stack: Stack, tenant: Tenant, client: openai.OpenAI
) -> None:
    marker = f"marker-{secrets.token_hex(6)}"
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": marker}])
    recorded = http_request("GET", f"{stack.mock.url}/_mock/requests")
    assert recorded.status == 200
    forwarded = [r for r in recorded.json() if marker in json.dumps(r)]
    assert len(forwarded) == 1, f"mock saw {len(forwarded)} requests carrying {marker}"
    seen = json.dumps(forwarded[0])
    assert f"Bearer {tenant.provider_api_key}" in seen, "provider api key not forwarded"
    assert tenant.key_secret not in seen, "gateway key forwarded to the provider"


def test_destination_fields_in_the_body_are_ignored(
    stack: Stack, tenant: Tenant, client: openai.OpenAI
) -> None:
    marker = f"marker-{secrets.token_hex(6)}"
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": marker}],
        extra_body={
            "api_base": "http://127.0.0.1:9/v1",
            "base_url": "http://127.0.0.1:9/v1",
            "api_key": "sk-attacker",
        },
    )
    assert completion.choices[0].message.content
    recorded = http_request("GET", f"{stack.mock.url}/_mock/requests").json()
    forwarded = [r for r in recorded if marker in json.dumps(r)]
    assert len(forwarded) == 1
    assert forwarded[0]["headers"]["authorization"] == f"Bearer {tenant.provider_api_key}"


def test_streaming_without_include_usage_hides_usage_but_meters_it(
    stack: Stack, tenant: Tenant, client: openai.OpenAI
) -> None:
    messages = [{"role": "user", "content": "stream to me please mock:words=30"}]
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=messages, stream=True
    )
    chunks = list(raw.parse())

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == direct_reply(stack, messages)["choices"][0]["message"]["content"]
    assert all(c.usage is None for c in chunks), "usage chunk leaked to a client that did not ask"
    assert all(c.choices for c in chunks), "a chunk with empty choices reached the client"

    request_id = raw.headers.get("x-request-id", "")
    event = wait_for_requests(stack.admin, tenant.workspace, [request_id])[request_id]
    assert_attributed(event, stack, tenant, stream=True)
    prompt = expected_prompt_tokens(messages)
    assert (event.prompt_tokens, event.completion_tokens, event.total_tokens) == (
        prompt,
        30,
        prompt + 30,
    )
    assert event.time_to_first_token_ms > 0
    assert event.time_to_first_token_ms <= event.latency_ms


def test_streaming_with_include_usage_hands_usage_to_the_client(
    stack: Stack, tenant: Tenant, client: openai.OpenAI
) -> None:
    messages = [{"role": "user", "content": "count with me mock:words=5 mock:cached=2"}]
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(raw.parse())

    prompt = expected_prompt_tokens(messages)
    with_usage = [c for c in chunks if c.usage is not None]
    assert len(with_usage) == 1, f"{len(with_usage)} usage chunks"
    assert with_usage[0] is chunks[-1] and chunks[-1].choices == []
    usage = with_usage[0].usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        prompt,
        5,
        prompt + 5,
    )

    request_id = raw.headers.get("x-request-id", "")
    event = wait_for_requests(stack.admin, tenant.workspace, [request_id])[request_id]
    assert_attributed(event, stack, tenant, stream=True)
    assert (event.prompt_tokens, event.completion_tokens, event.total_tokens) == (
        prompt,
        5,
        prompt + 5,
    )
    assert event.HasField("cached_tokens") and event.cached_tokens == 2
    assert not event.HasField("reasoning_tokens")


def test_each_request_is_one_event(stack: Stack, tenant: Tenant, client: openai.OpenAI) -> None:
    request_ids = []
    for i in range(4):
        raw = client.chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": f"n {i}"}], stream=i % 2 == 1
        )
        if i % 2:
            list(raw.parse())
        request_ids.append(raw.headers.get("x-request-id", ""))
    assert len(set(request_ids)) == 4, request_ids
    events = wait_for_requests(stack.admin, tenant.workspace, request_ids)
    assert len({e.event_id for e in events.values()}) == 4
