"""Prompt metadata and FULL prompt logging through the real data plane HTTP app.

The guarantee under test: nothing unredacted is ever written to disk. Requests
carrying secrets go through the app with a FULL-logging policy; the usage
reporter (control plane unreachable) spools the events; the spool's bytes hold
none of the secrets, while the redacted text is there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
import pytest
from google.protobuf.duration_pb2 import Duration

from controlplane.devtools.mock_provider import start_mock_provider
from controlplane.devtools.mock_script import DEFAULT_WORDS, reply_words
from dataplane.backoff import Backoff
from dataplane.config.holder import ConfigHolder
from dataplane.http import create_app
from dataplane.settings import Settings
from dataplane.usage.reporter import UsageReporter
from dataplane.usage.spool import Spool
from oggy.actor_token import mint_actor_token
from oggy.contract.compile import compile_snapshot
from oggy.contract.identity import ACTOR_HEADER, ReplayCaches
from oggy.v1 import policy_pb2, usage_pb2
from tests.integration.dataplane_fakes import TOKEN, free_port
from tests.integration.test_dataplane_http import KEY, OPTIONS, WS, ListSink, build_snapshot, serve
from tests.support.identity_snapshot import ED, actor, identity_snapshot, key_text
from tests.support.identity_snapshot import WS as ID_WS

P = policy_pb2.Policy
EMAIL = "ceo.private@bigcorp.example"
CARD = "4539 1488 0343 6467"  # Luhn-valid
API_KEY = "sk-proj-Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0Lz"
KEY_BODY = "MIIEowIBAAKCAQEAx7fJ3kP9qWm2vLrT8yZbN4cD5eF6gH7iJ8kL9mN0oP1qR2sT"
PRIVATE_KEY = f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\nabc==\n-----END RSA PRIVATE KEY-----"
EMPLOYEE = "EMP-424242"
SECRETS = [EMAIL, CARD, CARD.replace(" ", ""), API_KEY, KEY_BODY, EMPLOYEE]


def messages(extra: str = "") -> list[dict[str, str]]:
    return [
        {"role": "system", "content": f"Escalate to {EMAIL}. Badge {EMPLOYEE}."},
        {"role": "user", "content": f"card {CARD}, key {API_KEY}\n{PRIVATE_KEY}\n{extra}"},
    ]


@dataclass
class Env:
    base: str
    http: aiohttp.ClientSession

    async def chat(self, body: dict) -> tuple[int, bytes]:
        async with self.http.post(
            self.base + "/v1/chat/completions",
            data=orjson.dumps(body),
            headers={"Authorization": f"Bearer {KEY}"},
        ) as resp:
            return resp.status, await resp.read()


def snapshot_with(policy: P | None, upstream_url: str):
    snap = build_snapshot(upstream_url)
    if policy is not None:
        snap.policies.append(policy)
    return snap


FULL = P(
    name=f"{WS}/policies/full",
    target=WS,
    prompt_logging=P.PROMPT_LOGGING_FULL,
    prompt_retention=Duration(seconds=3600),
    redaction_rules=[policy_pb2.RedactionRule(name="employee", pattern=r"\bEMP-\d{6}\b")],
)


async def _env(sink, policy: P | None) -> AsyncIterator[Env]:
    mock, mock_port = await start_mock_provider()
    holder = ConfigHolder(compile_snapshot(snapshot_with(policy, f"http://127.0.0.1:{mock_port}")))
    runner, base = await serve(create_app(holder, sink, OPTIONS))
    http = aiohttp.ClientSession()
    try:
        yield Env(base, http)
    finally:
        await http.close()
        await mock.cleanup()
        await runner.cleanup()


@pytest.fixture
async def metadata_env() -> AsyncIterator[tuple[Env, ListSink]]:
    sink = ListSink()
    async for env in _env(sink, None):
        yield env, sink


async def test_metadata_on_every_event(metadata_env: tuple[Env, ListSink]) -> None:
    env, sink = metadata_env
    body = {
        "model": "gpt-4o-mini",
        "messages": messages(),
        "max_tokens": 64,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
    }
    status, reply = await env.chat(body)
    assert status == 200
    status, streamed = await env.chat({**body, "stream": True, "messages": messages("mock:split")})
    assert status == 200
    status, _ = await env.chat({**body, "model": "gpt-4o-secret"})  # denied by policy
    assert status == 403
    plain, stream, denied = await sink.wait_for(3)
    for ev in (plain, stream, denied):
        assert ev.prompt.message_count == 2
        assert ev.prompt.requested_max_tokens == 64
        assert ev.prompt.tool_count == 1
        assert ev.prompt.request_bytes > 0
        assert ev.prompt.context_tokens > 0
        assert not ev.HasField("prompt_text")
    assert plain.prompt.response_bytes == len(reply)
    assert plain.prompt.finish_reason == "stop"
    assert plain.prompt.context_tokens == plain.prompt_tokens
    assert stream.prompt.finish_reason == "stop"
    assert stream.prompt.response_bytes >= len(streamed)  # upstream bytes incl. usage chunk
    assert denied.prompt.response_bytes == 0 and denied.prompt.finish_reason == ""


def spooling_reporter(spool_dir: Path) -> UsageReporter:
    """A usage reporter whose control plane is never there: every event stays spooled."""
    return UsageReporter(
        Settings(
            control_plane=f"127.0.0.1:{free_port()}",
            node_token=TOKEN,
            node_id="dp-test",
            spool_dir=spool_dir,
        ),
        backoff=Backoff(0.01, 0.05),
    )


async def test_full_logging_spools_only_redacted_text(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    reporter = spooling_reporter(spool_dir)
    await reporter.start()
    try:
        async for env in _env(reporter, FULL):
            body = {"model": "gpt-4o-mini", "messages": messages()}
            assert (await env.chat(body))[0] == 200
            stream_body = {**body, "stream": True, "messages": messages("mock:split")}
            assert (await env.chat(stream_body))[0] == 200
    finally:
        await reporter.stop(grace_s=0.1)

    on_disk = b"".join(p.read_bytes() for p in sorted(spool_dir.glob("*.seg")))
    assert on_disk, "the events should be spooled"
    for secret in SECRETS:
        assert secret.encode() not in on_disk, secret

    spool = Spool(spool_dir)
    events: list[usage_pb2.UsageEvent] = [
        ev for ref in spool.recover() for ev in spool.read(ref).events
    ]
    spool.close()
    assert len(events) == 2
    for ev in events:
        text = ev.prompt_text.request_text
        assert text.startswith("system: Escalate to [EMAIL]. Badge [CUSTOM:employee].\n")
        assert "[CARD]" in text and "[API_KEY]" in text and "[PRIVATE_KEY]" in text
        assert ev.prompt_text.response_text == " ".join(reply_words(DEFAULT_WORDS))
        assert dict(ev.prompt_text.redactions) == {
            "EMAIL": 1,
            "CARD": 1,
            "API_KEY": 1,
            "PRIVATE_KEY": 1,
            "CUSTOM:employee": 1,
        }
        expire = ev.prompt_text.expire_time.seconds - ev.start_time.seconds
        assert 3600 <= expire <= 3600 + 60
        assert ev.prompt.finish_reason == "stop"


async def test_a_token_actors_team_turns_logging_off_on_a_workspace_key(tmp_path: Path) -> None:
    """Workspace key `kws` logs FULL; team ml (alice's) says OFF. alice's request via a
    token on kws stores no prompt text (the team's policy gates it, as it would on a
    key bound to her); bob's, on the same key, is logged as the key says."""
    spool_dir = tmp_path / "spool"
    reporter = spooling_reporter(spool_dir)
    mock, mock_port = await start_mock_provider()
    snapshot = identity_snapshot(
        f"http://127.0.0.1:{mock_port}/v1",
        extra_policies=[
            P(
                name=f"{ID_WS}/policies/kws-full",
                target=f"{ID_WS}/keys/kws",
                prompt_logging=P.PROMPT_LOGGING_FULL,
            ),
            P(
                name=f"{ID_WS}/policies/ml-off",
                target=actor("ml"),
                prompt_logging=P.PROMPT_LOGGING_OFF,
            ),
        ],
    )
    holder = ConfigHolder(compile_snapshot(snapshot, replay_caches=ReplayCaches()))
    await reporter.start()
    runner, base = await serve(create_app(holder, reporter, OPTIONS))
    try:
        async with aiohttp.ClientSession() as http:
            for subject in ("alice", "bob"):
                token = mint_actor_token(ED, kid="ed", workspace=ID_WS, subject=actor(subject))
                body = {"model": "gpt-4o-mini", "messages": messages(f"said by {subject}")}
                headers = {"Authorization": f"Bearer {key_text('kws')}", ACTOR_HEADER: token}
                async with http.post(
                    base + "/v1/chat/completions", data=orjson.dumps(body), headers=headers
                ) as resp:
                    assert resp.status == 200, await resp.text()
    finally:
        await runner.cleanup()
        await mock.cleanup()
        await reporter.stop(grace_s=0.1)

    on_disk = b"".join(p.read_bytes() for p in sorted(spool_dir.glob("*.seg")))
    assert b"said by alice" not in on_disk
    assert b"said by bob" in on_disk
    spool = Spool(spool_dir)
    events = {ev.actor: ev for ref in spool.recover() for ev in spool.read(ref).events}
    spool.close()
    alice, bob = events[actor("alice")], events[actor("bob")]
    assert not alice.HasField("prompt_text")
    assert alice.prompt.message_count == 2 and alice.prompt.finish_reason == ""  # OFF
    assert "said by bob" in bob.prompt_text.request_text
