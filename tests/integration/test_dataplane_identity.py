"""Actor identity end to end: real aiohttp app on port 0, signing keys in the snapshot,
the official `openai` SDK sending `X-Oggy-Actor`, usage events attributed to the actor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import jwt as pyjwt
import openai
import pytest
from aiohttp import web

from controlplane.devtools.mock_provider import STATE, MockState, start_mock_provider
from dataplane.config.holder import ConfigHolder
from dataplane.http import HttpOptions, create_app
from oggy.actor_token import mint_actor_token
from oggy.contract.compile import compile_snapshot
from oggy.contract.identity import ReplayCaches
from oggy.v1 import usage_pb2
from tests.support.identity_snapshot import ED, ES, HS, WS, actor, identity_snapshot, key_text

ALICE = actor("alice")


class ListSink:
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

    async def wait_for(self, n: int) -> list[usage_pb2.UsageEvent]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.events) >= n), 10)
        return self.events


@dataclass
class Env:
    base: str
    mock: MockState
    sink: ListSink
    http: aiohttp.ClientSession
    clients: list[openai.AsyncOpenAI] = field(default_factory=list)

    def client(self, key_id: str, **headers: str) -> openai.AsyncOpenAI:
        c = openai.AsyncOpenAI(
            base_url=self.base + "/v1",
            api_key=key_text(key_id),
            max_retries=0,
            default_headers=headers,
        )
        self.clients.append(c)
        return c


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    mock_runner, mock_port = await start_mock_provider()
    sink = ListSink()
    cfg = compile_snapshot(
        identity_snapshot(f"http://127.0.0.1:{mock_port}/v1"), replay_caches=ReplayCaches()
    )
    app = create_app(ConfigHolder(cfg), sink, HttpOptions(dataplane_id="dp-identity"))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    http = aiohttp.ClientSession()
    e = Env(f"http://127.0.0.1:{port}", mock_runner.app[STATE], sink, http)
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


def mint(key: object = ED, kid: str = "ed", subject: str = ALICE, **claims: str) -> str:
    return mint_actor_token(key, kid=kid, workspace=WS, subject=subject, **claims)  # type: ignore[arg-type]


async def test_sdk_token_attributes_the_event_to_the_actor(env: Env) -> None:
    token = mint(subject="bob", team="ops", app="search", env="prod", workflow="rerank")
    client = env.client("kws", **{"X-Oggy-Actor": token})
    completion = await client.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))
    assert completion.choices[0].message.content
    [ev] = await env.sink.wait_for(1)
    assert (ev.actor, ev.team, ev.app, ev.environment, ev.workflow) == (
        actor("bob"),
        actor("ops"),
        "search",
        "prod",
        "rerank",
    )
    assert (ev.http_status, ev.error_type, ev.policy_reason) == (200, "", "")
    # The token is the gateway's business: never forwarded upstream, never recorded.
    [forwarded] = env.mock.requests
    assert not any(token in v for v in forwarded["headers"].values())
    assert token not in str(ev)


@pytest.mark.parametrize(
    ("key", "kid", "alg"), [(ED, "ed", "EdDSA"), (ES, "es", "ES256"), (HS, "hs", "HS256")]
)
async def test_pyjwt_minted_token_is_verified(env: Env, key: object, kid: str, alg: str) -> None:
    now = int(time.time())
    token = pyjwt.encode(
        {"sub": "alice", "aud": "acme", "iat": now, "exp": now + 60, "team": "ml"},
        key,
        algorithm=alg,
        headers={"kid": kid},
    )
    client = env.client("kreq", **{"X-Oggy-Actor": token})
    await client.chat.completions.create(model="gpt-4o-mini", messages=user("hello"))
    [ev] = await env.sink.wait_for(1)
    assert (ev.actor, ev.team) == (ALICE, actor("ml"))


async def test_missing_required_token_is_401_actor_token_required(env: Env) -> None:
    client = env.client("kreq")
    with pytest.raises(openai.AuthenticationError) as info:
        await client.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))
    assert info.value.status_code == 401
    assert info.value.code == "actor_token_required"
    [ev] = await env.sink.wait_for(1)
    assert ev.policy_reason == ev.error_type == "actor_token_required"
    assert ev.key == f"{WS}/keys/kreq" and ev.actor == ""
    assert not env.mock.requests


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: mint(ttl_seconds=-120), "expired"),
        (lambda: mint(subject="nobody"), "unknown_actor"),
        (lambda: mint(subject="carol"), "actor_disabled"),
        (lambda: mint(kid="zz"), "unknown_kid"),
        (lambda: "garbage", "malformed"),
    ],
)
async def test_bad_token_is_401_actor_token_invalid(env: Env, token, reason: str) -> None:
    text = token()
    client = env.client("kws", **{"X-Oggy-Actor": text})
    with pytest.raises(openai.AuthenticationError) as info:
        await client.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))
    assert info.value.code == "actor_token_invalid"
    assert reason in info.value.message
    assert text not in info.value.message or text == "garbage"
    [ev] = await env.sink.wait_for(1)
    assert ev.policy_reason == ev.error_type == "actor_token_invalid"
    assert ev.http_status == 401 and ev.actor == ""


async def test_bound_key_refuses_a_token_for_another_actor(env: Env) -> None:
    client = env.client("kalice", **{"X-Oggy-Actor": mint(subject="bob")})
    with pytest.raises(openai.AuthenticationError) as info:
        await client.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))
    assert "actor_mismatch" in info.value.message
    [ev] = await env.sink.wait_for(1)
    assert ev.actor == ALICE and ev.policy_reason == "actor_token_invalid"


async def test_unsigned_headers_do_not_change_who_pays(env: Env) -> None:
    client = env.client(
        "kalice", **{"X-Oggy-User": actor("bob"), "X-Oggy-Team": actor("ops"), "X-Oggy-Tags": "a=b"}
    )
    await client.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))
    [ev] = await env.sink.wait_for(1)
    assert (ev.actor, ev.team, dict(ev.labels)) == (ALICE, actor("ml"), {})


async def test_labels_and_workflow_when_policy_allows(env: Env) -> None:
    client = env.client(
        "klabels",
        **{"X-Oggy-Tags": "feature=search, tier=gold, bad tag=x", "X-Oggy-Workflow": "etl"},
    )
    await client.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))
    [ev] = await env.sink.wait_for(1)
    assert dict(ev.labels) == {"feature": "search", "tier": "gold"}
    assert ev.workflow == "etl"


async def test_replayed_token_is_refused(env: Env) -> None:
    client = env.client("kreplay", **{"X-Oggy-Actor": mint(HS, "hs")})
    await client.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))
    with pytest.raises(openai.AuthenticationError) as info:
        await client.chat.completions.create(model="gpt-4o-mini", messages=user("again"))
    assert "replayed" in info.value.message
    events = await env.sink.wait_for(2)
    assert [e.policy_reason for e in events] == ["", "actor_token_invalid"]


async def test_shadow_policy_is_recorded_and_counted_never_enforced(env: Env) -> None:
    client = env.client("kshadow")
    await client.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))
    [ev] = await env.sink.wait_for(1)
    assert ev.http_status == 200
    assert ev.shadow_reason == "actor_token_required" and ev.policy_reason == ""
    async with env.http.get(env.base + "/metrics") as resp:
        text = await resp.text()
    assert 'oggy_shadow_denials_total{reason="actor_token_required"} 1' in text


async def test_cidr_key_refused_from_loopback_even_with_spoofed_xff(env: Env) -> None:
    client = env.client("kcidr", **{"X-Forwarded-For": "10.1.2.3"})
    with pytest.raises(openai.PermissionDeniedError) as info:
        await client.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))
    assert info.value.code == "ip_not_allowed"
    [ev] = await env.sink.wait_for(1)
    assert ev.client_ip == "127.0.0.1" and ev.policy_reason == "ip_not_allowed"


async def test_token_actor_policy_gates_a_workspace_key(env: Env) -> None:
    bob = env.client("kws", **{"X-Oggy-Actor": mint(subject="bob")})
    with pytest.raises(openai.PermissionDeniedError) as info:
        await bob.chat.completions.create(model="gpt-4o", messages=user("hi"))
    assert info.value.code == "model_not_allowed"
    alice = env.client("kws", **{"X-Oggy-Actor": mint()})
    await alice.chat.completions.create(model="gpt-4o", messages=user("hi"))
    events = await env.sink.wait_for(2)
    assert [(e.actor, e.policy_reason) for e in events] == [
        (actor("bob"), "model_not_allowed"),
        (ALICE, ""),
    ]


async def test_token_actor_trusted_proxy_is_believed_on_a_workspace_key(env: Env) -> None:
    # erin's policy: only 10.0.0.0/8, X-Forwarded-For believed from 127.0.0.0/8 (we are
    # the proxy on loopback). Her token on a workspace key brings both rules along.
    token = mint(subject="erin")
    through_proxy = env.client("kws", **{"X-Oggy-Actor": token, "X-Forwarded-For": "10.1.2.3"})
    await through_proxy.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))
    direct = env.client("kws", **{"X-Oggy-Actor": token})
    with pytest.raises(openai.PermissionDeniedError) as info:
        await direct.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))
    assert info.value.code == "ip_not_allowed"
    # The proxy is erin's to trust, not the workspace key's: others' XFF is not believed.
    others = env.client("kws", **{"X-Oggy-Actor": mint(), "X-Forwarded-For": "10.1.2.3"})
    await others.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))
    events = await env.sink.wait_for(3)
    assert [(e.actor, e.client_ip, e.http_status, e.policy_reason) for e in events] == [
        (actor("erin"), "10.1.2.3", 200, ""),
        (actor("erin"), "127.0.0.1", 403, "ip_not_allowed"),
        (ALICE, "127.0.0.1", 200, ""),
    ]
