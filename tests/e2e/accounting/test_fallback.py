"""Fallback routing is metered honestly: a Route's first target answers 429 (a second mock
instance scripted with POST /_mock/next), the second serves; the one usage event lists both
attempts, names the serving provider and model, and is priced at the serving provider's
rate (DESIGN request path and invariant 7)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest

from oggy.v1 import admin_service_pb2 as admin_pb
from oggy.v1 import route_pb2
from tests.e2e.accounting.support import (
    AcctTenant,
    Kind,
    Rate,
    create_provider,
    create_workspace,
    expected_cost,
    register,
    set_prices,
)
from tests.e2e.conftest import Stack
from tests.support.oggy_clients import (
    create_key,
    http_request,
    openai_client,
    wait_for_requests,
)
from tests.support.processes import MockProvider, start_mock_provider

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

ALIAS = "acct-fast"
FIRST_MODEL = "gpt-4o-mini"  # at the first target (kind openai)
SECOND_MODEL = "gpt-4o"  # at the second target (kind openai_compatible)
FALLBACK_RATES = {
    ("openai", FIRST_MODEL): Rate(1_000_003, 2_000_003),
    ("openai_compatible", SECOND_MODEL): Rate(7_000_001, 21_000_001, 3_000_001),
}


@pytest.fixture(scope="module")
def second_mock(stack: Stack) -> Iterator[MockProvider]:
    mock = start_mock_provider(stack.procs)
    yield mock
    mock.child.stop()


@pytest.fixture(scope="module")
def routed(stack: Stack, second_mock: MockProvider, secret_registry: dict[str, str]) -> AcctTenant:
    workspace = create_workspace(stack.admin, "fallback")
    first, first_key = create_provider(
        stack.admin, workspace, "first", Kind.KIND_OPENAI, f"{second_mock.url}/v1", [FIRST_MODEL]
    )
    second, second_key = create_provider(
        stack.admin,
        workspace,
        "second",
        Kind.KIND_OPENAI_COMPATIBLE,
        f"{stack.mock.url}/v1",
        [SECOND_MODEL],
    )
    stack.admin.CreateRoute(
        admin_pb.CreateRouteRequest(
            parent=workspace,
            route_id="fast",
            route=route_pb2.Route(
                model=ALIAS,
                targets=[
                    route_pb2.RouteTarget(provider=first, model=FIRST_MODEL),
                    route_pb2.RouteTarget(provider=second, model=SECOND_MODEL),
                ],
            ),
        )
    )
    set_prices(stack.admin, workspace, FALLBACK_RATES)
    key_name, key_text = create_key(stack.admin, workspace, stack.dp.url)
    tenant = AcctTenant(
        workspace,
        key_name,
        key_text,
        {first: first_key, second: second_key},
        {"first": first, "second": second},
    )
    return register(secret_registry, tenant)


def mock_saw(mock_url: str, marker: str) -> list[dict]:
    return [
        r
        for r in http_request("GET", f"{mock_url}/_mock/requests").json()
        if marker in json.dumps(r)
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_first_target_429_second_serves_and_prices(
    stack: Stack, second_mock: MockProvider, routed: AcctTenant, stream: bool
) -> None:
    forced = http_request("POST", f"{second_mock.url}/_mock/next", {"status": 429, "times": 1})
    assert forced.status == 200
    marker = f"fb{secrets.token_hex(4)}"
    messages = [{"role": "user", "content": f"{marker} route me mock:words=8 mock:cached=3"}]
    with openai_client(stack.dp.url, routed.key_text) as client:
        raw = client.chat.completions.with_raw_response.create(
            model=ALIAS, messages=messages, stream=stream
        )
        parsed = raw.parse()
        if stream:
            assert "".join(c.choices[0].delta.content or "" for c in parsed if c.choices)
        else:
            assert parsed.choices[0].message.content
    rid = raw.headers.get("x-request-id", "")
    ev = wait_for_requests(stack.admin, routed.workspace, [rid])[rid]

    first_seen, second_seen = mock_saw(second_mock.url, marker), mock_saw(stack.mock.url, marker)
    assert [r["body"]["model"] for r in first_seen] == [FIRST_MODEL]
    assert [r["body"]["model"] for r in second_seen] == [SECOND_MODEL]

    attempts = [(a.provider, a.model, a.http_status, a.error_type) for a in ev.attempts]
    assert attempts == [
        (routed.providers["first"], FIRST_MODEL, 429, "rate_limit_exceeded"),
        (routed.providers["second"], SECOND_MODEL, 200, ""),
    ]
    assert all(a.latency_ms > 0 for a in ev.attempts)
    assert (ev.provider, ev.model, ev.requested_model) == (
        routed.providers["second"],
        SECOND_MODEL,
        ALIAS,
    )
    assert (ev.http_status, ev.error_type, ev.token_source) == (200, "", "provider")
    prompt = ev.prompt_tokens
    assert prompt > 0 and (ev.completion_tokens, ev.cached_tokens) == (8, 3)
    assert ev.cost_micro_usd == expected_cost(
        "openai_compatible",
        SECOND_MODEL,
        prompt=prompt,
        completion=8,
        cached=3,
        rates=FALLBACK_RATES,
    )


def test_first_target_serves_at_its_own_rate(stack: Stack, routed: AcctTenant) -> None:
    with openai_client(stack.dp.url, routed.key_text) as client:
        raw = client.chat.completions.with_raw_response.create(
            model=ALIAS, messages=[{"role": "user", "content": "no trouble mock:words=6"}]
        )
    rid = raw.headers.get("x-request-id", "")
    ev = wait_for_requests(stack.admin, routed.workspace, [rid])[rid]
    assert [(a.provider, a.http_status) for a in ev.attempts] == [(routed.providers["first"], 200)]
    assert (ev.provider, ev.model) == (routed.providers["first"], FIRST_MODEL)
    assert ev.cost_micro_usd == expected_cost(
        "openai", FIRST_MODEL, prompt=ev.prompt_tokens, completion=6, rates=FALLBACK_RATES
    )
