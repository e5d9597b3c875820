"""A route alias is allowed or refused by the models it resolves to, never by its name.

The data plane runs on loopback against the mock provider, driven by the
`openai` SDK, with one key per policy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import openai
import pytest

from controlplane.devtools.mock_provider import start_mock_provider
from dataplane.config.holder import ConfigHolder
from dataplane.http import HttpOptions, create_app
from oggy.contract.compile import compile_snapshot
from oggy.contract.key_text import hash_secret
from oggy.v1 import (
    key_pb2,
    policy_pb2,
    provider_pb2,
    route_pb2,
    snapshot_pb2,
    workspace_pb2,
)
from tests.integration.test_dataplane_http import ListSink, serve

WS = "workspaces/acme"
SECRET = "Z" * 43
Kind = provider_pb2.ProviderCredential
# key id → the policy on it.
POLICIES = {
    "kallowmini000000": policy_pb2.Policy(allowed_models=["gpt-4o-mini"]),
    "kdenymini0000000": policy_pb2.Policy(denied_models=["gpt-4o-mini"]),
    "kallowalias00000": policy_pb2.Policy(allowed_models=["gpt-fast"]),
    "kdeny4o000000000": policy_pb2.Policy(denied_models=["gpt-4o"]),
}


def build_snapshot(mock: str) -> snapshot_pb2.Snapshot:
    s = snapshot_pb2.Snapshot(revision=1, workspaces=[workspace_pb2.Workspace(name=WS)])
    for key_id, policy in POLICIES.items():
        s.keys.add(
            key=key_pb2.GatewayKey(name=f"{WS}/keys/{key_id}", environment="live"),
            secret_sha256=hash_secret(SECRET),
        )
        p = s.policies.add()
        p.CopyFrom(policy)
        p.name, p.target = f"{WS}/policies/{key_id}", f"{WS}/keys/{key_id}"
    for name in ("a", "b"):
        s.providers.add(
            provider=Kind(
                name=f"{WS}/providers/{name}",
                kind=Kind.KIND_OPENAI,
                base_url=f"{mock}/v1",
                models=["gpt-4o", "gpt-4o-mini"],
            ),
            api_key=f"sk-{name}",
        )

    def target(provider: str, model: str) -> route_pb2.RouteTarget:
        return route_pb2.RouteTarget(provider=f"{WS}/providers/{provider}", model=model)

    s.routes.add(name=f"{WS}/routes/fast", model="gpt-fast", targets=[target("a", "gpt-4o-mini")])
    s.routes.add(
        name=f"{WS}/routes/sturdy",
        model="gpt-sturdy",
        targets=[target("a", "gpt-4o"), target("b", "gpt-4o-mini")],
    )
    return s


@dataclass
class Env:
    base: str
    mock: str
    http: aiohttp.ClientSession

    def client(self, key_id: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=self.base + "/v1", api_key=f"oggy_live_{key_id}_{SECRET}", max_retries=0
        )

    async def chat(self, key_id: str, model: str) -> str:
        """The model that served the request, or the error code."""
        async with self.client(key_id) as c:
            try:
                done = await c.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": "hi mock:words=1"}]
                )
            except openai.APIStatusError as e:
                return e.body["code"]  # type: ignore[index]
        return done.model

    async def listed(self, key_id: str) -> set[str]:
        async with self.client(key_id) as c:
            return {m.id async for m in c.models.list()}


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    mock_runner, port = await start_mock_provider()
    mock = f"http://127.0.0.1:{port}"
    options = HttpOptions(dataplane_id="dp-alias")
    runner, base = await serve(
        create_app(ConfigHolder(compile_snapshot(build_snapshot(mock))), ListSink(), options)
    )
    http = aiohttp.ClientSession()
    try:
        yield Env(base, mock, http)
    finally:
        await http.close()
        await runner.cleanup()
        await mock_runner.cleanup()


async def test_an_alias_of_an_allowed_model_is_allowed(env: Env) -> None:
    assert await env.chat("kallowmini000000", "gpt-fast") == "gpt-4o-mini"
    assert await env.chat("kallowmini000000", "gpt-4o") == "model_not_allowed"
    assert "gpt-fast" in await env.listed("kallowmini000000")


async def test_an_alias_never_opens_a_refused_model(env: Env) -> None:
    assert await env.chat("kdenymini0000000", "gpt-fast") == "model_not_allowed"
    assert "gpt-fast" not in await env.listed("kdenymini0000000")
    # Allowing the alias's name is not allowing what it routes to.
    assert await env.chat("kallowalias00000", "gpt-fast") == "model_not_allowed"


async def test_targets_under_a_refused_model_are_skipped(env: Env) -> None:
    # gpt-sturdy → a/gpt-4o, then b/gpt-4o-mini: the first is refused, the second serves.
    assert await env.chat("kdeny4o000000000", "gpt-sturdy") == "gpt-4o-mini"
    async with env.http.get(env.mock + "/_mock/requests") as r:
        [req] = await r.json()
    assert req["body"]["model"] == "gpt-4o-mini"


async def test_a_passthrough_request_for_an_alias_goes_up_as_its_target_model(env: Env) -> None:
    # Any other `/v1/*` path naming a model: the body reaches the provider with the model
    # the alias resolves to, never the alias (which the provider does not know).
    headers = {"Authorization": f"Bearer oggy_live_kallowmini000000_{SECRET}"}
    body = {"model": "gpt-fast", "input": "hi", "extra": [1, 2]}
    async with env.http.post(env.base + "/v1/moderations", json=body, headers=headers) as r:
        assert r.status < 500, await r.text()
    async with env.http.get(env.mock + "/_mock/requests") as r:
        [req] = await r.json()
    assert req["path"].endswith("/v1/moderations")
    assert req["body"] == {**body, "model": "gpt-4o-mini"}
