"""Limits and budgets at admission, through the real app, the mock provider and the official
SDKs: what a caller is told (429 / 402 in OpenAI's shape, Anthropic's on /v1/messages,
`x-ratelimit-*` on every response), what is recorded, and how reservations settle.
Leases are put in the table directly (the lease stream has its own test)."""

from __future__ import annotations

import time

import anthropic
import openai
import orjson
import pytest

from dataplane.core.quota_costs import DEFAULT_OUTPUT_BOUND
from oggy.v1 import snapshot_pb2
from tests.integration.quota_support import Budget, Limit, QuotaEnv, budget, limit, quota_app

HI = [{"role": "user", "content": "hi"}]


def with_rules(*rules: object):
    def edit(snapshot: snapshot_pb2.Snapshot) -> None:
        for r in rules:
            (snapshot.budgets if isinstance(r, Budget) else snapshot.limits).append(r)

    return edit


async def chat(env: QuotaEnv, model: str = "gpt-4o-mini", **kw: object):
    return await env.openai().chat.completions.with_raw_response.create(
        model=model, messages=HI, **kw
    )


# ------------------------------------------------------------------ requests per window


async def test_request_limit_headers_then_429() -> None:
    async with quota_app(with_rules(limit("rpm", Limit.METRIC_REQUESTS, 2))) as env:
        first = await chat(env, max_tokens=5)
        assert first.headers["x-ratelimit-limit-requests"] == "2"
        assert first.headers["x-ratelimit-remaining-requests"] == "1"
        assert first.headers["x-ratelimit-reset-requests"].endswith("s")
        second = await chat(env, max_tokens=5)
        assert second.headers["x-ratelimit-remaining-requests"] == "0"
        with pytest.raises(openai.RateLimitError) as caught:
            await chat(env, max_tokens=5)
        err = caught.value
        assert err.status_code == 429
        assert int(err.response.headers["Retry-After"]) >= 1
        assert err.response.headers["x-ratelimit-remaining-requests"] == "0"
        body = err.body
        assert isinstance(body, dict)
        assert (body["code"], body["type"]) == ("rate_limit_exceeded", "requests")
        assert "workspaces/acme/limits/rpm" in body["message"]
        assert "workspace" in body["message"] and "resets at" in body["message"]
        events = await env.sink.wait_for(3)
        assert [e.policy_reason for e in events] == ["", "", "rate_limited"]
        assert events[2].http_status == 429
        assert len([r for r in await env.recorded() if "chat" in r["path"]]) == 2


async def test_request_limit_on_messages_is_an_anthropic_rate_limit_error() -> None:
    async with quota_app(with_rules(limit("rpm", Limit.METRIC_REQUESTS, 1))) as env:
        claude = env.anthropic()
        await claude.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=HI)
        with pytest.raises(anthropic.RateLimitError) as caught:
            await claude.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=HI)
        body = caught.value.body
        assert isinstance(body, dict) and body["type"] == "error"
        assert body["error"]["type"] == "rate_limit_error"
        assert "limits/rpm" in body["error"]["message"]
        assert caught.value.response.headers["Retry-After"]


async def test_shadow_limit_serves_and_records() -> None:
    rule = limit("shadow-rpm", Limit.METRIC_REQUESTS, 1, shadow=True)
    async with quota_app(with_rules(rule)) as env:
        await chat(env, max_tokens=5)
        second = await chat(env, max_tokens=5)
        assert second.http_response.status_code == 200
        assert "x-ratelimit-limit-requests" not in second.headers  # shadow rules stay quiet
        events = await env.sink.wait_for(2)
        assert [e.shadow_reason for e in events] == ["", "rate_limited"]
        assert [e.policy_reason for e in events] == ["", ""]


# ------------------------------------------------------------------ tokens per window


async def test_token_limit_reserves_bound_settles_to_usage_and_refuses_big_asks() -> None:
    async with quota_app(with_rules(limit("tpm", Limit.METRIC_TOKENS, 1000))) as env:
        ok = await chat(env, max_tokens=50)
        assert ok.headers["x-ratelimit-limit-tokens"] == "1000"
        assert int(ok.headers["x-ratelimit-remaining-tokens"]) <= 1000 - 50
        [event] = await env.sink.wait_for(1)
        [counter] = env.table.current(time.time())
        assert counter.used == event.total_tokens > 0  # settled to the provider's count
        with pytest.raises(openai.RateLimitError) as caught:
            await chat(env, max_tokens=2000)
        assert caught.value.body["type"] == "tokens"  # type: ignore[index]


async def test_request_without_bound_is_capped_at_the_default_bound() -> None:
    async with quota_app(with_rules(limit("tpm", Limit.METRIC_TOKENS, 100_000))) as env:
        await chat(env)
        [sent] = [r for r in await env.recorded() if "chat" in r["path"]]
        body = sent["body"] if isinstance(sent["body"], dict) else orjson.loads(sent["body"])
        assert body["max_completion_tokens"] == DEFAULT_OUTPUT_BOUND


# ------------------------------------------------------------------ concurrency


async def test_concurrency_slot_is_freed_when_a_request_ends() -> None:
    async with quota_app(with_rules(limit("conc", Limit.METRIC_CONCURRENT_REQUESTS, 1))) as env:
        for _ in range(3):
            ok = await chat(env, max_tokens=5)
            assert ok.http_response.status_code == 200
        stream = await env.openai().chat.completions.create(
            model="gpt-4o-mini", messages=HI, max_tokens=5, stream=True
        )
        async for _ in stream:
            pass
        await env.sink.wait_for(4)
        assert all(c.used == 0 for c in env.table.current(time.time()))


# ------------------------------------------------------------------ budgets


async def test_spent_budget_is_402_insufficient_quota() -> None:
    # gpt-4o-mini here: $1/M in, $2/M out; 100 output tokens alone are 200 micro-USD.
    async with quota_app(with_rules(budget("daily", 150))) as env:
        with pytest.raises(openai.APIStatusError) as caught:
            await chat(env, max_tokens=100)
        err = caught.value
        assert err.status_code == 402
        body = err.body
        assert isinstance(body, dict)
        assert (body["type"], body["code"]) == ("insufficient_quota", "budget_exceeded")
        assert "workspaces/acme/budgets/daily" in body["message"] and "resets at" in body["message"]
        assert "Retry-After" not in err.response.headers
        [event] = await env.sink.wait_for(1)
        assert (event.policy_reason, event.http_status) == ("budget_exceeded", 402)
        ok = await chat(env, max_tokens=10)
        assert ok.http_response.status_code == 200


async def test_spent_budget_on_messages_is_an_anthropic_billing_error() -> None:
    async with quota_app(with_rules(budget("daily", 10))) as env:
        with pytest.raises(anthropic.APIStatusError) as caught:
            await env.anthropic().messages.create(
                model="claude-haiku-4-5", max_tokens=100, messages=HI
            )
        assert caught.value.status_code == 402
        body = caught.value.body
        assert isinstance(body, dict) and body["error"]["type"] == "billing_error"
        assert "budgets/daily" in body["error"]["message"]


async def test_unpriced_model_under_a_hard_budget_is_refused() -> None:
    async with quota_app(with_rules(budget("daily", 10**9))) as env:
        with pytest.raises(openai.PermissionDeniedError) as caught:
            await chat(env, model="gpt-3.5-unpriced", max_tokens=5)
        assert caught.value.body["code"] == "model_unpriced"  # type: ignore[index]
        [event] = await env.sink.wait_for(1)
        assert event.policy_reason == "model_unpriced"


async def test_soft_budget_never_refuses() -> None:
    soft = budget("soft", 1, enforcement=Budget.ENFORCEMENT_SOFT)
    async with quota_app(with_rules(soft)) as env:
        ok = await chat(env, max_tokens=100)
        assert ok.http_response.status_code == 200
        [event] = await env.sink.wait_for(1)
        assert (event.policy_reason, event.shadow_reason) == ("", "")


async def test_no_lease_yet_refuses_shared_counters() -> None:
    async with quota_app(with_rules(limit("rpm", Limit.METRIC_REQUESTS, 100)), lease=False) as env:
        with pytest.raises(openai.RateLimitError) as caught:
            await chat(env, max_tokens=5)
        assert caught.value.response.headers["Retry-After"] == "1"


async def test_metrics_show_quota_per_rule() -> None:
    async with quota_app(with_rules(limit("rpm", Limit.METRIC_REQUESTS, 1))) as env:
        await chat(env, max_tokens=5)
        with pytest.raises(openai.RateLimitError):
            await chat(env, max_tokens=5)
        async with env.http.get(env.base + "/metrics") as r:
            text = await r.text()
        rule = 'rule="workspaces/acme/limits/rpm"'
        assert f"oggy_quota_admitted_total{{{rule}}} 1.0" in text
        assert f"oggy_quota_limited_total{{{rule}}} 1.0" in text
        assert f"oggy_quota_held{{{rule}}} 1.0" in text
        assert "oggy_quota_fallback_active 0.0" in text
